"""Image routes: catalog metadata and the original bytes of cataloged images."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from pixseek.access.scopes import Scope
from pixseek.api.auth import PrincipalDep, requires
from pixseek.api.deps import SessionDep, SettingsDep
from pixseek.api.schemas import ImageInfo
from pixseek.core.errors import ImageNotFound
from pixseek.index.catalog import ImageStatus, get_image, get_searchable_image
from pixseek.index.ocr import get_ocr
from pixseek.index.tags import tags_of
from pixseek.media.cataloged import read_cataloged
from pixseek.media.decode import sniff
from pixseek.media.formats import MEDIA_TYPES

router = APIRouter(prefix="/v1/images", tags=["images"], dependencies=[requires(Scope.SEARCH)])

# Files ingest refused or could not read: what they hold is no business of search-only keys.
REJECTED = (ImageStatus.SKIPPED, ImageStatus.FAILED)


@router.get("/{image_id}", response_model=ImageInfo)
def image_info(image_id: int, session: SessionDep, principal: PrincipalDep) -> ImageInfo:
    """Everything the catalog records about one file, and its tags (a rejected file's sha256 only
    for ingest keys)."""
    info = ImageInfo.model_validate(get_image(session, image_id), from_attributes=True)
    if info.status in REJECTED and not principal.allows(Scope.INGEST):
        info.sha256 = None
    info.tags = {tag: round(score, 6) for tag, score in tags_of(session, [image_id]).get(image_id, [])}
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
    fmt = sniff(data[:16])
    if fmt is None:
        raise ImageNotFound(f"image {image_id} changed on disk and is no longer an image")
    return Response(
        content=data, media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": "private, max-age=60"}
    )


class WordOut(BaseModel):
    text: str
    box: tuple[int, int, int, int] = Field(description="left, top, right, bottom in displayed-image pixels")
    confidence: float = Field(description="Tesseract's confidence, 0-100")


class ImageTextOut(BaseModel):
    image_id: int
    status: Literal["read", "pending", "off"] = Field(
        description="read: the words below; pending: not read yet (or the file changed since); "
        "off: OCR is not enabled (PIXSEEK_OCR__ENABLED)"
    )
    languages: str | None = Field(default=None, description="Tesseract language packs used, e.g. eng+deu")
    words: list[WordOut] = Field(default_factory=list, description="In reading order")
    text: str = Field(default="", description="The words joined by spaces")
    error: str | None = Field(default=None, description="Why the image could not be read, when it could not")


@router.get("/{image_id}/text", response_model=ImageTextOut)
def image_text(image_id: int, session: SessionDep, settings: SettingsDep) -> ImageTextOut:
    """The words read in an image (OCR), each with its box, to show them over the picture."""
    image = get_searchable_image(session, image_id)
    row = get_ocr(session, image_id)
    if row is None or row.sha256 != image.sha256:
        return ImageTextOut(image_id=image_id, status="pending" if settings.ocr.enabled else "off")
    words = [WordOut.model_validate(w) for w in row.words]
    return ImageTextOut(
        image_id=image_id,
        status="read",
        languages=row.languages,
        words=words,
        text=" ".join(w.text for w in words),
        error=row.error,
    )
