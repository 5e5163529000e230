"""Every route the client wraps, as a `Call`: what to send and how to read the answer.

`Client` and `AsyncClient` differ only in how they send a call (sync_client.py,
async_client.py); the requests and their typing live here once.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from pixseek.api.schemas.curation import (
    CurationReport,
    MapSummary,
    ScorePage,
    SelectionDetail,
    SelectionInfo,
    SelectionList,
)
from pixseek.api.schemas.duplicates import (
    ApplyResponse,
    ApplyRuns,
    CheckResponse,
    Group,
    GroupPage,
    ResolveRequest,
)
from pixseek.api.schemas.images import ImageInfo, ImageTextOut
from pixseek.api.schemas.jobs import JobInfo, JobProblem, JobRequest
from pixseek.api.schemas.regions import RegionIn, RegionSearchRequest, RegionSearchResponse
from pixseek.api.schemas.saved_searches import SavedSearchIn, SavedSearchOut, SavedSearchResults
from pixseek.api.schemas.search import (
    FiltersIn,
    MultipartSearchRequest,
    QueryPartIn,
    SearchRequest,
    SearchResponse,
    UploadPartIn,
)
from pixseek.api.schemas.tags import TagsResponse
from pixseek.api.schemas.webhooks import DeliveryOut, TestEventOut

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8000"
Image = bytes | str | Path  # an upload: its bytes, or a file to read
Part = str | int | QueryPartIn | Mapping[str, Any]  # a text, an image id, or a full part


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and the reader of its answer."""

    method: str
    path: str
    read: Any  # Callable[[httpx.Response], T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    data: Mapping[str, Any] | None = None
    files: Sequence[tuple[str, tuple[str, bytes, str]]] | None = None

    def request(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        params = {k: v for k, v in (self.params or {}).items() if v is not None}
        data = {k: v for k, v in (self.data or {}).items() if v is not None} or None
        return client.build_request(
            self.method, self.path, params=params, json=self.json, data=data, files=self.files
        )


@dataclass
class RetryPolicy:
    """Retries on 429 and 503, after `Retry-After` when the server says (capped), else backoff."""

    retries: int = 3
    backoff: float = 0.5  # seconds before the first retry without Retry-After; doubles
    max_wait: float = 30.0
    statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 503}))

    def wait(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None to give up."""
        if response.status_code not in self.statuses or attempt >= self.retries:
            return None
        header = response.headers.get("Retry-After")
        try:
            seconds = float(header) if header is not None else self.backoff * 2**attempt
        except ValueError:
            seconds = self.backoff * 2**attempt
        return min(self.max_wait, max(0.0, seconds)) + random.uniform(0, 0.05)


def settings(base_url: str | None, api_key: str | None) -> tuple[str, dict[str, str]]:
    """The server's URL and the headers (a key from the argument or `PIXSEEK_API_KEY`)."""
    url = base_url or os.environ.get("PIXSEEK_URL") or DEFAULT_URL
    key = api_key if api_key is not None else os.environ.get("PIXSEEK_API_KEY")
    headers = {"User-Agent": "pixseek-client"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return url, headers


def model(kind: type[T]) -> Any:
    adapter = TypeAdapter(kind)
    return lambda response: adapter.validate_json(response.content)


def raw(response: httpx.Response) -> bytes:
    return response.content


def as_json(response: httpx.Response) -> Any:
    return response.json()


def _upload(image: Image, name: str) -> tuple[str, bytes, str]:
    if isinstance(image, bytes):
        return (name, image, "application/octet-stream")
    path = Path(image)
    return (path.name, path.read_bytes(), "application/octet-stream")


def _part(part: Part, kind: type[QueryPartIn] = QueryPartIn) -> QueryPartIn:
    if isinstance(part, QueryPartIn):
        return part
    if isinstance(part, str):
        return kind(text=part)
    if isinstance(part, int):
        return kind(image_id=part)
    return kind.model_validate(dict(part))


def _filters(filters: FiltersIn | Mapping[str, Any] | None) -> FiltersIn:
    if filters is None:
        return FiltersIn()
    return filters if isinstance(filters, FiltersIn) else FiltersIn.model_validate(dict(filters))


def _body(model_: BaseModel) -> Any:
    return model_.model_dump(mode="json", exclude_defaults=True)


# -- the routes ---------------------------------------------------------------------------------


def health() -> Call[dict[str, Any]]:
    return Call("GET", "/v1/health", as_json)


def ready() -> Call[dict[str, Any]]:
    return Call("GET", "/v1/ready", as_json)


def status() -> Call[dict[str, Any]]:
    return Call("GET", "/v1/status", as_json)


def metrics() -> Call[bytes]:
    return Call("GET", "/metrics", raw)


def search_request(parts: Sequence[Part], filters: Any, options: Mapping[str, Any]) -> SearchRequest:
    return SearchRequest(parts=[_part(p) for p in parts], filters=_filters(filters), **options)


def search(request: SearchRequest) -> Call[SearchResponse]:
    return Call("POST", "/v1/search", model(SearchResponse), json=_body(request))


def search_multipart(
    parts: Sequence[Part], images: Sequence[Image], filters: Any, options: Mapping[str, Any]
) -> Call[SearchResponse]:
    request = MultipartSearchRequest(
        parts=[_part(p, UploadPartIn) for p in parts],  # type: ignore[misc]
        filters=_filters(filters),
        **options,
    )
    files = [("images", _upload(image, f"upload-{i}")) for i, image in enumerate(images)]
    return Call(
        "POST",
        "/v1/search/multipart",
        model(SearchResponse),
        data={"query": request.model_dump_json(exclude_defaults=True)},
        files=files,
    )


def search_text(text: str, **options: Any) -> Call[SearchResponse]:
    return Call("POST", "/v1/search/text", model(SearchResponse), json={"text": text, **options})


def search_image(image: Image, **form: Any) -> Call[SearchResponse]:
    return Call(
        "POST",
        "/v1/search/image",
        model(SearchResponse),
        data=form,
        files=[("file", _upload(image, "query"))],
    )


def similar(image_id: int, filters: Any, options: Mapping[str, Any]) -> Call[SearchResponse]:
    params = {**_filters(filters).model_dump(mode="json", exclude_none=True), **options}
    return Call("GET", f"/v1/images/{image_id}/similar", model(SearchResponse), params=params)


def search_regions(
    text: str | None, region: RegionIn | Mapping[str, Any] | None, options: Mapping[str, Any]
) -> Call[RegionSearchResponse]:
    body = RegionSearchRequest(
        text=text,
        region=None
        if region is None
        else RegionIn.model_validate(dict(region) if isinstance(region, Mapping) else region),
        **options,
    )
    return Call("POST", "/v1/search/regions", model(RegionSearchResponse), json=_body(body))


def search_regions_image(image: Image, **form: Any) -> Call[RegionSearchResponse]:
    files = [("file", _upload(image, "query"))]
    return Call("POST", "/v1/search/regions/image", model(RegionSearchResponse), data=form, files=files)


def heatmap_png(image_id: int, text: str, smooth: int) -> Call[bytes]:
    params = {"text": text, "smooth": smooth, "format": "png"}
    return Call("GET", f"/v1/images/{image_id}/heatmap", raw, params=params)


def heatmap_grid(image_id: int, text: str, smooth: int) -> Call[dict[str, Any]]:
    params = {"text": text, "smooth": smooth, "format": "json"}
    return Call("GET", f"/v1/images/{image_id}/heatmap", as_json, params=params)


def image(image_id: int) -> Call[ImageInfo]:
    return Call("GET", f"/v1/images/{image_id}", model(ImageInfo))


def image_file(image_id: int) -> Call[bytes]:
    return Call("GET", f"/v1/images/{image_id}/file", raw)


def thumbnail(image_id: int, size: int) -> Call[bytes]:
    return Call("GET", f"/v1/images/{image_id}/thumbnail", raw, params={"size": size})


def image_text(image_id: int) -> Call[ImageTextOut]:
    return Call("GET", f"/v1/images/{image_id}/text", model(ImageTextOut))


def tags() -> Call[TagsResponse]:
    return Call("GET", "/v1/tags", model(TagsResponse))


def start_job(path: str) -> Call[JobInfo]:
    return Call("POST", "/v1/jobs", model(JobInfo), json=_body(JobRequest(path=path)))


def jobs(limit: int) -> Call[list[JobInfo]]:
    return Call("GET", "/v1/jobs", model(list[JobInfo]), params={"limit": limit})


def job(job_id: str) -> Call[JobInfo]:
    return Call("GET", f"/v1/jobs/{job_id}", model(JobInfo))


def job_problems(job_id: str, limit: int) -> Call[list[JobProblem]]:
    return Call("GET", f"/v1/jobs/{job_id}/problems", model(list[JobProblem]), params={"limit": limit})


def cancel_job(job_id: str) -> Call[JobInfo]:
    return Call("POST", f"/v1/jobs/{job_id}/cancel", model(JobInfo))


def duplicate_groups(kind: str | None, status: str, offset: int, limit: int) -> Call[GroupPage]:
    params = {"kind": kind, "status": status, "offset": offset, "limit": limit}
    return Call("GET", "/v1/duplicates/groups", model(GroupPage), params=params)


def duplicate_group(group_id: int) -> Call[Group]:
    return Call("GET", f"/v1/duplicates/groups/{group_id}", model(Group))


def resolve_group(group_id: int, keep: Sequence[int] | None, action: str) -> Call[Group]:
    body = ResolveRequest.model_validate({"keep": None if keep is None else list(keep), "action": action})
    return Call("POST", f"/v1/duplicates/groups/{group_id}/resolve", model(Group), json=_body(body))


def dismiss_group(group_id: int) -> Call[Group]:
    return Call("POST", f"/v1/duplicates/groups/{group_id}/dismiss", model(Group))


def detect_duplicates(full: bool) -> Call[JobInfo]:
    return Call("POST", "/v1/duplicates/detect", model(JobInfo), json={"full": full})


def check_duplicate(image: Image) -> Call[CheckResponse]:
    return Call(
        "POST", "/v1/duplicates/check", model(CheckResponse), files=[("file", _upload(image, "check"))]
    )


def create_saved_search(name: str, request: SearchRequest) -> Call[SavedSearchOut]:
    body = SavedSearchIn(name=name, query=request)
    return Call("POST", "/v1/saved-searches", model(SavedSearchOut), json=_body(body))


def saved_searches() -> Call[list[SavedSearchOut]]:
    return Call("GET", "/v1/saved-searches", model(list[SavedSearchOut]))


def saved_search(search_id: int, mark_viewed: bool) -> Call[SavedSearchResults]:
    params = {"mark_viewed": str(mark_viewed).lower()}
    return Call("GET", f"/v1/saved-searches/{search_id}", model(SavedSearchResults), params=params)


def refresh_saved_search(search_id: int) -> Call[SavedSearchOut]:
    return Call("POST", f"/v1/saved-searches/{search_id}/refresh", model(SavedSearchOut))


def delete_saved_search(search_id: int) -> Call[None]:
    return Call("DELETE", f"/v1/saved-searches/{search_id}", lambda response: None)


def test_webhook() -> Call[TestEventOut]:
    return Call("POST", "/v1/webhooks/test", model(TestEventOut))


def webhook_deliveries(limit: int) -> Call[list[DeliveryOut]]:
    return Call("GET", "/v1/webhooks/deliveries", model(list[DeliveryOut]), params={"limit": limit})


def apply_decisions(dry_run: bool) -> Call[ApplyResponse]:
    return Call("POST", "/v1/duplicates/apply", model(ApplyResponse), json={"dry_run": dry_run})


def apply_runs() -> Call[ApplyRuns]:
    return Call("GET", "/v1/duplicates/apply", model(ApplyRuns))


def undo_apply(run: str) -> Call[ApplyResponse]:
    return Call("POST", f"/v1/duplicates/apply/{run}/undo", model(ApplyResponse))


def export_duplicates(fmt: str, status: str | None) -> Call[Any]:
    read = as_json if fmt == "json" else (lambda response: response.text)
    return Call("GET", "/v1/duplicates/export", read, params={"format": fmt, "status": status})


def curate(command: str, body: Mapping[str, Any]) -> Call[CurationReport]:
    return Call("POST", f"/v1/curation/{command}", model(CurationReport), json=dict(body))


def curation_job(command: str, params: Mapping[str, Any]) -> Call[JobInfo]:
    body = {"command": command, "params": dict(params)}
    return Call("POST", "/v1/curation/jobs", model(JobInfo), json=body)


def curation_scores(order: str, offset: int, limit: int) -> Call[ScorePage]:
    params = {"order": order, "offset": offset, "limit": limit}
    return Call("GET", "/v1/curation/scores", model(ScorePage), params=params)


def compute_map(method: str | None) -> Call[MapSummary]:
    return Call("POST", "/v1/curation/map", model(MapSummary), json={"method": method})


def collection_map() -> Call[Any]:
    return Call("GET", "/v1/curation/map", as_json)


def selections() -> Call[SelectionList]:
    return Call("GET", "/v1/selections", model(SelectionList))


def selection(name: str, offset: int, limit: int) -> Call[SelectionDetail]:
    params = {"offset": offset, "limit": limit}
    return Call("GET", f"/v1/selections/{name}", model(SelectionDetail), params=params)


def save_selection(name: str, ids: Sequence[int], method: str) -> Call[SelectionInfo]:
    body = {"name": name, "ids": list(ids), "method": method}
    return Call("POST", "/v1/selections", model(SelectionInfo), json=body)


def delete_selection(name: str) -> Call[None]:
    return Call("DELETE", f"/v1/selections/{name}", lambda response: None)


FINISHED = ("done", "failed", "cancelled")
