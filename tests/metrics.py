"""Reading samples out of the Prometheus exposition text, to compare before and after."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def sample(text: str, name: str, **labels: str) -> float:
    """The value of sample ``name`` with exactly ``labels``; 0 when absent (a labelled counter
    appears only once it has been counted)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


def scrape_url(url: str) -> str:
    """The metrics text a process serves at ``url``, or "" while it is not listening yet."""
    try:
        return httpx.get(url, timeout=5).raise_for_status().text
    except httpx.HTTPError:
        return ""
