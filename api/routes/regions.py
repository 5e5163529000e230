"""Region routes: search by best-matching region, and the score map of one image."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from pixseek.access.scopes import Scope
from pixseek.api.auth import requires
from pixseek.api.contract import errors
from pixseek.api.deps import RegionsDep, SessionDep, SettingsDep
from pixseek.api.schemas.regions import (
    RegionCoverage,
    RegionSearchHit,
    RegionSearchRequest,
    RegionSearchResponse,
)
from pixseek.api.uploads import read_upload
from pixseek.index.catalog.images import get_searchable_image
from pixseek.search.heatmap import displayed_image, render_heatmap
from pixseek.search.limits import MAX_SMOOTH
from pixseek.search.regions import RegionHit, RegionSearchService
from pixseek.search.service import Filters

router = APIRouter(prefix="/v1", tags=["regions"], dependencies=[requires(Scope.SEARCH)])


def _response(hits: list[RegionHit], regions: RegionSearchService) -> RegionSearchResponse:
    coverage = regions.coverage()
    return RegionSearchResponse(
        results=[RegionSearchHit(**hit.as_dict()) for hit in hits],  # type: ignore[arg-type]
        coverage=RegionCoverage(**coverage) if coverage else None,
    )


@router.post("/search/regions", response_model=RegionSearchResponse, responses=errors(404, 409))
def search_regions(
    body: RegionSearchRequest, session: SessionDep, regions: RegionsDep
) -> RegionSearchResponse:
    """Images ranked by the region that best matches a text, or a region of another image.

    With `region`, the query is the box drawn on a cataloged image (made from its stored
    patches, no model run); that image is left out of the results unless
    `include_query_image`. Each result carries the box of its best-matching region.
    """
    filters = Filters(bucket=body.bucket, key_prefix=body.key_prefix)
    if body.region is not None:
        hits = regions.search_region(
            session,
            body.region.image_id,
            body.region.box,
            include_query_image=body.include_query_image,
            k=body.k,
            smooth=body.smooth,
            cls_weight=body.cls_weight,
            min_score=body.min_score,
            filters=filters,
        )
    else:
        assert body.text is not None
        hits = regions.search_text(
            session,
            body.text,
            k=body.k,
            smooth=body.smooth,
            cls_weight=body.cls_weight,
            min_score=body.min_score,
            filters=filters,
        )
    return _response(hits, regions)


@router.post("/search/regions/image", response_model=RegionSearchResponse, responses=errors(409, 415))
async def search_regions_by_image(
    file: Annotated[UploadFile, File(description="A picture of the thing sought, e.g. a crop.")],
    session: SessionDep,
    regions: RegionsDep,
    settings: SettingsDep,
    k: Annotated[int, Form(ge=1)] = 10,
    smooth: Annotated[int, Form(ge=0, le=MAX_SMOOTH)] = 0,
    cls_weight: Annotated[float, Form(ge=0.0, le=1.0)] = 0.0,
    min_score: Annotated[float | None, Form(ge=-1.0, le=1.0)] = None,
    bucket: Annotated[str | None, Form()] = None,
    key_prefix: Annotated[str | None, Form()] = None,
) -> RegionSearchResponse:
    """Images ranked by the region that best matches an uploaded picture."""
    data = await read_upload(file, settings.max_upload_bytes)
    filters = Filters(bucket=bucket, key_prefix=key_prefix)

    def run() -> list[RegionHit]:
        return regions.search_image_bytes(
            session, data, k=k, smooth=smooth, cls_weight=cls_weight, min_score=min_score, filters=filters
        )

    return _response(await run_in_threadpool(run), regions)


@router.get(
    "/images/{image_id}/heatmap",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "application/json": {}}}, **errors(409)},
)
def image_heatmap(
    image_id: int,
    session: SessionDep,
    regions: RegionsDep,
    settings: SettingsDep,
    text: Annotated[str, Query(min_length=1)],
    smooth: Annotated[int, Query(ge=0, le=MAX_SMOOTH)] = 0,
    format: Annotated[Literal["png", "json"], Query()] = "png",
) -> Response:
    """Where in the image a text matches: a PNG overlay the size of the image, or the score grid."""
    row = get_searchable_image(session, image_id)
    vector = regions.text_vector(text)
    result = regions.image_regions(session, image_id, vector, smooth=smooth)
    if format == "json":
        body: dict[str, Any] = {
            "id": image_id,
            "width": result.width,
            "height": result.height,
            "grid": list(result.scores.shape),
            "crop": result.crop,
            "scores": [[round(float(v), 6) for v in line] for line in result.scores],
            "region_score": round(result.region_score, 6),
            "cell": list(result.cell),
            "box": result.box,
        }
        return JSONResponse(body)
    png = render_heatmap(displayed_image(settings, row), result.scores, result.crop)
    return Response(content=png, media_type="image/png", headers={"Cache-Control": "private, max-age=60"})
