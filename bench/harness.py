"""What every benchmark here shares: servers as real processes, wrk as the load generator.

Everything targets 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    return out.stdout.strip() or "unknown"


def save(kind: str, payload: dict[str, object]) -> Path:
    """Write ``bench/results/<date>-<commit>-<kind>.json`` and say where."""
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    target = ROOT / "bench" / "results" / f"{today}-{commit()}-{kind}.json"
    document = {
        "date": today,
        "commit": commit(),
        "cores": os.cpu_count(),
        "kind": kind,
        **payload,
    }
    target.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {target.relative_to(ROOT)}")
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_wrk() -> str:
    """wrk from Debian's package; installed here when missing (the bench needs root then)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: installing Debian's package", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, timeout=300)  # noqa: S607
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed")
    return found


class Server:
    """A uvicorn (or other) server process, started and stopped by the benchmark."""

    def __init__(
        self, args: list[str], *, env: dict[str, str], port: int, log: Path, cwd: Path = ROOT
    ) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                args, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=out
            )

    def wait_ready(self, path: str = "/health/live", timeout: float = 60.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.base + path, timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"server not ready after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def _pids(self) -> list[int]:
        """The process and its children (a pre-fork server's or worker's pool)."""
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        return pids

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the process and its children have used so far."""
        total = 0
        for pid in self._pids():
            stat = Path(f"/proc/{pid}/stat")
            if stat.exists():
                fields = stat.read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (after the name)
        return total / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        """Resident memory of the server and its children, in MB."""
        total = 0
        for pid in self._pids():
            status = Path(f"/proc/{pid}/status")
            if status.exists():
                match = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
                total += int(match.group(1)) if match else 0
        return total / 1024

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def uvicorn_server(
    factory: str, *, env: dict[str, str], log: Path, workers: int = 1, app_dir: str = "bench"
) -> Server:
    port = free_port()
    args = [
        str(BIN / "uvicorn"),
        factory,
        "--factory",
        "--app-dir",
        app_dir,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return Server(args, env=env, port=port, log=log)


@dataclass(frozen=True)
class Result:
    name: str
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    requests: int

    def row(self) -> str:
        return (
            f"{self.name:<44} {self.rps:>10.0f} {self.p50_ms:>8.2f} {self.p95_ms:>8.2f} "
            f"{self.p99_ms:>8.2f} {self.errors:>7}"
        )


HEADER = f"{'scenario':<44} {'req/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}"

_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNIT[match.group(2)]


def run_wrk(
    name: str,
    url: str,
    *,
    seconds: int,
    connections: int = 32,
    threads: int = 2,
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    """wrk with a percentile report (a Lua ``done`` hook prints p50/p95/p99 and errors)."""
    reporter = script or ROOT / "bench" / "wrk" / "report.lua"
    args = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(reporter),
        url,
    ]
    out = subprocess.run(
        args,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
        env={**os.environ, **(env or {})},
    ).stdout
    stats = dict(re.findall(r"^@(\w+)=(\S+)$", out, re.MULTILINE))
    if "rps" not in stats:
        raise SystemExit(f"wrk printed no report:\n{out}")
    return Result(
        name=name,
        rps=float(stats["rps"]),
        p50_ms=float(stats["p50"]) / 1000,
        p95_ms=float(stats["p95"]) / 1000,
        p99_ms=float(stats["p99"]) / 1000,
        errors=int(stats["errors"]),
        requests=int(stats["requests"]),
    )
