"""Every Prometheus metric pixseek records, defined once beneath the layers that record them.

The API, the ingest pipeline, the search side and the workers all record here, so none of
them imports another to count something. The metrics live in the process-wide registry of
`prometheus_client`: the API serves them at `/metrics` (with figures read from SQL and the
index at scrape time, `pixseek.api.metrics`); a worker serves them on
`PIXSEEK_WORKER_METRICS_PORT` (`serve_worker_metrics`). docs/operations.md lists them.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram, start_http_server

log = logging.getLogger(__name__)

# Seconds: from a cached keyword lookup to a cold model load on a CPU.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Seconds: a task runs from a fraction of a second (finalize on a small job) to many minutes.
TASK_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0)

HTTP_REQUEST_SECONDS = Histogram(
    "pixseek_http_request_duration_seconds",
    "HTTP requests by method, route template (not the raw path) and status code.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
SEARCH_SECONDS = Histogram(
    "pixseek_search_duration_seconds",
    "Searches by mode (semantic, keyword, hybrid), from query to ranked page.",
    ["mode"],
    buckets=LATENCY_BUCKETS,
)
TEXT_CACHE_LOOKUPS = Counter(
    "pixseek_text_cache_lookups_total",
    "Text embedding cache lookups by result (hit, miss); hit rate = hit / all.",
    ["result"],
)
INGEST_IMAGES = Counter(
    "pixseek_ingest_images_total",
    "Images an ingest finished, by outcome (embedded, failed, skipped); rate() is images/s.",
    ["outcome"],
)
INGEST_FAILURES = Counter(
    "pixseek_ingest_failures_total",
    "Images an ingest recorded failed, by reason class (see failure_reason).",
    ["reason"],
)
TASKS = Counter(
    "pixseek_tasks_total",
    "Celery tasks a worker ran, by task name and final state (SUCCESS, FAILURE, RETRY).",
    ["task", "state"],
)
TASK_SECONDS = Histogram(
    "pixseek_task_duration_seconds",
    "Celery task run time on a worker, by task name.",
    ["task"],
    buckets=TASK_BUCKETS,
)
LEASES_RECOVERED = Counter(
    "pixseek_task_leases_recovered_total",
    "Tasks of dead workers found by their lapsed lease, by action (resent, given_up).",
    ["action"],
)

# Failure reasons as users read them, mapped to a few stable label values (a label per
# distinct message would make one time series per broken file). First match wins.
_REASONS = (
    ("worker died", "worker_died"),
    ("worker error", "worker_error"),
    ("empty file", "empty"),
    ("not an image", "not_an_image"),
    ("too large", "too_large"),
    ("decompression bomb", "too_large"),
    ("too thin", "bad_dimensions"),
    ("invalid image size", "bad_dimensions"),
    ("out of memory", "out_of_memory"),
    ("corrupt", "corrupt"),
    ("cannot identify", "corrupt"),
    ("cannot decode", "corrupt"),
    ("refused", "refused"),
    ("vanished", "unreadable"),
    ("cannot open", "unreadable"),
    ("cannot stat", "unreadable"),
    ("cannot read", "unreadable"),
    ("not a regular file", "unreadable"),
    ("invalid key", "unreadable"),
)


def failure_reason(message: str | None) -> str:
    """The label value for a failure message: a short class such as `corrupt`, else `other`."""
    text = (message or "").lower()
    for needle, label in _REASONS:
        if needle in text:
            return label
    return "other"


def record_ingested(outcomes: list[tuple[str, str | None]]) -> None:
    """Count images an ingest committed: (outcome, failure message) per image."""
    for outcome, message in outcomes:
        INGEST_IMAGES.labels(outcome).inc()
        if outcome == "failed":
            INGEST_FAILURES.labels(failure_reason(message)).inc()


def record_failed(count: int, message: str) -> None:
    """Count `count` images recorded failed together for one reason (a batch given up)."""
    if count:
        INGEST_IMAGES.labels("failed").inc(count)
        INGEST_FAILURES.labels(failure_reason(message)).inc(count)


def serve_worker_metrics(port: int, addr: str = "0.0.0.0") -> bool:
    """Serve this process's metrics over HTTP on `port`; False (and a log line) if it is taken."""
    try:
        start_http_server(port, addr=addr)
    except OSError as exc:
        log.error("metrics.port_unavailable port=%d reason=%s", port, exc.strerror or exc)
        return False
    log.info("metrics.serving port=%d", port)
    return True
