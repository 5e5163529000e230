"""Pick the source for a bucket URI."""

from __future__ import annotations

from ingest.sources.base import BucketSource
from ingest.sources.local import LocalSource
from pixseek.errors import InvalidRequest
from pixseek.settings import Settings


def open_source(uri: str, settings: Settings) -> BucketSource:
    """The source for `uri`: a local folder path (or `file://` URI), or `s3://bucket/prefix`."""
    if "://" in uri:
        scheme = uri.split("://", 1)[0].lower()
        if scheme == "file":
            return LocalSource(uri[len("file://") :])
        if scheme == "s3":
            from ingest.sources.s3 import S3Source

            return S3Source(uri, settings)
        raise InvalidRequest(f"unsupported bucket scheme {scheme!r}: use a local folder path or s3://")
    return LocalSource(uri)
