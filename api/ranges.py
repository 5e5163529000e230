"""HTTP range requests (RFC 9110 section 14) for serving videos: a player asks for parts of the file."""

from __future__ import annotations

import re

from pixseek.core.errors import RangeNotSatisfiable

# One part per response at most: a player asks again from where it got to.
MAX_PART = 8 * 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, total: int) -> tuple[int, int] | None:
    """The (first, last) byte to send for a `Range` header, at most `MAX_PART` bytes; None for
    the whole file (no header, or one that is not a single byte range, which may be ignored).

    Raises:
        RangeNotSatisfiable: the range starts past the end of the file.
    """
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None  # several ranges or another unit: the whole file is a valid answer
    first_s, last_s = match.groups()
    if first_s:
        first = int(first_s)
        last = min(int(last_s), total - 1) if last_s else total - 1
    else:  # the last N bytes
        first, last = max(0, total - int(last_s)), total - 1
    if first >= total or first > last:
        raise RangeNotSatisfiable(f"range {header!r} is outside the file of {total} bytes")
    return first, min(last, first + MAX_PART - 1)
