"""`AsyncClient`: the routes of `Client` (sync_client.py), awaited, for asyncio code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from pixseek.api.schemas.curation import (
    CurationReport,
    MapSummary,
    ScorePage,
    SelectionDetail,
    SelectionInfo,
    SelectionList,
)
from pixseek.api.schemas.duplicates import ApplyResponse, ApplyRuns, CheckResponse, Group, GroupPage
from pixseek.api.schemas.images import ImageInfo, ImageTextOut
from pixseek.api.schemas.jobs import JobInfo, JobProblem
from pixseek.api.schemas.regions import RegionIn, RegionSearchResponse
from pixseek.api.schemas.saved_searches import SavedSearchOut, SavedSearchResults
from pixseek.api.schemas.search import FiltersIn, SearchHit, SearchResponse
from pixseek.api.schemas.tags import TagsResponse
from pixseek.api.schemas.webhooks import DeliveryOut, TestEventOut
from pixseek.client import calls
from pixseek.client.calls import Call, Image, Part, RetryPolicy
from pixseek.client.errors import raise_for

T = TypeVar("T")
Filters = FiltersIn | Mapping[str, Any] | None


class AsyncClient:
    """A pixseek server over HTTP, for asyncio code (the arguments of `Client`).

    Args:
        base_url: the server (default `PIXSEEK_URL`, else http://127.0.0.1:8000).
        api_key: a key from `pixseek keys create` (default `PIXSEEK_API_KEY`; none on an open server).
        timeout: seconds per request.
        retries: how often a 429 or 503 answer is retried, after its `Retry-After`.
        transport: an httpx transport (tests pass an ASGI app's).

    Raises (from every method): `pixseek.client.ApiError` subclasses carrying the server's
    status, `code` and `detail`; httpx errors for a server that cannot be reached.

    Example:
        >>> async with AsyncClient("http://127.0.0.1:8000") as px:  # doctest: +SKIP
        ...     (await px.search("a red umbrella", limit=5)).results[0].key
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        url, headers = calls.settings(base_url, api_key)
        self.http = httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, transport=transport)
        self.retry = RetryPolicy(retries=retries)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            response = await self.http.send(call.request(self.http))
            wait = self.retry.wait(response, attempt)
            if wait is None:
                break
            await asyncio.sleep(wait)
            attempt += 1
        raise_for(response)
        result: T = call.read(response)
        return result

    # -- health ---------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        """Liveness (no key needed)."""
        return await self._send(calls.health())

    async def ready(self) -> dict[str, Any]:
        """Readiness; a server that is not ready raises `ServerError` (503, code `not_ready`)."""
        return await self._send(calls.ready())

    async def status(self) -> dict[str, Any]:
        """Counts, model and index; admin keys also see where data lives."""
        return await self._send(calls.status())

    async def metrics(self) -> str:
        """Prometheus text (admin keys)."""
        return (await self._send(calls.metrics())).decode()

    # -- search ---------------------------------------------------------------------------------

    async def search(self, *parts: Part, filters: Filters = None, **options: Any) -> SearchResponse:
        """A composed query: texts (str), cataloged images (int ids) or `QueryPartIn`/dict parts
        with weights and boxes; `options` are `SearchRequest`'s (mode, limit, offset, min_score,
        explain, templates, facets, order, ...)."""
        return await self._send(calls.search(calls.search_request(parts, filters, options)))

    async def iter_search(
        self, *parts: Part, filters: Filters = None, page_size: int = 100, **options: Any
    ) -> AsyncIterator[SearchHit]:
        """Every hit of a query, best first, a page at a time (stops at `max_results` pages deep)."""
        offset = int(options.pop("offset", 0))
        while True:
            page = await self.search(*parts, filters=filters, limit=page_size, offset=offset, **options)
            for hit in page.results:
                yield hit
            offset += len(page.results)
            if len(page.results) < page_size or (page.total is not None and offset >= page.total):
                return

    async def search_with_uploads(
        self, *parts: Part, images: Sequence[Image], filters: Filters = None, **options: Any
    ) -> SearchResponse:
        """A composed query whose parts may be uploads: `{"upload": 0}` is `images[0]`."""
        return await self._send(calls.search_multipart(parts, images, filters, options))

    async def search_text(self, text: str, **options: Any) -> SearchResponse:
        """`POST /v1/search/text`: k, offset, min_score, bucket, key_prefix."""
        return await self._send(calls.search_text(text, **options))

    async def search_image(self, image: Image, **options: Any) -> SearchResponse:
        """Images that look like an uploaded one: k, offset, min_score, bucket, key_prefix."""
        return await self._send(calls.search_image(image, **options))

    async def similar(self, image_id: int, *, filters: Filters = None, **options: Any) -> SearchResponse:
        """Images like a cataloged one: k, offset, min_score, include_self, exclude_duplicates, explain."""
        return await self._send(calls.similar(image_id, filters, options))

    async def iter_similar(
        self, image_id: int, *, filters: Filters = None, page_size: int = 100, **options: Any
    ) -> AsyncIterator[SearchHit]:
        """Every image like a cataloged one, most similar first, a page at a time."""
        offset = int(options.pop("offset", 0))
        while True:
            page = await self.similar(image_id, filters=filters, k=page_size, offset=offset, **options)
            for hit in page.results:
                yield hit
            offset += len(page.results)
            if len(page.results) < page_size:
                return

    # -- regions --------------------------------------------------------------------------------

    async def search_regions(
        self,
        text: str | None = None,
        *,
        region: RegionIn | Mapping[str, Any] | None = None,
        **options: Any,
    ) -> RegionSearchResponse:
        """Images ranked by their best region for a text, or for a box drawn on a cataloged image."""
        return await self._send(calls.search_regions(text, region, options))

    async def search_regions_image(self, image: Image, **options: Any) -> RegionSearchResponse:
        """Images ranked by their best region for an uploaded picture (a crop)."""
        return await self._send(calls.search_regions_image(image, **options))

    async def heatmap(self, image_id: int, text: str, *, smooth: int = 0) -> bytes:
        """Where in the image a text matches, as a PNG overlay."""
        return await self._send(calls.heatmap_png(image_id, text, smooth))

    async def heatmap_grid(self, image_id: int, text: str, *, smooth: int = 0) -> dict[str, Any]:
        """The score grid behind the heatmap, with the best cell and its box."""
        return await self._send(calls.heatmap_grid(image_id, text, smooth))

    # -- images ---------------------------------------------------------------------------------

    async def image(self, image_id: int) -> ImageInfo:
        return await self._send(calls.image(image_id))

    async def image_file(self, image_id: int) -> bytes:
        return await self._send(calls.image_file(image_id))

    async def thumbnail(self, image_id: int, size: int = 256) -> bytes:
        return await self._send(calls.thumbnail(image_id, size))

    async def image_text(self, image_id: int) -> ImageTextOut:
        return await self._send(calls.image_text(image_id))

    async def tags(self) -> TagsResponse:
        return await self._send(calls.tags())

    # -- jobs -----------------------------------------------------------------------------------

    async def start_job(self, path: str) -> JobInfo:
        """Start ingesting a bucket (a folder under PIXSEEK_INGEST_ROOTS, or s3://...)."""
        return await self._send(calls.start_job(path))

    async def jobs(self, limit: int = 20) -> list[JobInfo]:
        return await self._send(calls.jobs(limit))

    async def job(self, job_id: str) -> JobInfo:
        return await self._send(calls.job(job_id))

    async def job_problems(self, job_id: str, limit: int = 50) -> list[JobProblem]:
        return await self._send(calls.job_problems(job_id, limit))

    async def cancel_job(self, job_id: str) -> JobInfo:
        return await self._send(calls.cancel_job(job_id))

    async def wait_job(self, job_id: str, *, timeout: float = 600.0, poll: float = 0.5) -> JobInfo:
        """The job once it is done, failed or cancelled; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (info := await self.job(job_id)).status not in calls.FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {info.status} after {timeout} s")
            await asyncio.sleep(poll)
        return info

    # -- duplicates -----------------------------------------------------------------------------

    async def duplicate_groups(
        self,
        *,
        kind: Literal["exact", "near", "similar"] | None = None,
        status: Literal["open", "resolved", "dismissed"] = "open",
        offset: int = 0,
        limit: int = 50,
    ) -> GroupPage:
        return await self._send(calls.duplicate_groups(kind, status, offset, limit))

    async def iter_duplicate_groups(
        self,
        *,
        kind: Literal["exact", "near", "similar"] | None = None,
        status: Literal["open", "resolved", "dismissed"] = "open",
        page_size: int = 100,
    ) -> AsyncIterator[Group]:
        offset = 0
        while True:
            page = await self.duplicate_groups(kind=kind, status=status, offset=offset, limit=page_size)
            for group in page.groups:
                yield group
            offset += len(page.groups)
            if not page.groups or offset >= page.total:
                return

    async def duplicate_group(self, group_id: int) -> Group:
        return await self._send(calls.duplicate_group(group_id))

    async def resolve_group(
        self, group_id: int, *, keep: Sequence[int] | None = None, action: Literal["remove", "hide"] = "hide"
    ) -> Group:
        return await self._send(calls.resolve_group(group_id, keep, action))

    async def dismiss_group(self, group_id: int) -> Group:
        return await self._send(calls.dismiss_group(group_id))

    async def detect_duplicates(self, *, full: bool = False) -> JobInfo:
        return await self._send(calls.detect_duplicates(full))

    async def check_duplicate(self, image: Image) -> CheckResponse:
        return await self._send(calls.check_duplicate(image))

    # -- saved searches -------------------------------------------------------------------------

    async def create_saved_search(
        self, name: str, *parts: Part, filters: Filters = None, **options: Any
    ) -> SavedSearchOut:
        """Save a composed query (the arguments of `search`); it is kept current after every publish."""
        return await self._send(
            calls.create_saved_search(name, calls.search_request(parts, filters, options))
        )

    async def saved_searches(self) -> list[SavedSearchOut]:
        """Every saved search, with its matches and the new ones since it was last viewed."""
        return await self._send(calls.saved_searches())

    async def saved_search(self, search_id: int, *, mark_viewed: bool = True) -> SavedSearchResults:
        """The current matches and which are new; a view resets the count unless `mark_viewed=False`."""
        return await self._send(calls.saved_search(search_id, mark_viewed))

    async def refresh_saved_search(self, search_id: int) -> SavedSearchOut:
        return await self._send(calls.refresh_saved_search(search_id))

    async def delete_saved_search(self, search_id: int) -> None:
        await self._send(calls.delete_saved_search(search_id))

    # -- duplicate decisions carried out, curation and selections -------------------------------

    async def apply_decisions(self, *, dry_run: bool = True) -> ApplyResponse:
        """Move the images of groups resolved `remove` to the quarantine (a dry run by default)."""
        return await self._send(calls.apply_decisions(dry_run))

    async def apply_runs(self) -> ApplyRuns:
        return await self._send(calls.apply_runs())

    async def undo_apply(self, run: str) -> ApplyResponse:
        """Move a run's files back to their buckets."""
        return await self._send(calls.undo_apply(run))

    async def export_duplicates(self, fmt: str = "json", status: str | None = None) -> Any:
        """Groups and decisions: the JSON document, or the CSV text."""
        return await self._send(calls.export_duplicates(fmt, status))

    async def curate(self, command: str, **body: Any) -> CurationReport:
        """Run a curation command (`diverse`, `typical`, `unusual`, `clusters`, `splits`) now."""
        return await self._send(calls.curate(command, body))

    async def curation_job(self, command: str, **params: Any) -> JobInfo:
        """The same as a job (or `map`): follow it with `wait_job`."""
        return await self._send(calls.curation_job(command, params))

    async def curation_scores(
        self, order: str = "uniqueness", offset: int = 0, limit: int = 100
    ) -> ScorePage:
        return await self._send(calls.curation_scores(order, offset, limit))

    async def compute_map(self, method: str | None = None) -> MapSummary:
        return await self._send(calls.compute_map(method))

    async def collection_map(self) -> Any:
        """The cached map: ids, x, y, cluster, group, tag."""
        return await self._send(calls.collection_map())

    async def selections(self) -> SelectionList:
        return await self._send(calls.selections())

    async def selection(self, name: str, offset: int = 0, limit: int = 100) -> SelectionDetail:
        return await self._send(calls.selection(name, offset, limit))

    async def save_selection(self, name: str, ids: Sequence[int], method: str = "manual") -> SelectionInfo:
        return await self._send(calls.save_selection(name, ids, method))

    async def delete_selection(self, name: str) -> None:
        await self._send(calls.delete_selection(name))

    # -- webhooks (admin keys) ------------------------------------------------------------------

    async def test_webhook(self) -> TestEventOut:
        """Record a `ping` event: each receiver configured for it gets a signed delivery."""
        return await self._send(calls.test_webhook())

    async def webhook_deliveries(self, limit: int = 100) -> list[DeliveryOut]:
        """The delivery log, newest first."""
        return await self._send(calls.webhook_deliveries(limit))
