"""Search routes: by text, by uploaded image, by cataloged image."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.deps import SearchDep, SessionDep, SettingsDep
from api.schemas import SearchHit, SearchResponse, TextSearchRequest
from api.uploads import read_upload
from search.service import Filters, Hit

router = APIRouter(prefix="/v1", tags=["search"])


def _response(hits: list[Hit]) -> SearchResponse:
    return SearchResponse(results=[SearchHit(**hit.as_dict()) for hit in hits])  # type: ignore[arg-type]


@router.post("/search/text", response_model=SearchResponse)
def search_text(body: TextSearchRequest, session: SessionDep, search: SearchDep) -> SearchResponse:
    """Images that match a natural-language description, best first."""
    filters = Filters(bucket=body.bucket, key_prefix=body.key_prefix)
    hits = search.search_text(session, body.text, k=body.k, min_score=body.min_score, filters=filters)
    return _response(hits)


@router.post("/search/image", response_model=SearchResponse)
async def search_image(
    file: Annotated[UploadFile, File(description="A JPEG, PNG, WebP, GIF, BMP or TIFF image.")],
    session: SessionDep,
    search: SearchDep,
    settings: SettingsDep,
    k: Annotated[int, Form(ge=1, le=1000)] = 10,
    min_score: Annotated[float | None, Form(ge=-1.0, le=1.0)] = None,
    bucket: Annotated[str | None, Form()] = None,
    key_prefix: Annotated[str | None, Form()] = None,
) -> SearchResponse:
    """Images that look like the uploaded one (multipart upload)."""
    data = await read_upload(file, settings.max_upload_bytes)
    filters = Filters(bucket=bucket, key_prefix=key_prefix)

    def run() -> list[Hit]:
        vector = search.embed_image_bytes(data)
        return search.search_vector(session, vector, k=k, min_score=min_score, filters=filters)

    return _response(await run_in_threadpool(run))


@router.get("/images/{image_id}/similar", response_model=SearchResponse)
def similar_images(
    image_id: int,
    session: SessionDep,
    search: SearchDep,
    k: int = 10,
    min_score: float | None = None,
    include_self: bool = False,
    bucket: str | None = None,
    key_prefix: str | None = None,
) -> SearchResponse:
    """Images similar to one already in the catalog (itself excluded unless asked)."""
    filters = Filters(bucket=bucket, key_prefix=key_prefix)
    hits = search.search_image_id(
        session, image_id, k=k, min_score=min_score, filters=filters, include_self=include_self
    )
    return _response(hits)
