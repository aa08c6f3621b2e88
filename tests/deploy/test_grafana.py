"""deploy/grafana/orderly.json: a dashboard Grafana can import, whose queries only use
metrics some orderly process exports (so no panel stays empty after a rename)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from typing import Any

from prometheus_client import REGISTRY

import orderly
from tests.deploy.files import DEPLOY

DASHBOARD = DEPLOY / "grafana" / "orderly.json"
METRIC = re.compile(r"\borderly_[a-z0-9_]+")
# the series each metric type is exposed as (name without its _total for counters)
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


def exported_series() -> set[str]:
    """Every orderly series name in the registry once every orderly module is imported
    (metrics are module-level objects; the CLI, API, jobs and relay import them from there)."""
    for module in pkgutil.walk_packages(orderly.__path__, "orderly."):
        importlib.import_module(module.name)
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("orderly_")
        for suffix in SUFFIXES.get(family.type, ("",))
    }


def load() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def test_the_dashboard_has_panels_with_prometheus_queries() -> None:
    dashboard = load()
    assert isinstance(dashboard["schemaVersion"], int)
    assert all(dashboard[key] for key in ("title", "uid"))
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 15
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert all(panel[key] for key in ("title", "targets")), panel
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            assert target["refId"], (panel["title"], target)
            assert METRIC.search(target["expr"]), (panel["title"], target)
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    exported = exported_series()
    assert {"orderly_tasks_total", "orderly_queue_depth", "orderly_outbox_lag_seconds"} <= exported
    queried = {
        name
        for panel in load()["panels"]
        for target in panel.get("targets", [])
        for name in METRIC.findall(target["expr"])
    }
    assert queried - exported == set()
    # what an operator must see is on it
    for wanted in (
        "orderly_http_requests_total",
        "orderly_http_request_duration_seconds_bucket",
        "orderly_orders_total",
        "orderly_payment_provider_duration_seconds_bucket",
        "orderly_circuit_breaker_state",
        "orderly_tasks_total",
        "orderly_queue_depth",
        "orderly_outbox_pending",
        "orderly_outbox_lag_seconds",
    ):
        assert wanted in queried, wanted
