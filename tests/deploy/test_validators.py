"""The deploy files pass the validators operators use (offline, from the package registry):
hadolint for the Dockerfile, the compose-spec schema, the Kubernetes 1.37 schemas in strict
mode. Each validator is also shown a broken copy, so a validator that checks nothing fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.files import COMPOSE, DOCKERFILE, K8S, manifest_paths

BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.37"


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the validators installed with the dev dependencies
        [str(arg) for arg in args], capture_output=True, text=True, timeout=120, check=False
    )


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return _run(BIN / "hadolint", "--failure-threshold", "warning", path)


def compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return _run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", path)


def kubernetes(*paths: Path) -> subprocess.CompletedProcess[str]:
    return _run(BIN / "kubernetes-validate", "--strict", "-k", KUBERNETES_VERSION, *paths)


def _broken(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    text = source.read_text()
    assert old in text, f"{old!r} not in {source}"
    copy = tmp_path / source.name
    copy.write_text(text.replace(old, new, 1))
    return copy


def test_the_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    checked = hadolint(DOCKERFILE)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # a root user and an unpinned image are findings
    broken = _broken(tmp_path, DOCKERFILE, "USER 10001:10001", "USER root")
    broken.write_text(broken.read_text().replace("uv:0.13.8", "uv:latest"))
    refused = hadolint(broken)
    assert refused.returncode != 0
    assert "DL3002" in refused.stdout  # last USER should not be root
    assert "DL3007" in refused.stdout  # :latest


def test_the_compose_file_matches_the_compose_spec(tmp_path: Path) -> None:
    checked = compose_schema(COMPOSE)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    refused = compose_schema(_broken(tmp_path, COMPOSE, "stop_grace_period:", "stop_grace:"))
    assert refused.returncode != 0
    assert "stop_grace" in refused.stdout


@pytest.mark.parametrize("path", manifest_paths(), ids=lambda p: str(p.relative_to(K8S)))
def test_each_manifest_matches_the_kubernetes_schemas(path: Path) -> None:
    checked = kubernetes(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "passed" in checked.stdout + checked.stderr


def test_strict_validation_refuses_an_unknown_field(tmp_path: Path) -> None:
    broken = _broken(tmp_path, K8S / "api-deployment.yaml", "readinessProbe:", "readinessProbes:")
    refused = kubernetes(broken)
    assert refused.returncode != 0
    assert "readinessProbes" in refused.stdout + refused.stderr
