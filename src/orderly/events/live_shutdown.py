"""Open live streams end as soon as the process is asked to stop.

uvicorn (and gunicorn's uvicorn worker) run the lifespan's shutdown only after every
connection has finished or ``timeout_graceful_shutdown`` has passed, and close WebSockets
with 1012 themselves: a stream that waits for the lifespan would hold the shutdown for the
whole timeout, then be cut off without a reason. So the lifespan chains a handler in front of
the server's SIGTERM / SIGINT handler that tells the hub first (SSE streams send their retry
hint and ``closing``, WebSockets close with 4503), then lets the server go on as before.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType

from orderly.events.live import LiveHub

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def close_on_exit_signals(hub: LiveHub) -> Callable[[], None]:
    """Install the chained handlers; returns what puts the previous ones back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals reach the main thread only; the lifespan closes them
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in EXIT_SIGNALS}

    def on_exit(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(hub.close_all)
        handler = previous[signal.Signals(sig)]
        if callable(handler):
            handler(sig, frame)
        elif handler == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    for sig in EXIT_SIGNALS:
        signal.signal(sig, on_exit)

    def restore() -> None:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is on_exit and handler is not None:
                signal.signal(sig, handler)

    return restore
