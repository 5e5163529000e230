"""Images the tests make themselves: distinct, deterministic, in any format or mode."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener()  # so the tests can write HEIC; AVIF is Pillow's own


def pattern(seed: int, size: tuple[int, int] = (96, 64)) -> Image.Image:
    """An RGB picture of coloured blocks that differs clearly from other seeds."""
    rng = np.random.default_rng(seed)
    w, h = size
    blocks = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    img = Image.fromarray(blocks, "RGB").resize((w, h), Image.Resampling.NEAREST)
    return img


def encode(img: Image.Image, fmt: str = "PNG", **save_kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save_kwargs)
    return buf.getvalue()


def write_image(
    path: Path, seed: int, fmt: str = "PNG", size: tuple[int, int] = (96, 64), **kw: object
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(pattern(seed, size), fmt, **kw))
    return path


def write_images(
    folder: Path,
    n: int,
    *,
    start: int = 0,
    fmt: str = "PNG",
    ext: str = "png",
    size: tuple[int, int] = (96, 64),
) -> list[Path]:
    return [write_image(folder / f"img{start + i:03d}.{ext}", start + i, fmt, size) for i in range(n)]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming `width` x `height` RGB pixels, with almost no data behind it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + _png_chunk(b"IEND", b"")
    )


def jpeg_with_orientation(img: Image.Image, orientation: int, **save_kwargs: object) -> bytes:
    """JPEG bytes of `img` as stored, with an EXIF orientation tag asking viewers to rotate it."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", exif=exif.tobytes(), **save_kwargs)


def iso_bomb(fmt: str, width: int = 100_000, height: int = 100_000) -> bytes:
    """A real HEIF or AVIF file whose `ispe` box is rewritten to claim `width` x `height` pixels."""
    # 64x64 needs no cropping box, so the one `ispe` is the size every reader reports.
    data = bytearray(encode(pattern(0, (64, 64)), fmt, quality=60))
    at = data.index(b"ispe")
    assert struct.unpack(">II", data[at + 8 : at + 16]) == (64, 64)
    data[at + 8 : at + 16] = struct.pack(">II", width, height)
    return bytes(data)


def truncated(fmt: str, seed: int = 0) -> bytes:
    """The first half of a `fmt` file (the headers and part of the coded picture)."""
    data = encode(pattern(seed, (160, 120)), fmt, quality=80)
    return data[: len(data) // 2]


def with_exif(img: Image.Image, fmt: str, orientation: int = 1, taken: str | None = None) -> bytes:
    """`img` as stored, with an EXIF block asking viewers to rotate it and giving its capture time."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    if taken is not None:
        exif[0x0132] = taken
    return encode(img, fmt, exif=exif.tobytes(), quality=95)


def truncated_jpeg(seed: int = 0) -> bytes:
    data = encode(pattern(seed, (160, 120)), "JPEG", quality=90)
    return data[: len(data) // 2]


# Every kind of bad file the ingest must report, by key, with the status it must end in.
BAD_FILES: dict[str, str] = {
    "bad/empty.jpg": "failed",
    "bad/truncated.jpg": "failed",
    "bad/random.png": "failed",
    "bad/text-named.jpg": "failed",
    "bad/bomb.png": "failed",
    "bad/truncated.heic": "failed",
    "bad/truncated.avif": "failed",
    "bad/bomb.heic": "failed",
    "bad/bomb.avif": "failed",
    "bad/notes.txt": "skipped",
    "bad/.hidden.png": "skipped",
}


def write_bad_files(folder: Path) -> dict[str, str]:
    """Write every file of BAD_FILES under `folder`; returns BAD_FILES."""
    (folder / "bad").mkdir(parents=True, exist_ok=True)
    (folder / "bad/empty.jpg").write_bytes(b"")
    (folder / "bad/truncated.jpg").write_bytes(truncated_jpeg())
    (folder / "bad/random.png").write_bytes(b"\x00garbage" + np.random.default_rng(7).bytes(2000))
    (folder / "bad/text-named.jpg").write_text("this is not a picture\n", encoding="utf-8")
    (folder / "bad/bomb.png").write_bytes(png_bomb())
    (folder / "bad/truncated.heic").write_bytes(truncated("HEIF"))
    (folder / "bad/truncated.avif").write_bytes(truncated("AVIF"))
    (folder / "bad/bomb.heic").write_bytes(iso_bomb("HEIF"))
    (folder / "bad/bomb.avif").write_bytes(iso_bomb("AVIF"))
    (folder / "bad/notes.txt").write_text("some notes\n", encoding="utf-8")
    write_image(folder / "bad/.hidden.png", 99)
    return BAD_FILES


GREY = (128, 128, 128)


def checkerboard(side: int) -> Image.Image:
    """A saturated red/blue checkerboard of `side` pixels, 4 squares a side."""
    yy, xx = np.mgrid[0:side, 0:side]
    on = ((yy * 4 // side) + (xx * 4 // side)) % 2 == 0
    arr = np.where(on[..., None], np.array([230, 20, 20]), np.array([20, 20, 230])).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def planted(size: tuple[int, int], at: tuple[int, int], side: int) -> Image.Image:
    """A grey picture of `size` with a `checkerboard(side)` pasted at `at`."""
    img = Image.new("RGB", size, GREY)
    img.paste(checkerboard(side), at)
    return img
