"""Real processes for end-to-end tests: start, wait until they answer, stop; bounded waits."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

ORDERLY = Path(sys.executable).with_name("orderly")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**overrides: str) -> dict[str, str]:
    """This environment without any ORDERLY_* setting of the developer's, plus overrides."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ORDERLY_")}
    env.update(overrides)
    return env


class Process:
    def __init__(
        self,
        args: list[str],
        *,
        workdir: Path,
        env: dict[str, str],
        port: int = 0,
        ready_path: str = "/",
    ) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.ready_url = self.base + ready_path
        label = "-".join(Path(arg).stem for arg in args[:2])
        self.log = workdir / f"{label}-{port or uuid.uuid4().hex[:6]}.log"
        with self.log.open("ab") as log:
            # its own process group, so a test can kill it with all its children
            self.process = subprocess.Popen(  # noqa: S603 - our own entry points
                args, cwd=workdir, env=env, stdout=log, stderr=log, start_new_session=True
            )

    def kill_group(self) -> None:
        """SIGKILL the process and its children: no shutdown, no acknowledgements."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.ready_url}: process exited:\n{self.log.read_text()}")
            try:
                if httpx.get(self.ready_url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"{self.ready_url} not ready after {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_orderly(workdir: Path, **settings: str) -> Process:
    port = free_port()
    env = clean_env(ORDERLY_PORT=str(port), **settings)
    server = Process(
        [str(ORDERLY), "serve"], workdir=workdir, env=env, port=port, ready_path="/health/ready"
    )
    server.wait_ready()
    return server


def start_fake_provider(workdir: Path, *extra: str) -> Process:
    port = free_port()
    provider = Process(
        [str(ORDERLY), "fake-provider", "--port", str(port), *extra],
        workdir=workdir,
        env=clean_env(),
        port=port,
        ready_path="/_health",
    )
    provider.wait_ready()
    return provider
