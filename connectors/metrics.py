"""Prometheus metrics of the connectors (names prefixed hardship_connector_), served by --metrics-port.

Labels stay few and bounded: the connector kind (file, http, sql, roster, filings), the
department's source name, the topic, and the stable reason code of a rejection. Personal data
never becomes a label.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECORDS_READ = Counter(
    "hardship_connector_records_read",
    "Records read from a source (file rows, pushed items, polled rows) before validation",
    ["connector", "source"],
)
RECORDS_SENT = Counter(
    "hardship_connector_records_sent",
    "Records acknowledged by the broker on a contract topic",
    ["connector", "source", "topic"],
)
RECORDS_REJECTED = Counter(
    "hardship_connector_records_rejected",
    "Records refused and sent to hardship.deadletter, by stable reason code",
    ["connector", "source", "reason"],
)
CURSOR_LAG = Gauge(
    "hardship_connector_cursor_lag_records",
    "Records the source holds beyond the durable cursor (file rows or table rows not yet acknowledged)",
    ["connector", "source"],
)
CURSOR_AGE = Gauge(
    "hardship_connector_cursor_commit_timestamp_seconds",
    "Unix time of the last durable cursor commit",
    ["connector", "source"],
)
FILES = Counter(
    "hardship_connector_files",
    "Dropped files by outcome: done, duplicate (same checksum seen before), refused (whole file), error",
    ["source", "outcome"],
)
HTTP_REQUESTS = Counter(
    "hardship_connector_http_requests",
    "HTTP push requests by answer status code",
    ["source", "status"],
)
COMMIT_SECONDS = Histogram(
    "hardship_connector_commit_seconds",
    "Time to flush a chunk to the broker and write the cursor",
    ["connector"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_served: set[int] = set()


METRICS_HOST_ENV = "HARDSHIP_CONNECTOR_METRICS_HOST"


def metrics_host() -> str:
    """Where /metrics listens: the loopback unless HARDSHIP_CONNECTOR_METRICS_HOST says otherwise (a container that
    Prometheus scrapes from outside sets 0.0.0.0; docker-compose.yml does)."""
    import os

    return os.environ.get(METRICS_HOST_ENV) or "127.0.0.1"


def serve_metrics(port: int | None, host: str | None = None) -> None:
    """Expose /metrics on `port` (once per process); None or 0 means off; loopback only unless configured."""
    host = host or metrics_host()
    if port and port not in _served:
        start_http_server(port, addr=host)
        _served.add(port)
