"""gunicorn with uvicorn workers, configured from orderly's settings (ORDERLY_* variables).

    pip install "orderly[gunicorn]"   # gunicorn + uvicorn-worker; the image runs `orderly serve`
    gunicorn -c deploy/gunicorn.conf.py

Pick it over `orderly serve --workers N` when you want a supervisor that restarts a worker
that died. Workers: ORDERLY_WORKERS, else one per CPU. SIGTERM drains in-flight requests for
ORDERLY_SHUTDOWN_TIMEOUT seconds. X-Forwarded-For/-Proto are believed only from
ORDERLY_FORWARDED_ALLOW_IPS. Check it with `gunicorn --check-config -c deploy/gunicorn.conf.py`.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from orderly.core.config import Settings

settings = Settings()

wsgi_app = "orderly.main:create_app()"
worker_class = "uvicorn_worker.UvicornWorker"
host = f"[{settings.host}]" if ":" in settings.host else settings.host  # IPv6 in brackets
bind = [f"{host}:{settings.port}"]
workers = settings.workers or os.cpu_count() or 1
graceful_timeout = int(settings.shutdown_timeout)
timeout = 60  # a worker silent this long (a stuck event loop) is killed and replaced
keepalive = 5
forwarded_allow_ips = ",".join(settings.forwarded_allow_ips)
# orderly logs one line per request itself, and its errors through structlog
accesslog = None
errorlog = "-"
loglevel = settings.log_level.lower()
# gunicorn >= 25 opens a control socket under $HOME; pods have a read-only root filesystem
control_socket_disable = True

if workers > 1 and settings.metrics_enabled and not settings.prometheus_multiproc_dir:
    # Several workers: prometheus_client keeps each one's numbers in files here and
    # /metrics sums them. Set before the workers start; they inherit it.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="orderly-metrics-")


def child_exit(server: Any, worker: Any) -> None:
    """A worker's live gauges leave the sum once it is gone (prometheus_client's multiprocess
    mode; a no-op without the directory)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
