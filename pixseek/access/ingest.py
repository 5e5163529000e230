"""Which buckets the API may ingest: folders under PIXSEEK_INGEST_ROOTS, S3 buckets in PIXSEEK_INGEST_BUCKETS.

Only HTTP callers are limited; `pixseek ingest` runs as the operator and reads what they name.
"""

from __future__ import annotations

import os
from pathlib import Path

from pixseek.core.errors import IngestNotAllowed, InvalidRequest
from pixseek.core.settings import Settings


def allowed_bucket(uri: str, settings: Settings) -> str:
    """The bucket to ingest for `uri`, if the API may: a folder as its real path, or the S3 URI.

    Raises IngestNotAllowed (403) outside the allowed roots and buckets, InvalidRequest (400)
    for a scheme other than a folder path, `file://` or `s3://`.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return _allowed_folder(uri, settings)
    if scheme.lower() == "file":
        return _allowed_folder(rest, settings)
    if scheme.lower() == "s3":
        return _allowed_s3(uri, rest, settings)
    raise InvalidRequest(f"unsupported bucket scheme {scheme!r}: use a local folder path or s3://")


def _allowed_folder(path: str, settings: Settings) -> str:
    if not settings.ingest_roots:
        raise IngestNotAllowed(
            "the API ingests no folders: PIXSEEK_INGEST_ROOTS is not set "
            """(e.g. PIXSEEK_INGEST_ROOTS='["/photos"]'); `pixseek ingest PATH` is not limited by it"""
        )
    if "\x00" in path:
        raise InvalidRequest("the path contains a NUL character")
    if not os.path.isabs(os.path.expanduser(path)):
        raise InvalidRequest(f"give an absolute path, not {path!r}")
    # realpath removes `..` and follows every symlink, so what is checked is where the files
    # are; the job then reads that real path, not the name it was given.
    real = Path(os.path.realpath(os.path.expanduser(path)))
    if not any(real.is_relative_to(root) for root in settings.ingest_roots):
        raise IngestNotAllowed(f"{path} is outside PIXSEEK_INGEST_ROOTS")
    return str(real)


def _allowed_s3(uri: str, rest: str, settings: Settings) -> str:
    bucket = rest.split("/", 1)[0]
    if not settings.ingest_buckets:
        raise IngestNotAllowed(
            "the API ingests no S3 buckets: PIXSEEK_INGEST_BUCKETS is not set "
            """(e.g. PIXSEEK_INGEST_BUCKETS='["images"]'); `pixseek ingest s3://...` is not limited by it"""
        )
    if bucket not in settings.ingest_buckets:
        raise IngestNotAllowed(f"S3 bucket {bucket!r} is not in PIXSEEK_INGEST_BUCKETS")
    return uri
