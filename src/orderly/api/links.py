"""Paths of API resources that are linked to from outside the route that serves them: a
report's CSV is linked from the report's state and from the mail a worker sends."""

from __future__ import annotations

import uuid

V1 = "/api/v1"


def report_download(report_id: uuid.UUID) -> str:
    """Served by ``download_report`` in api/v1/endpoints/reports.py."""
    return f"{V1}/reports/{report_id}/download"


def webhook_endpoint(endpoint_id: uuid.UUID) -> str:
    """Served by ``read_endpoint`` in api/v1/endpoints/webhooks.py; linked from the mail that
    tells the admins an endpoint was disabled."""
    return f"{V1}/webhooks/endpoints/{endpoint_id}"
