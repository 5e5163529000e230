"""Reading a cataloged file again, for whoever shows it: the API's original bytes, heatmaps."""

from __future__ import annotations

from pixseek.core.errors import ImageNotFound
from pixseek.core.settings import Settings
from pixseek.media.sources import SourceError, open_source


def read_cataloged(settings: Settings, image_id: int, bucket: str, key: str) -> bytes:
    """The bytes of image `image_id` from the catalog's (bucket, key), never a path from a request.

    Raises:
        ImageNotFound: the file is gone, unreadable or now over the size limit.
    """
    try:
        return open_source(bucket, settings).read(key, settings.max_file_bytes)
    except SourceError as exc:
        raise ImageNotFound(f"image {image_id} cannot be read from its bucket: {exc}") from exc
