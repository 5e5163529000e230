"""An S3-compatible bucket (AWS, MinIO, Ceph, ...) under a prefix, through boto3.

`s3://bucket/prefix` is the bucket pixseek records; keys are object keys relative to the
prefix, so the same photos give the same keys in a folder and in object storage. Listing
gives size, ETag and last-modified time for the incremental check; reads are single
ranged GETs that stop one byte past the size limit.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from typing import Any

from pixseek.core.errors import BucketNotFound, InvalidRequest
from pixseek.core.settings import Settings
from pixseek.media.sources.base import BucketSource, Entry, FileTooLarge, KeyRefused, SourceError

log = logging.getLogger(__name__)

SCHEME = "s3://"
_MISSING = ("NoSuchKey", "404", "NotFound")


@functools.lru_cache(maxsize=8)
def _client(endpoint_url: str | None, region: str | None, key_id: str | None, secret: str | None) -> Any:
    """One boto3 client per configuration (clients are thread-safe; sessions are not)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32),
    )


def s3_client(settings: Settings) -> Any:
    """The client for the S3 settings; unset values fall back to boto3's usual chain."""
    secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None
    return _client(settings.s3_endpoint_url, settings.s3_region, settings.s3_access_key_id, secret)


def parse_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> (`bucket`, `some/prefix`)."""
    if not uri.lower().startswith(SCHEME):
        raise InvalidRequest(f"not an s3:// URI: {uri}")
    name, _, prefix = uri[len(SCHEME) :].partition("/")
    if not name:
        raise InvalidRequest(f"no bucket name in {uri}")
    return name, prefix.strip("/")


def _hidden(parts: list[str]) -> bool:
    return any(part.startswith(".") for part in parts)


class S3Source(BucketSource):
    """Objects under `s3://name/prefix`; keys are relative to the prefix."""

    def __init__(self, uri: str, settings: Settings) -> None:
        self.name, self.prefix = parse_uri(uri)
        self.bucket = f"{SCHEME}{self.name}/{self.prefix}" if self.prefix else f"{SCHEME}{self.name}"
        self.client = s3_client(settings)

    def _object_key(self, key: str) -> str:
        parts = key.split("/")
        if not key or key.startswith("/") or "\x00" in key or any(p in ("", ".", "..") for p in parts):
            raise KeyRefused(f"invalid key: {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def list(self) -> Iterator[Entry]:
        from botocore.exceptions import ClientError

        paginator = self.client.get_paginator("list_objects_v2")
        start = f"{self.prefix}/" if self.prefix else ""
        try:
            # S3 lists keys in UTF-8 binary order, which is the stable order callers want.
            for page in paginator.paginate(Bucket=self.name, Prefix=start):
                for obj in page.get("Contents", []):
                    entry = self._entry(obj, obj["Key"][len(start) :])
                    if entry is not None:
                        yield entry
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchBucket", "404"):
                raise BucketNotFound(f"S3 bucket does not exist: {self.name}") from exc
            raise BucketNotFound(f"cannot list {self.bucket}: {code or exc}") from exc

    def _entry(self, obj: dict[str, Any], key: str) -> Entry | None:
        if not key or key.endswith("/"):
            return None  # the prefix itself, or a folder marker made by a console
        parts = key.split("/")
        if _hidden(parts[:-1]):
            return None  # like a hidden folder on disk: not walked at all
        if _hidden(parts[-1:]):
            return Entry(key, skip="hidden file")
        if any(p in ("", ".", "..") for p in parts):
            return Entry(key, refuse="refused: key is not a clean relative path")
        etag = str(obj.get("ETag", "")).strip('"') or None
        modified = obj.get("LastModified")
        mtime = modified.timestamp() if modified is not None else None
        return Entry(key, size=int(obj.get("Size", 0)), mtime=mtime, etag=etag)

    def read_range(self, key: str, start: int, length: int, max_bytes: int) -> tuple[bytes, int]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(
                Bucket=self.name,
                Key=self._object_key(key),
                Range=f"bytes={start}-{start + max(1, length) - 1}",
            )
            data: bytes = response["Body"].read()
            total = int(str(response.get("ContentRange", "")).rpartition("/")[2] or len(data))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise SourceError("object vanished before it could be read") from exc
            if code == "InvalidRange":
                return b"", 0
            raise SourceError(f"cannot read object: {code or exc}") from exc
        except BotoCoreError as exc:
            raise SourceError(f"cannot read object: {exc}") from exc
        if total > max_bytes:
            raise FileTooLarge(f"file too large: {total} bytes exceeds the limit of {max_bytes}")
        return data[:length], total

    def read(self, key: str, max_bytes: int) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        object_key = self._object_key(key)
        try:
            # One byte past the limit: an object larger than the limit is caught without
            # downloading it, whatever the listing said about its size.
            response = self.client.get_object(Bucket=self.name, Key=object_key, Range=f"bytes=0-{max_bytes}")
            data: bytes = response["Body"].read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise SourceError("object vanished before it could be read") from exc
            if code == "InvalidRange":  # an empty object
                return b""
            raise SourceError(f"cannot read object: {code or exc}") from exc
        except BotoCoreError as exc:
            raise SourceError(f"cannot read object: {exc}") from exc
        if len(data) > max_bytes:
            raise FileTooLarge(f"file too large: over the limit of {max_bytes} bytes")
        return data
