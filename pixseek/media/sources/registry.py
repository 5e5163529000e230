"""Pick the source for a bucket URI."""

from __future__ import annotations

from pixseek.core.errors import InvalidRequest
from pixseek.core.settings import Settings
from pixseek.media.sources.base import BucketSource
from pixseek.media.sources.local import LocalSource


def open_source(uri: str, settings: Settings) -> BucketSource:
    """The source for `uri`: a local folder path (or `file://` URI), or `s3://bucket/prefix`."""
    if "://" in uri:
        scheme = uri.split("://", 1)[0].lower()
        if scheme == "file":
            return LocalSource(uri[len("file://") :])
        if scheme == "s3":
            from pixseek.media.sources.s3 import S3Source

            return S3Source(uri, settings)
        raise InvalidRequest(f"unsupported bucket scheme {scheme!r}: use a local folder path or s3://")
    return LocalSource(uri)
