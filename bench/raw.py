"""`python -m bench.raw`: camera RAW files against their JPEG twins: decoding (the embedded
preview, LibRaw's demosaic at half and full size) and reading the EXIF alone.

The RAW files are DNGs written by `pixseek.evaluation.dng` from a coco-mini-train photo
(smooth colour blocks where the dataset is absent): a 12-megapixel RGGB mosaic (4000x3000,
16-bit, uncompressed: 24 MB), with a 1440x1080 JPEG preview as cameras embed one, or without
any; the JPEG twin is the same picture at 4000x3000, quality 92. Each case is decoded as
ingest decodes (`pixseek.media.decode.decode_image`, with the draft size ingest asks for:
448 px for the bundled and ViT-B/32 models) or as OCR does (no draft); figures are the
median of `--repeat` runs, in milliseconds, and the ratio to the JPEG twin.

    python -m bench.raw [--repeat N] [--smoke]

`--smoke`: a 600x400 sensor, one run; figures mean nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import add_smoke_flag, machine, output_dir, say, synthetic_photos, write_json
from pixseek.evaluation.dng import camera_exif, dng
from pixseek.ingest.exif import facts_of_file
from pixseek.media.decode import decode_image

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO.parent / "shared" / "datasets" / "coco-mini-train" / "000000054718.jpg"
LIMIT = 200_000_000
DRAFT = 448


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times)), result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    sensor, preview = ((600, 400), (300, 200)) if args.smoke else ((4000, 3000), (1440, 1080))
    repeat = 1 if args.smoke else args.repeat
    with output_dir(args.smoke, "raw") as folder:
        source = PHOTO if PHOTO.exists() else synthetic_photos(folder / "photo", 1)[0]
        picture = Image.open(source).convert("RGB")
        exif = {"gps": (38.7139, -9.1394)}
        files = {
            "jpeg twin": _jpeg(picture.resize(sensor), camera_exif(**exif)),
            "dng, JPEG preview": dng(picture, size=sensor, preview=preview, jpeg_preview=True, **exif),
            "dng, no preview": dng(picture, size=sensor, **exif),
        }
        cases: list[tuple[str, str, int | None]] = [
            ("jpeg twin", "ingest", DRAFT),
            ("dng, JPEG preview", "ingest", DRAFT),
            ("dng, no preview", "ingest", DRAFT),
            ("jpeg twin", "OCR", None),
            ("dng, JPEG preview", "OCR", None),
            ("dng, no preview", "OCR", None),
            ("dng, no preview", "a full-size picture", max(sensor)),
        ]
        rows = []
        for name, purpose, draft in cases:
            data = files[name]
            ms, decoded = _timed(
                lambda data=data, draft=draft: decode_image(data, max_pixels=LIMIT, draft_size=draft), repeat
            )
            size = decoded.image.size
            path = ""
            if name.startswith("dng"):
                half = (sensor[0] // 2, sensor[1] // 2)
                sizes = {tuple(sensor): "full-size demosaic", half: "half-size demosaic"}
                path = ": " + sizes.get(size, "the preview")  # a JPEG preview may be draft-reduced
            row = {"file": name, "decode": f"{purpose} (draft {draft}){path}", "purpose": purpose}
            rows.append({**row, "ms": ms, "size": list(size), "mb": len(data) / 1e6})
        for name in ("jpeg twin", "dng, JPEG preview"):
            ms, facts = _timed(lambda name=name: facts_of_file(files[name]), repeat)
            assert facts.latitude is not None
            rows.append(
                {
                    "file": name,
                    "decode": "EXIF only",
                    "purpose": "EXIF",
                    "ms": ms,
                    "size": None,
                    "mb": len(files[name]) / 1e6,
                }
            )
        base = {row["purpose"]: row["ms"] for row in rows if row["file"] == "jpeg twin"}
        base["a full-size picture"] = base["OCR"]
        report = {
            "machine": machine(),
            "sensor": list(sensor),
            "preview": list(preview),
            "repeat": repeat,
            "rows": rows,
        }
        write_json("raw.json", report, folder)
    say(f"# RAW against JPEG, {sensor[0]}x{sensor[1]} sensor, median of {repeat}; {machine()['cpu']}\n")
    say("| file | decode | MB | picture | ms | / JPEG twin |\n|---|---|---|---|---|---|\n")
    for row in rows:
        ratio = row["ms"] / max(base[row["purpose"]], 1e-9)
        picture_size = "x".join(map(str, row["size"])) if row["size"] else "-"
        cells = [
            row["file"],
            row["decode"],
            f"{row['mb']:.1f}",
            picture_size,
            f"{row['ms']:.0f}",
            f"{ratio:.1f}",
        ]
        say("| " + " | ".join(cells) + " |\n")
    return report


def _jpeg(picture: Image.Image, exif: Image.Exif) -> bytes:
    import io

    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=92, exif=exif.tobytes())
    return buffer.getvalue()


if __name__ == "__main__":
    main()
