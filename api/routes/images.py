"""Image routes: catalog metadata and the original bytes of cataloged images."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from pixseek.access.scopes import Scope
from pixseek.api.auth import PrincipalDep, requires, uncounted
from pixseek.api.contract import errors
from pixseek.api.deps import SessionDep, SettingsDep
from pixseek.api.ranges import byte_range
from pixseek.api.schemas.images import ImageInfo, ImageTextOut, PhotoOut, PlaceOut, TwinOut, WordOut
from pixseek.core.db import session_scope
from pixseek.core.errors import ImageNotFound
from pixseek.core.settings import Settings
from pixseek.index.catalog.exif import ImageExif, get_exif, twins_of
from pixseek.index.catalog.images import SEARCHABLE, VIDEO, ImageStatus, get_image, get_searchable_image
from pixseek.index.catalog.ocr import get_ocr
from pixseek.index.catalog.tags import tags_of
from pixseek.index.catalog.thumbnails import Thumbnail, ThumbnailStore, get_thumbnail
from pixseek.ingest.thumbnailing import backfill_thumbnails
from pixseek.media.cataloged import read_cataloged
from pixseek.media.decode import SNIFF_BYTES, sniff
from pixseek.media.formats import MEDIA_TYPES, RAW_FORMATS
from pixseek.media.sources import SourceError, open_source
from pixseek.media.video import VIDEO_MEDIA_TYPES

router = APIRouter(prefix="/v1/images", tags=["images"], dependencies=[requires(Scope.SEARCH)])

# A thumbnail's URL names its content (`v`, the original's sha256 prefix), so a browser may
# keep it for good; a URL without it is revalidated by ETag.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

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
    exif = get_exif(session, image_id)
    info.photo = None if exif is None else photo_out(exif)
    info.twins = [TwinOut(id=t.id, key=t.key, format=t.format) for t in twins_of(session, image_id)]
    return info


def photo_out(exif: ImageExif) -> PhotoOut:
    place = None
    if exif.country_code or exif.city:
        place = PlaceOut(
            country_code=exif.country_code, country=exif.country, city=exif.city, state=exif.state
        )
    return PhotoOut(
        camera=exif.camera,
        camera_make=exif.camera_make,
        camera_model=exif.camera_model,
        lens=exif.lens,
        focal_length=exif.focal_length,
        focal_length_35mm=exif.focal_length_35mm,
        exposure_time=exif.exposure_time,
        f_number=exif.f_number,
        iso=exif.iso,
        orientation=exif.orientation,
        latitude=exif.latitude,
        longitude=exif.longitude,
        altitude=exif.altitude,
        place=place,
        problems=exif.problems.split("; ") if exif.problems else [],
    )


@router.get(
    "/{image_id}/file",
    response_class=Response,
    responses={
        200: {"content": {v: {} for v in {*MEDIA_TYPES.values(), *VIDEO_MEDIA_TYPES.values()}}},
        206: {"description": "A part of a video (`Range`)."},
        **errors(416),
    },
)
def image_file(
    image_id: int,
    session: SessionDep,
    settings: SettingsDep,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> Response:
    """The original bytes of a cataloged image, with its content type; for a video (or one of
    its segments), the video, in parts when the player asks with `Range`.

    Only the catalog's (bucket, key) of the id is read, so no request value ever names a path.
    A plain `def`: FastAPI runs it on a worker thread, so its SQL and file reads never block
    the event loop.
    """
    image = get_image(session, image_id)
    if image.status in (ImageStatus.DELETED, ImageStatus.SKIPPED, ImageStatus.FAILED):
        raise ImageNotFound(f"image {image_id} is {image.status}")
    if image.media == VIDEO:
        video = get_image(session, image.parent_id) if image.parent_id is not None else image
        return _video_part(settings, video.id, video.bucket, video.key, video.format, range_header)

    data = read_cataloged(settings, image_id, image.bucket, image.key)
    fmt = sniff(data[:SNIFF_BYTES])
    if fmt is None:
        raise ImageNotFound(f"image {image_id} changed on disk and is no longer an image")
    if image.format in RAW_FORMATS and fmt in ("TIFF", image.format):
        fmt = image.format  # a TIFF-based RAW is served as what it is (image/x-adobe-dng, ...)
    return Response(
        content=data, media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": "private, max-age=60"}
    )


def _video_part(
    settings: Settings, video_id: int, bucket: str, key: str, fmt: str | None, range_header: str | None
) -> Response:
    """A video whole (small ones, or a client that asks no range) or the part asked for (206)."""
    media_type = VIDEO_MEDIA_TYPES.get(fmt or "", "application/octet-stream")
    limit = max(settings.max_file_bytes, settings.video.max_bytes)
    try:
        source = open_source(bucket, settings)
        _, total = source.read_range(key, 0, 0, limit)
        wanted = byte_range(range_header, total)
        first, last = wanted if wanted is not None else (0, total - 1)
        data, total = source.read_range(key, first, last - first + 1, limit)
    except SourceError as exc:
        raise ImageNotFound(f"video {video_id} cannot be read from its bucket: {exc}") from exc
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=60"}
    if wanted is None:
        return Response(content=data, media_type=media_type, headers=headers)
    headers["Content-Range"] = f"bytes {first}-{first + len(data) - 1}/{total}"
    return Response(content=data, status_code=206, media_type=media_type, headers=headers)


@router.get(
    "/{image_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/webp": {}}}, 304: {"description": "Not modified (If-None-Match)."}},
)
@uncounted  # a page shows dozens; each is a file read or a 304
def image_thumbnail(
    image_id: int,
    settings: SettingsDep,
    size: Annotated[
        int, Query(ge=1, le=4096, description="Longest side wanted; the next size made is served.")
    ] = 256,
    v: Annotated[
        str | None,
        Query(max_length=64, description="The image's sha256 (or a prefix): makes the URL immutable."),
    ] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A WebP thumbnail of an indexed image: made at ingest, or from the original when first asked for.

    The ETag names the original's content, so it only changes when the file does; with `v`
    matching the content the answer may be cached for a year.
    """
    if not settings.thumbnail_sizes:
        raise ImageNotFound("thumbnails are turned off (PIXSEEK_THUMBNAIL_SIZES is empty)")
    made = _served_size(settings, size)
    thumb, data = _thumbnail(settings, image_id, made)
    if thumb is None or data is None:  # a size ingest does not make, or an image from before
        backfill_thumbnails(settings, [image_id], sizes=[made])
        thumb, data = _thumbnail(settings, image_id, made)
    for size in sorted(settings.thumbnail_ingest_sizes, reverse=True):
        if thumb is not None and data is not None:
            break
        # A video's segment has no file of its own to make another size from: the largest made.
        thumb, data = _thumbnail(settings, image_id, size)
    if thumb is None or data is None:
        raise ImageNotFound(f"image {image_id} has no thumbnail: its file cannot be read")
    fresh = v is not None and len(v) >= 8 and thumb.sha256.startswith(v.lower())
    headers = {"ETag": thumb.etag, "Cache-Control": IMMUTABLE if fresh else REVALIDATE}
    if if_none_match is not None and _matches(if_none_match, thumb.etag):
        return Response(status_code=304, headers=headers)
    return Response(content=data, media_type="image/webp", headers=headers)


def _served_size(settings: Settings, size: int) -> int:
    """The smallest size made that is at least `size`, else the largest."""
    return next((s for s in settings.thumbnail_sizes if s >= size), settings.thumbnail_sizes[-1])


def _thumbnail(settings: Settings, image_id: int, size: int) -> tuple[Thumbnail | None, bytes | None]:
    with session_scope(settings) as session:
        image = get_image(session, image_id)
        if image.status not in SEARCHABLE:
            raise ImageNotFound(f"image {image_id} is {image.status}")
        thumb = get_thumbnail(session, image_id, size)
        if thumb is None or thumb.sha256 != image.sha256:
            return None, None
        session.expunge(thumb)
    return thumb, ThumbnailStore(settings.thumbnail_dir).read(image_id, size)


def _matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match compares weakly (RFC 9110 13.1.2): a W/ prefix does not matter."""
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


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
