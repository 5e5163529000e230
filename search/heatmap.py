"""Draw a patch score map over its image: a PNG the size of the displayed image."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from pixseek.core.errors import ImageNotFound
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import SEGMENT_MARK
from pixseek.index.catalog.images import Image as CatalogImage
from pixseek.media.cataloged import read_cataloged
from pixseek.media.decode import DecodeError, decode_image
from pixseek.media.sources import SourceError, open_source
from pixseek.media.video import VideoLimits, frame_at

# A perceptually ordered ramp (dark blue, cyan, yellow, red) as (position, RGB) stops.
_STOPS = np.array([0.0, 0.35, 0.7, 1.0])
_COLOURS = np.array([[20, 30, 140], [0, 200, 220], [250, 220, 40], [220, 30, 30]], dtype=np.float32)
ALPHA = 0.55  # share of the overlay colour inside the region the model saw
OUTSIDE_DIM = 0.45  # brightness kept outside it, where there are no scores


def colourise(values: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] to (H, W, 3) float RGB by the ramp above."""
    flat = np.clip(values, 0.0, 1.0).reshape(-1)
    rgb = np.stack([np.interp(flat, _STOPS, _COLOURS[:, ch]) for ch in range(3)], axis=-1)
    return rgb.reshape((*values.shape, 3))


def normalise(scores: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] within the image; a flat map is all zeros (nothing stands out)."""
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo < 1e-9:
        return np.zeros_like(scores, dtype=np.float32)
    result: np.ndarray = ((scores - lo) / (hi - lo)).astype(np.float32)
    return result


def render_heatmap(image: Image.Image, scores: np.ndarray, crop: list[int]) -> bytes:
    """PNG bytes of `image` with `scores` (grid) stretched over `crop` [x0, y0, x1, y1].

    Each cell is drawn over exactly the pixels its box covers, interpolated bilinearly
    between cell centres; pixels the model never saw (outside the crop) are dimmed.
    """
    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    out = base * OUTSIDE_DIM
    x0, y0, x1, y1 = crop
    if x1 > x0 and y1 > y0:
        grid = Image.fromarray(normalise(scores), mode="F")
        stretched = np.asarray(grid.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR), dtype=np.float32)
        colour = colourise(stretched)
        inside = base[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = (1.0 - ALPHA) * inside + ALPHA * colour
    buf = io.BytesIO()
    Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def displayed_image(settings: Settings, row: CatalogImage) -> Image.Image:
    """The cataloged image as displayed (EXIF orientation applied), at full size.

    Raises:
        ImageNotFound: the file is gone, or changed since it was indexed.
    """
    if row.parent_id is not None and row.frame_s is not None:
        return _segment_frame(settings, row)
    data = read_cataloged(settings, row.id, row.bucket, row.key)
    try:
        decoded = decode_image(data, max_pixels=settings.max_image_pixels)
    except DecodeError as exc:
        raise ImageNotFound(f"image {row.id} is no longer a readable image: {exc.detail}") from exc
    if decoded.image.size != (row.width, row.height):
        raise ImageNotFound(f"image {row.id} changed on disk since it was indexed; re-ingest its bucket")
    return decoded.image


def _segment_frame(settings: Settings, row: CatalogImage) -> Image.Image:
    """A video segment's representative frame, decoded again from its video."""
    key = row.key.rsplit(SEGMENT_MARK, 1)[0]
    try:
        data = open_source(row.bucket, settings).read(
            key, max(settings.max_file_bytes, settings.video.max_bytes)
        )
        frame = frame_at(
            data, row.format or "MP4", row.frame_s or 0.0, VideoLimits(max_pixels=settings.max_image_pixels)
        )
    except (SourceError, DecodeError) as exc:
        raise ImageNotFound(f"image {row.id} is a video frame that cannot be read again: {exc}") from exc
    if frame.size != (row.width, row.height):
        raise ImageNotFound(f"image {row.id} changed on disk since it was indexed; re-ingest its bucket")
    return frame.convert("RGB")
