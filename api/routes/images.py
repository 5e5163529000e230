"""Image routes: catalog metadata and the original bytes of cataloged images."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from pixseek.access.scopes import Scope
from pixseek.api.auth import PrincipalDep, requires
from pixseek.api.deps import SessionDep, SettingsDep
from pixseek.api.schemas import ImageInfo
from pixseek.core.errors import ImageNotFound
from pixseek.index.catalog import ImageStatus, get_image
from pixseek.media.cataloged import read_cataloged
from pixseek.media.decode import SNIFF_BYTES, sniff
from pixseek.media.formats import MEDIA_TYPES

router = APIRouter(prefix="/v1/images", tags=["images"], dependencies=[requires(Scope.SEARCH)])

# Files ingest refused or could not read: what they hold is no business of search-only keys.
REJECTED = (ImageStatus.SKIPPED, ImageStatus.FAILED)


@router.get("/{image_id}", response_model=ImageInfo)
def image_info(image_id: int, session: SessionDep, principal: PrincipalDep) -> ImageInfo:
    """Everything the catalog records about one file (a rejected file's sha256 only for ingest keys)."""
    info = ImageInfo.model_validate(get_image(session, image_id), from_attributes=True)
    if info.status in REJECTED and not principal.allows(Scope.INGEST):
        info.sha256 = None
    return info


@router.get(
    "/{image_id}/file",
    response_class=Response,
    responses={200: {"content": {v: {} for v in MEDIA_TYPES.values()}}},
)
def image_file(image_id: int, session: SessionDep, settings: SettingsDep) -> Response:
    """The original bytes of a cataloged image, with its content type.

    Only the catalog's (bucket, key) of the id is read, so no request value ever names a path.
    A plain `def`: FastAPI runs it on a worker thread, so its SQL and file reads never block
    the event loop.
    """
    image = get_image(session, image_id)
    if image.status in (ImageStatus.DELETED, ImageStatus.SKIPPED, ImageStatus.FAILED):
        raise ImageNotFound(f"image {image_id} is {image.status}")

    data = read_cataloged(settings, image_id, image.bucket, image.key)
    fmt = sniff(data[:SNIFF_BYTES])
    if fmt is None:
        raise ImageNotFound(f"image {image_id} changed on disk and is no longer an image")
    return Response(
        content=data, media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": "private, max-age=60"}
    )
