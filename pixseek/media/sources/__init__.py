"""Bucket sources: where images are listed and read from (a local folder, later object stores)."""

from pixseek.media.sources.base import BucketSource, Entry, SourceError
from pixseek.media.sources.registry import open_source

__all__ = ["BucketSource", "Entry", "SourceError", "open_source"]
