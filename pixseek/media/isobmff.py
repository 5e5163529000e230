"""The ISO base media boxes HEIF and AVIF files start with: brands, and the sizes they declare.

Read before any decoder sees the bytes, so a file claiming huge dimensions is refused from its
header alone, the way PIL refuses a PNG bomb from its IHDR. Only the few boxes on the way to
the image sizes are walked (`meta` > `iprp` > `ipco` > `ispe`), each bounded by its parent.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"})
AVIF_BRANDS = frozenset({b"avif", b"avis"})
# Boxes holding other boxes on the way to `ispe`; `meta` is a full box (4 bytes of
# version and flags before its children).
_CONTAINERS = {b"meta": 4, b"iprp": 0, b"ipco": 0}
# A real file has a handful of properties; a crafted one cannot make us walk forever.
_MAX_BOXES = 4096


def brand_format(head: bytes) -> str | None:
    """`"AVIF"` or `"HEIF"` from the `ftyp` box at the start of `head`, else None."""
    if head[4:8] != b"ftyp" or len(head) < 12:
        return None
    size = struct.unpack(">I", head[:4])[0]
    end = min(size, len(head)) if size >= 16 else 12
    # The major brand, then the compatible brands after the 4-byte minor version.
    brands = [head[8:12]] + [head[i : i + 4] for i in range(16, end - 3, 4)]
    for brand in brands:  # the major brand decides when it names a format
        if brand in AVIF_BRANDS:
            return "AVIF"
        if brand in HEIF_BRANDS:
            return "HEIF"
    return None


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each box between start and end; stops at a broken one."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:  # a 64-bit size follows the type
            if pos + 16 > end:
                return
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:  # the box runs to the end of its parent
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def declared_sizes(data: bytes) -> list[tuple[int, int]]:
    """Every (width, height) the file's `ispe` properties declare: the image, its tiles, thumbnails."""
    sizes: list[tuple[int, int]] = []
    stack = [(0, len(data), 0)]
    seen = 0
    while stack:
        start, end, depth = stack.pop()
        for kind, body, body_end in _boxes(data, start, end):
            seen += 1
            if seen > _MAX_BOXES:
                return sizes
            if kind == b"ispe" and body_end - body >= 12:
                sizes.append(struct.unpack(">II", data[body + 4 : body + 12]))
            elif kind in _CONTAINERS and depth < len(_CONTAINERS):
                stack.append((body + _CONTAINERS[kind], body_end, depth + 1))
    return sizes


def child_boxes(
    data: bytes, start: int, end: int, inside: bytes | None = None
) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of the boxes between start and end; with `inside`, of the
    children of the first box of that type there instead (CR3's `moov`)."""
    if inside is None:
        yield from _boxes(data, start, end)
        return
    for kind, body, body_end in _boxes(data, start, end):
        if kind == inside:
            yield from _boxes(data, body, body_end)
            return
