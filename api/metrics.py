"""`GET /metrics`: Prometheus text with request latency by route and figures read at scrape time.

The counters and histograms of `pixseek.core.metrics` are recorded as things happen (in
this process: requests, searches, the text cache, embedded ingests). Job and queue depth,
catalog and index size are read when Prometheus scrapes, from SQL, the broker and the index
folder, by `ServiceCollector`; every API instance reports the same cluster-wide figures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixseek.access.scopes import Scope as AccessScope
from pixseek.api.auth import requires
from pixseek.core.active_model import follow_switch
from pixseek.core.db import session_scope
from pixseek.core.metrics import HTTP_REQUEST_SECONDS
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image
from pixseek.index.catalog.jobs import Job, JobKind, JobStatus
from pixseek.index.vectors.manifest import Manifest
from pixseek.index.vectors.store import IndexStore
from pixseek.search.service import SearchService

log = logging.getLogger(__name__)

# Operators only once keys exist: the figures describe the whole collection and its jobs.
router = APIRouter(tags=["operations"], dependencies=[requires(AccessScope.ADMIN)])

UNMATCHED = "unmatched"  # one label for every path no route knows (never the raw path)
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


class RequestMetrics:
    """ASGI middleware: each request's duration by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception escaping the app becomes a 500 outside this middleware

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # The router puts the matched route in the scope: its template, e.g.
            # /v1/images/{image_id}, keeps one series per route whatever the ids.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            HTTP_REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - started
            )


def _queue_depths(settings: Settings) -> dict[str, int]:
    """Messages waiting in the broker's queues (Redis lists); empty for other brokers."""
    url = settings.broker_url or ""
    if not url.startswith(("redis://", "rediss://")):
        return {}
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        queues = dict.fromkeys([settings.queue, settings.writer_queue])
        return {queue: int(client.llen(queue)) for queue in queues}
    finally:
        client.close()


class ServiceCollector(Collector):
    """Figures read at scrape time: jobs, images by status, queue depth, the index."""

    def __init__(self, settings: Settings, search: SearchService) -> None:
        self.settings = settings
        self.search = search

    def collect(self) -> Iterator[Metric]:
        yield from self._catalog()
        yield from self._queues()
        yield from self._index()

    def _catalog(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "pixseek_jobs", "Jobs waiting or running, by kind and status.", labels=["kind", "status"]
        )
        images = GaugeMetricFamily(
            "pixseek_images",
            "Catalog images by status; pending ones are the ingest backlog.",
            labels=["status"],
        )
        with session_scope(self.settings) as session:
            active = {
                (str(kind), str(status)): int(n)
                for kind, status, n in session.execute(
                    select(Job.kind, Job.status, func.count())
                    .where(Job.status.in_(ACTIVE))
                    .group_by(Job.kind, Job.status)
                )
            }
            by_status = session.execute(select(Image.status, func.count()).group_by(Image.status)).all()
        for kind in JobKind:
            for status in ACTIVE:
                jobs.add_metric([str(kind), str(status)], active.get((str(kind), str(status)), 0))
        for image_status, n in by_status:
            images.add_metric([str(image_status)], int(n))
        yield jobs
        yield images

    def _queues(self) -> Iterator[Metric]:
        try:
            depths = _queue_depths(self.settings)
        except Exception as exc:  # the broker is down: /v1/ready says so; the scrape still answers
            log.warning("metrics.queue_depth_unavailable reason=%s", type(exc).__name__)
            return
        if depths:
            queues = GaugeMetricFamily(
                "pixseek_queue_messages", "Task messages waiting in a broker queue.", labels=["queue"]
            )
            for queue, depth in depths.items():
                queues.add_metric([queue], depth)
            yield queues

    def _index(self) -> Iterator[Metric]:
        store = IndexStore(follow_switch(self.settings).index_dir)  # the served generation's
        generation = store.current_generation()
        generations = GaugeMetricFamily(
            "pixseek_index_generation",
            "Index generation published by the writer, and the one this process serves.",
            labels=["state"],
        )
        if generation is not None:
            generations.add_metric(["published"], generation)
            folder = store.generation_dir(generation)
            try:
                manifest = Manifest.read(folder / "manifest.json")
                size = sum(p.stat().st_size for p in folder.iterdir())
            except FileNotFoundError:  # pruned while we read it: the next scrape sees the newer one
                pass
            else:
                yield GaugeMetricFamily(
                    "pixseek_index_vectors", "Vectors in the published index.", value=manifest.count
                )
                yield GaugeMetricFamily(
                    "pixseek_index_bytes", "Bytes of the published index generation on disk.", value=size
                )
        loaded = self.search.holder.loaded
        if loaded is not None:
            generations.add_metric(["loaded"], loaded.manifest.generation)
        yield generations


def service_registry(settings: Settings, search: SearchService) -> CollectorRegistry:
    """The app's scrape-time figures in a registry of its own (test apps never share one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(settings, search))
    return registry


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Every metric of this process, then the figures read now (Prometheus text format)."""
    body = generate_latest(REGISTRY) + generate_latest(request.app.state.metrics_registry)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
