"""What the middleware stack costs: GET /api/v1/items?limit=20 with and without it, one run.

    .venv/bin/python bench/middleware.py [--seconds 10]

Both variants are the same code, settings and database (a seeded SQLite file, or
ORDERLY_DATABASE_URL if set); only ``create_app(..., middleware=False)`` differs. The
catalog cache is off in both: it is one of the middlewares, and with it the full stack would
answer from memory what the bare routes compute (``bench/catalog.py`` measures the cache).
Runs alternate (full, bare, full, bare) so drift on a shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from dataclasses import asdict
from pathlib import Path

from harness import BIN, HEADER, ROOT, Result, run_wrk, save, uvicorn_server

PATH = "/api/v1/items?limit=20"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="orderly-bench-"))
    env = {
        "ORDERLY_ENVIRONMENT": "development",
        "ORDERLY_DATABASE_URL": os.environ.get(
            "ORDERLY_DATABASE_URL", f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        ),
        "ORDERLY_LOG_JSON": "true",
        "ORDERLY_RATE_LIMIT_ENABLED": "false",
        "ORDERLY_CATALOG_CACHE_ENABLED": "false",
    }
    subprocess.run(
        [str(BIN / "orderly"), "migrate"], env={**os.environ, **env}, check=True, cwd=ROOT
    )
    subprocess.run([str(BIN / "orderly"), "seed"], env={**os.environ, **env}, check=True, cwd=ROOT)

    results: dict[str, list[Result]] = {"full": [], "bare": []}
    for round_ in range(2):
        for variant in ("full", "bare"):
            server = uvicorn_server(f"apps:{variant}", env=env, log=workdir / f"{variant}.log")
            try:
                server.wait_ready()
                run_wrk("warm-up", server.base + PATH, seconds=args.warmup)
                name = f"{variant} (round {round_ + 1})"
                results[variant].append(run_wrk(name, server.base + PATH, seconds=args.seconds))
            finally:
                server.stop()

    print(HEADER)
    for variant in ("full", "bare"):
        for result in results[variant]:
            print(result.row())
    full = sum(r.rps for r in results["full"]) / len(results["full"])
    bare = sum(r.rps for r in results["bare"]) / len(results["bare"])
    print(f"\nGET {PATH}: with middleware {full:.0f} req/s, without {bare:.0f} req/s")
    print(f"ratio with/without middleware: {full / bare:.3f}")
    save(
        "middleware",
        {
            "path": PATH,
            "connections": 32,
            "seconds": args.seconds,
            "with_middleware_rps": round(full, 1),
            "without_middleware_rps": round(bare, 1),
            "ratio": round(full / bare, 3),
            "runs": [asdict(r) for rs in results.values() for r in rs],
        },
    )


if __name__ == "__main__":
    main()
