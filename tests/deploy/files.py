"""What the deploy files say: their variables, commands and manifests, read for the tests."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "orderly.env.example"
K8S = DEPLOY / "k8s"
# the orderly image's services in compose (the others are PostgreSQL and Redis)
OTHER_IMAGES = ("postgres:", "redis:")


def manifest_paths() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def manifests() -> list[dict[str, Any]]:
    return [doc for path in manifest_paths() for doc in yaml.safe_load_all(path.read_text())]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests() if doc["kind"] == kind]


def pod_specs() -> dict[str, dict[str, Any]]:
    """Every pod template (Deployments and Jobs) by workload name."""
    return {
        doc["metadata"]["name"]: doc["spec"]["template"]["spec"]
        for doc in manifests()
        if doc["kind"] in {"Deployment", "Job"}
    }


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def orderly_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if not str(service.get("image", "")).startswith(OTHER_IMAGES)
    }


def env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


@dataclass
class Dockerfile:
    env: dict[str, str]
    entrypoint: list[str]
    cmd: list[str]


def dockerfile() -> Dockerfile:
    """ENV, ENTRYPOINT and CMD of the final stage (continuation lines joined)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    stages = text.split("\nFROM ")
    env: dict[str, str] = {}
    exec_forms: dict[str, list[str]] = {}
    for line in stages[-1].splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = value
        elif instruction in {"ENTRYPOINT", "CMD"}:
            exec_forms[instruction] = yaml.safe_load(rest)
    return Dockerfile(env, exec_forms["ENTRYPOINT"], exec_forms["CMD"])
