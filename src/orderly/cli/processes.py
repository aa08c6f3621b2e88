"""The long-running processes: the API server, the Celery worker and beat, the outbox relay,
and the fakes used by local set-ups and end-to-end tests."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
import tempfile
from typing import Annotated

import typer
import uvicorn
from celery import Celery

from orderly import migrate as migrations
from orderly.cli.console import fail, with_container
from orderly.cli.data import report_seed
from orderly.core.config import Settings
from orderly.core.logging import configure_logging
from orderly.core.observability import configure_sentry, tracer_provider
from orderly.demo import seed_if_empty

app = typer.Typer()
METRICS_PORT = typer.Option(help="Serve Prometheus /metrics on this port (ORDERLY_HOST)")


def _celery(settings: Settings) -> Celery:
    from orderly.jobs.celery_app import create_celery
    from orderly.jobs.tasks import WorkerRuntime, register_tasks

    try:
        celery = create_celery(settings)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    register_tasks(celery, WorkerRuntime(settings, celery))
    return celery


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues")] = (
        "default,payments,emails,reports,webhooks"
    ),
    concurrency: Annotated[int, typer.Option(min=1)] = 2,
    hostname: Annotated[str, typer.Option(help="Celery node name")] = "orderly@%h",
    metrics_port: Annotated[int | None, METRICS_PORT] = None,
) -> None:
    """Run a Celery worker (needs ORDERLY_BROKER_URL)."""
    if metrics_port is not None and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Tasks run in forked pool processes: their numbers go to files that the main
        # process sums. prometheus_client picks this up on import, so start again with it.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="orderly-worker-")
        os.execv(sys.executable, [sys.executable, *sys.argv])  # noqa: S606 - ourselves
    settings = Settings()
    configure_logging(settings)
    configure_sentry(settings)  # before the pool forks; tracing starts in each pool process
    celery = _celery(settings)
    _serve_metrics("Worker", settings, metrics_port)
    celery.worker_main(
        ["worker", "-Q", queues, "-c", str(concurrency), "-n", hostname, "--loglevel", "INFO"]
    )


def _serve_metrics(what: str, settings: Settings, port: int | None) -> None:
    if port is not None:
        from orderly.jobs import metrics as job_metrics

        job_metrics.serve(port, settings.host)
        typer.echo(f"{what} metrics on http://{settings.host}:{port}/metrics")


@app.command()
def beat(
    schedule: Annotated[str, typer.Option(help="Where beat keeps its state")] = (
        "./var/celerybeat-schedule"
    ),
    metrics_port: Annotated[int | None, METRICS_PORT] = None,
) -> None:
    """Run Celery beat: order expiry every minute, outbox sweep, daily sales report."""
    settings = Settings()
    configure_logging(settings)
    configure_sentry(settings)
    os.makedirs(os.path.dirname(schedule) or ".", exist_ok=True)
    celery = _celery(settings)
    _serve_metrics("Beat", settings, metrics_port)
    celery.start(["beat", "--schedule", schedule, "--loglevel", "INFO"])


@app.command()
def relay(
    metrics_port: Annotated[int | None, METRICS_PORT] = None,
    sample_interval: Annotated[
        float,
        typer.Option(min=1.0, help="Seconds between samples of the outbox backlog and queues"),
    ] = 15.0,
) -> None:
    """Publish committed outbox events to the broker until stopped (SIGTERM / Ctrl-C)."""
    from orderly.core.database import create_engine, create_session_factory
    from orderly.events.relay import OutboxRelay
    from orderly.jobs.backlog import BacklogSampler
    from orderly.jobs.tasks import celery_deliver

    settings = Settings()
    configure_logging(settings)
    configure_sentry(settings)
    tracing = tracer_provider(settings, role="relay")
    celery = _celery(settings)
    _serve_metrics("Relay", settings, metrics_port)
    sampling = metrics_port is not None or settings.prometheus_multiproc_dir is not None

    async def run() -> None:
        engine = create_engine(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        sessions = create_session_factory(engine)
        relay = OutboxRelay.to_broker(sessions, celery_deliver(celery, tracing), settings)
        sampler = BacklogSampler(sessions, celery, interval=sample_interval)
        broker = (settings.broker_url or "").rsplit("@", 1)[-1]  # no credentials in the output
        typer.echo(f"Relaying the outbox to {broker}")
        try:
            await asyncio.gather(
                relay.run(stop, interval=settings.relay_interval),
                *([sampler.run(stop)] if sampling else []),
            )
        finally:
            await engine.dispose()
            if tracing is not None:
                tracing.shutdown()

    asyncio.run(run())


@app.command()
def flower(
    port: Annotated[int, typer.Option(min=1, max=65535)] = 5555,
    address: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
) -> None:
    """Run Flower (the extra orderly[flower]) on orderly's broker, key prefix and queues.

    Flower has no sign-in of its own: keep it on 127.0.0.1 or set FLOWER_BASIC_AUTH=user:pass
    (Flower reads FLOWER_* variables, e.g. FLOWER_BROKER_API for RabbitMQ's queue lengths)."""
    if importlib.util.find_spec("flower") is None:
        raise fail(
            "Flower is not installed: install the extra, pip install 'orderly[flower]' "
            "(uv sync --extra flower; make install includes it)"
        )
    settings = Settings()
    configure_logging(settings)
    _celery(settings).start(["flower", f"--port={port}", f"--address={address}"])


@app.command("fake-provider")
def fake_provider(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 8100,
    api_key: Annotated[str, typer.Option(help="Expected bearer key")] = "sk_test_orderly",
    latency_ms: Annotated[int, typer.Option(min=0)] = 0,
    failure_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.0,
    slow_seconds: Annotated[float, typer.Option(min=0.0)] = 3.0,
) -> None:
    """Run the fake payment provider (for local set-ups and end-to-end tests)."""
    from orderly.fakes.payment_provider import create_provider_app

    provider = create_provider_app(
        api_key=api_key,
        latency_ms=latency_ms,
        failure_rate=failure_rate,
        slow_seconds=slow_seconds,
    )
    uvicorn.run(provider, host="127.0.0.1", port=port, log_level="warning")


@app.command("fake-receiver")
def fake_receiver(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 8200,
    secret: Annotated[
        list[str] | None, typer.Option(help="whsec_... to verify signatures with (repeatable)")
    ] = None,
    fail_first: Annotated[int, typer.Option(min=0, help="Answer 500 to the first N")] = 0,
    slow_seconds: Annotated[float, typer.Option(min=0.0, help="Answer every request late")] = 0.0,
) -> None:
    """Run the fake webhook receiver: verifies signatures, counts deliveries per webhook-id
    (GET /_stats); POST /_control changes how it answers (fail, 410, slowly)."""
    from orderly.fakes.webhook_receiver import Behaviour, create_receiver_app

    behaviour = Behaviour(
        secrets=list(secret or []),
        fail_first=fail_first,
        slow_first=1_000_000_000 if slow_seconds else 0,
        slow_seconds=slow_seconds,
    )
    typer.echo(f"Receiving webhooks on http://127.0.0.1:{port}/<any path>  (stats: /_stats)")
    uvicorn.run(create_receiver_app(behaviour), host="127.0.0.1", port=port, log_level="warning")


@app.command()
def serve(
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development)")] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes [default: ORDERLY_WORKERS or 1]")
    ] = None,
) -> None:
    """Serve the API (development: migrates and loads demo data first)."""
    settings = Settings()
    workers = workers or settings.workers or 1
    if settings.run_migrations_on_start:
        migrations.upgrade(settings.database_url)
    if settings.seed_on_start:
        report_seed(with_container(settings, seed_if_empty))
    if workers > 1 and settings.metrics_enabled and not settings.prometheus_multiproc_dir:
        # Several processes: prometheus_client keeps each worker's numbers in files here
        # and /metrics sums them. Set before the workers start; they inherit it.
        metrics_dir = tempfile.mkdtemp(prefix="orderly-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    typer.echo(f"Serving on http://{settings.host}:{settings.port}  (docs: /docs)")
    uvicorn.run(
        "orderly.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        reload=reload,
        workers=workers,
        log_config=None,
        access_log=False,  # orderly logs one richer line per request itself
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=int(settings.shutdown_timeout),
    )
