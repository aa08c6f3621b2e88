"""An SMTP sink for end-to-end tests: a real SMTP server (aiosmtpd) that stores every message
it receives as a .eml file in a folder.

    python tests/smtp_sink.py --port 8025 --dir /tmp/mail
"""

from __future__ import annotations

import argparse
import signal
import threading
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        target = self.folder / f"{uuid.uuid4().hex}.eml"
        target.write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(SaveToFolder(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    print(f"SMTP sink on 127.0.0.1:{args.port}, writing to {args.dir}", flush=True)
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
