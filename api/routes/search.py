"""Search routes: composed queries (JSON or multipart), and the single-part shortcuts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from pixseek.access.scopes import Scope
from pixseek.api.auth import requires
from pixseek.api.contract import errors
from pixseek.api.deps import SearchDep, SessionDep, SettingsDep
from pixseek.api.schemas.search import (
    FiltersQuery,
    MultipartSearchRequest,
    SearchRequest,
    SearchResponse,
    TextSearchRequest,
)
from pixseek.api.uploads import read_upload
from pixseek.core.metrics import SEARCH_SECONDS
from pixseek.media.formats import UPLOAD_DESCRIPTION
from pixseek.search.filters import Filters
from pixseek.search.query import ImagePart, SearchPage, TextPart
from pixseek.search.query import Query as SearchQuery

router = APIRouter(prefix="/v1", tags=["search"], dependencies=[requires(Scope.SEARCH)])

SIMILAR_MODE = "similar"  # the search-latency label of /similar: semantic, by a cataloged image

MULTIPART_QUERY_EXAMPLE = (
    '{"parts": [{"upload": 0, "weight": 1.0}, {"text": "at night", "weight": 0.5}], "limit": 20}'
)


@router.post("/search", response_model=SearchResponse, responses=errors(404, 409))
def search(body: SearchRequest, session: SessionDep, search: SearchDep) -> SearchResponse:
    """Search by a weighted sum of texts and cataloged images, with filters and pages.

    Negative weights push results away from a part ("beach", minus "people"). Modes:
    `semantic` ranks by cosine similarity, `keyword` by words in file names, folders and
    captions, `hybrid` fuses both by reciprocal rank. Uploaded images: use
    `POST /v1/search/multipart`.
    """
    query = body.to_query()
    with SEARCH_SECONDS.labels(query.mode).time():
        page = search.search(session, query)
    return SearchResponse.from_page(page)


@router.post("/search/multipart", response_model=SearchResponse, responses=errors(404, 409, 415))
async def search_multipart(
    session: SessionDep,
    search: SearchDep,
    settings: SettingsDep,
    query: Annotated[
        str,
        Form(
            description='A SearchRequest as JSON; parts name uploads by position: `{"upload": 0}`.',
            examples=[MULTIPART_QUERY_EXAMPLE],
        ),
    ],
    images: Annotated[
        list[UploadFile] | None, File(description="Images the query's `upload` parts refer to.")
    ] = None,
) -> SearchResponse:
    """Like `POST /v1/search`, with uploaded images as query parts (multipart form)."""
    try:
        body = MultipartSearchRequest.model_validate_json(query)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**err, "loc": ("body", "query", *err["loc"])} for err in exc.errors()]
        ) from exc
    uploads = [
        (upload.filename or f"upload-{i}", await read_upload(upload, settings.max_upload_bytes))
        for i, upload in enumerate(images or [])
    ]
    search_query = body.to_query(uploads)
    with SEARCH_SECONDS.labels(search_query.mode).time():
        page = await run_in_threadpool(search.search, session, search_query)
    return SearchResponse.from_page(page)


@router.post("/search/text", response_model=SearchResponse, responses=errors(409))
def search_text(body: TextSearchRequest, session: SessionDep, search: SearchDep) -> SearchResponse:
    """Images that match a natural-language description, best first."""
    query = SearchQuery(
        parts=(TextPart(body.text),),
        filters=Filters(bucket=body.bucket, key_prefix=body.key_prefix),
        limit=body.k,
        offset=body.offset,
        min_score=body.min_score,
    )
    with SEARCH_SECONDS.labels(query.mode).time():
        page = search.search(session, query)
    return SearchResponse.from_page(page)


@router.post("/search/image", response_model=SearchResponse, responses=errors(409, 415))
async def search_image(
    file: Annotated[UploadFile, File(description=UPLOAD_DESCRIPTION)],
    session: SessionDep,
    search: SearchDep,
    settings: SettingsDep,
    k: Annotated[int, Form(ge=1)] = 10,
    offset: Annotated[int, Form(ge=0)] = 0,
    min_score: Annotated[float | None, Form(ge=-1.0, le=1.0)] = None,
    bucket: Annotated[str | None, Form()] = None,
    key_prefix: Annotated[str | None, Form()] = None,
) -> SearchResponse:
    """Images that look like the uploaded one (multipart upload)."""
    data = await read_upload(file, settings.max_upload_bytes)
    query = SearchQuery(
        parts=(ImagePart(data, name=file.filename or "upload"),),
        filters=Filters(bucket=bucket, key_prefix=key_prefix),
        limit=k,
        offset=offset,
        min_score=min_score,
    )
    with SEARCH_SECONDS.labels(query.mode).time():
        page: SearchPage = await run_in_threadpool(search.search, session, query)
    return SearchResponse.from_page(page)


@router.get("/images/{image_id}/similar", response_model=SearchResponse, responses=errors(400, 409))
def similar_images(
    image_id: int,
    session: SessionDep,
    search: SearchDep,
    filters: Annotated[FiltersQuery, Query()],
    k: Annotated[int, Query(ge=1, description="Results per page.")] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
    min_score: Annotated[float | None, Query(ge=-1.0, le=1.0)] = None,
    include_self: Annotated[bool, Query(description="Keep the image itself in the results.")] = False,
    exclude_duplicates: Annotated[
        bool, Query(description="Also leave out exact copies of the image (same sha256).")
    ] = False,
    explain: bool = False,
) -> SearchResponse:
    """Images similar to one already in the catalog (itself excluded unless asked)."""
    with SEARCH_SECONDS.labels(SIMILAR_MODE).time():
        page = search.similar(
            session,
            image_id,
            limit=k,
            offset=offset,
            min_score=min_score,
            filters=filters.to_filters(),
            include_self=include_self,
            exclude_duplicates=exclude_duplicates,
            explain=explain,
        )
    return SearchResponse.from_page(page)
