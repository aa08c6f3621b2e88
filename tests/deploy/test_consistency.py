"""The deploy files agree with the program: every ORDERLY_* variable they set is a setting,
every command they run parses as the CLI's, secrets travel as files only, and what they
configure loads as valid production settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core
import typer.main
import yaml

from orderly.cli import app as cli
from orderly.core.config import Settings, secret_settings
from orderly.core.crypto import new_key
from orderly.jobs.celery_app import QUEUES
from tests.deploy.files import (
    COMPOSE,
    ENV_EXAMPLE,
    K8S,
    compose,
    dockerfile,
    env_file,
    manifest_paths,
    of_kind,
    orderly_services,
    pod_specs,
)

KNOWN = {f"ORDERLY_{name.upper()}" for name in Settings.model_fields} | {"PROMETHEUS_MULTIPROC_DIR"}


def _containers() -> list[dict[str, Any]]:
    return [c for spec in pod_specs().values() for c in spec["containers"]]


def plain_environment() -> dict[str, dict[str, str]]:
    """Variables the files set in the clear, by where they are set."""
    found = {
        "Dockerfile": dockerfile().env,
        ENV_EXAMPLE.name: env_file(ENV_EXAMPLE),
        "k8s ConfigMap": of_kind("ConfigMap")[0]["data"],
    }
    for name, service in orderly_services().items():
        found[f"compose {name}"] = dict(service.get("environment", {}))
    for container in _containers():
        found[f"k8s {container['name']}"] = {
            e["name"]: e["value"] for e in container.get("env", [])
        }
    return found


def secret_names() -> dict[str, set[str]]:
    """Variables the files deliver as secret files."""
    [template] = of_kind("Secret")
    return {
        "compose secrets": {s.upper() for s in compose()["secrets"] if s.startswith("orderly_")},
        "k8s Secret": set(template["stringData"]),
    }


def test_every_variable_is_a_setting() -> None:
    for where, variables in {**plain_environment(), **secret_names()}.items():
        unknown = {v for v in variables if v.startswith(("ORDERLY_", "PROMETHEUS"))} - KNOWN
        assert not unknown, f"{where} sets variables orderly does not read: {unknown}"


def test_secrets_travel_as_files_only() -> None:
    secret = set(secret_settings())
    for where, variables in plain_environment().items():
        assert not secret & set(variables), f"{where} sets a secret in the environment"
    for where, names in secret_names().items():
        assert names <= secret, f"{where} holds settings that are not secret: {names - secret}"
        assert {"ORDERLY_SECRET_KEY", "ORDERLY_DATA_KEYS", "ORDERLY_DATABASE_URL",
                "ORDERLY_PAYMENT_API_KEY", "ORDERLY_BROKER_URL"} <= names, where  # fmt: skip


def test_the_secrets_directory_is_where_the_secrets_are_mounted() -> None:
    assert env_file(ENV_EXAMPLE)["ORDERLY_SECRETS_DIR"] == "/run/secrets"  # Docker's place
    for name, service in orderly_services().items():
        assert set(service.get("secrets", [])) >= {"orderly_secret_key"}, name
    directory = of_kind("ConfigMap")[0]["data"]["ORDERLY_SECRETS_DIR"]
    for workload, spec in pod_specs().items():
        secret_volumes = {v["name"] for v in spec["volumes"] if "secret" in v}
        for container in spec["containers"]:
            mounts = {m["mountPath"] for m in container["volumeMounts"]
                      if m["name"] in secret_volumes}  # fmt: skip
            assert mounts == {directory}, workload


def _parses(args: list[str]) -> dict[str, Any]:
    """Parse ``orderly ARGS`` as the CLI would, without running the command: its options."""
    group = typer.main.get_command(cli)
    assert isinstance(group, typer.core.TyperGroup)  # orderly has several commands
    name, *rest = args
    command = group.get_command(typer.Context(group), name)
    assert command is not None, f"orderly has no command {name!r}"
    options: dict[str, Any] = command.make_context(name, list(rest)).params
    return options


def commands() -> dict[str, list[str]]:
    image = dockerfile()
    assert image.entrypoint == ["orderly"]
    found = {"Dockerfile CMD": image.cmd}
    for name, service in orderly_services().items():
        found[f"compose {name}"] = service["command"]
    for container in _containers():
        assert container["image"] == "orderly"
        found[f"k8s {container['name']}"] = container["args"]
    return found


def test_every_command_is_the_cli_s() -> None:
    run = commands()
    assert {args[0] for args in run.values()} >= {"serve", "worker", "relay", "beat", "migrate"}
    for where, args in run.items():
        try:
            _parses(args)
        except typer.TyperException as error:  # what click raises: unknown option, bad value
            pytest.fail(f"{where}: orderly {' '.join(args)}: {error}")


def test_the_workers_consume_every_queue() -> None:
    for where in ("compose", "k8s"):
        workers = [args for place, args in commands().items()
                   if place.startswith(where) and args[0] == "worker"]  # fmt: skip
        assert workers, where
        consumed = {q for args in workers for q in _parses(args)["queues"].split(",")}
        assert consumed == set(QUEUES), where


def test_a_wrong_command_or_option_is_caught() -> None:
    with pytest.raises(AssertionError, match="no command"):
        _parses(["wroker"])
    with pytest.raises(typer.TyperException, match="--queue"):
        _parses(["worker", "--queue", "payments"])
    with pytest.raises(typer.TyperException, match="not in the range"):
        _parses(["worker", "--concurrency", "0"])


def _production(
    variables: dict[str, str], monkeypatch: pytest.MonkeyPatch, secrets: Path
) -> Settings:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None, _secrets_dir=secrets)


def test_the_k8s_configuration_loads_as_production_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [template] = of_kind("Secret")
    for name, value in template["stringData"].items():
        # the template's placeholder names the command that makes a key
        key = name == "ORDERLY_DATA_KEYS" and "orderly keys new" in value
        (tmp_path / name).write_text(new_key() if key else value)
    data = of_kind("ConfigMap")[0]["data"]
    settings = _production({k: v for k, v in data.items() if k != "ORDERLY_SECRETS_DIR"},
                           monkeypatch, tmp_path)  # fmt: skip
    assert settings.environment == "production"
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.broker_url
    assert settings.redis_url


def test_the_compose_configuration_loads_as_production_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = {"orderly_database_url": "postgresql+asyncpg://o:p@postgres/orderly",
              "orderly_data_keys": new_key()}  # fmt: skip
    for name in compose()["secrets"]:
        (tmp_path / name).write_text(values.get(name, "x" * 40))
    variables = {**dockerfile().env, **env_file(ENV_EXAMPLE)}
    variables = {k: v for k, v in variables.items() if k.startswith("ORDERLY_")}
    variables.pop("ORDERLY_SECRETS_DIR")
    settings = _production(variables, monkeypatch, tmp_path)
    assert settings.environment == "production"
    assert settings.host == "0.0.0.0"  # noqa: S104 - inside its container


def test_the_pods_follow_the_platform_rules() -> None:
    specs = pod_specs()
    data = of_kind("ConfigMap")[0]["data"]
    for workload, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, workload
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, workload
            assert container["resources"]["limits"], workload
    api = specs["orderly-api"]
    [container] = api["containers"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = float(data["ORDERLY_SHUTDOWN_TIMEOUT"])
    assert api["terminationGracePeriodSeconds"] >= pre_stop + drain
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    multiproc = {e["name"]: e["value"] for e in container["env"]}["PROMETHEUS_MULTIPROC_DIR"]
    emptydirs = {v["name"] for v in api["volumes"] if "emptyDir" in v}
    assert any(m["mountPath"] == multiproc and m["name"] in emptydirs
               for m in container["volumeMounts"])  # fmt: skip
    [beat] = [d for d in of_kind("Deployment") if d["metadata"]["name"] == "orderly-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"


def test_the_kustomizations_list_every_manifest() -> None:
    listed: set[Path] = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        for resource in spec["resources"]:
            target = (kustomization.parent / resource).resolve()
            assert target.exists(), f"{kustomization}: {resource} does not exist"
            listed.add(target)
        for image in spec.get("images", []):
            assert image["name"] == "orderly"
    # templates and examples are applied by hand, on purpose
    by_hand = {p for p in manifest_paths() if p.name.endswith((".template.yaml", ".example.yaml"))}
    assert {p.resolve() for p in manifest_paths()} - by_hand <= listed
    assert COMPOSE.exists()
