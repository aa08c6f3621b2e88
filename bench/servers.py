"""Which production server: scenario 1 (GET /api/v1/items?limit=20, the catalog cache off, as
in bench/run.py) served by uvicorn with 1 and 2 workers, gunicorn with 2 uvicorn workers, and
granian with 1 and 2 workers, one run.

    .venv/bin/python bench/servers.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import asdict
from pathlib import Path

from harness import BIN, HEADER, ROOT, Result, Server, free_port, run_wrk, save, uvicorn_server
from seed import POSTGRES, drop_database, prepare, server_env

PATH = "/api/v1/items?limit=20"


def servers(env: dict[str, str], folder: Path) -> dict[str, object]:
    def gunicorn(workers: int) -> Server:
        port = free_port()
        args = [
            str(BIN / "gunicorn"),
            "apps:full()",
            "--chdir",
            str(ROOT / "bench"),
            "-k",
            "uvicorn_worker.UvicornWorker",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ]
        return Server(args, env=env, port=port, log=folder / f"gunicorn-{workers}.log")

    def granian(workers: int) -> Server:
        port = free_port()
        args = [
            str(BIN / "granian"),
            "--interface",
            "asgi",
            "--factory",
            "apps:full",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        return Server(
            args,
            env={**env, "PYTHONPATH": str(ROOT / "bench")},
            port=port,
            log=folder / f"granian-{workers}.log",
        )

    return {
        "uvicorn, 1 worker": lambda: uvicorn_server("apps:full", env=env, log=folder / "u1.log"),
        "uvicorn, 2 workers": lambda: uvicorn_server(
            "apps:full", env=env, log=folder / "u2.log", workers=2
        ),
        "gunicorn + uvicorn workers, 2": lambda: gunicorn(2),
        "granian, 1 worker": lambda: granian(1),
        "granian, 2 workers": lambda: granian(2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument(
        "--postgres",
        default=POSTGRES,
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="orderly-servers-"))
    seeded = prepare(args.postgres)
    env = {
        **server_env(seeded),
        "ORDERLY_DATABASE_POOL_SIZE": "5",  # per worker process
        "ORDERLY_CATALOG_CACHE_ENABLED": "false",  # the application's work, not the cache's
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="orderly-metrics-"),
    }
    results: dict[str, Result] = {}
    print(HEADER)
    try:
        for name, start in servers(env, folder).items():
            server = start()  # type: ignore[operator]
            try:
                server.wait_ready()
                run_wrk("warm-up", server.base + PATH, seconds=3)
                results[name] = run_wrk(name, server.base + PATH, seconds=args.seconds)
                print(results[name].row(), flush=True)
            finally:
                server.stop()
    finally:
        asyncio.run(drop_database(args.postgres, seeded.url))
    best = max(results.values(), key=lambda r: r.rps)
    base = results["uvicorn, 1 worker"].rps
    for name, result in results.items():
        print(f"{name:<34} {result.rps / base:5.2f} x uvicorn with 1 worker")
    print(f"\nfastest here: {best.name}")
    save(
        "servers",
        {
            "path": PATH,
            "seconds": args.seconds,
            "runs": {k: asdict(v) for k, v in results.items()},
            "fastest": best.name,
        },
    )


if __name__ == "__main__":
    main()
