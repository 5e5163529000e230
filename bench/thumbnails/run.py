"""What making thumbnails at ingest costs a decode thread, against ingest without them.

Baseline: `prepare_file` as ingest runs it on its decode threads (read, sha256, decode with
JPEG draft, preprocess for ViT-B/32's 224 px input, the duplicate signature and keyword
extractors). Variants: the same plus the thumbnails extractor making 256 px WebPs (the
default, `PIXSEEK_THUMBNAIL_INGEST_SIZES`), or 256 and 768 px (with its draft floor of
512 px). All on the same photos in one run, alternating, so the ratios hold on a busy
machine. No model runs: this is the CPU work that overlaps the model.

    python -m bench.thumbnails.run              # 20 JPEGs of 4000x3000, best of 3 rounds
    python -m bench.thumbnails.run --smoke
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.common import add_smoke_flag, cpu_info, output_dir, synthetic_photos, write_json
from pixseek.core.settings import Settings
from pixseek.ingest.extractors import Extractor
from pixseek.ingest.hashes import SignatureExtractor
from pixseek.ingest.keywords import KeywordExtractor
from pixseek.ingest.pipeline import Prepared, prepare_file
from pixseek.ingest.thumbnailing import ThumbnailExtractor
from pixseek.media.sources.local import LocalSource
from pixseek.model.preprocess import Preprocessor

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _run(source: LocalSource, keys: list[str], pre: Preprocessor, extractors: list[Extractor]) -> float:
    """Milliseconds per image of `prepare_file` over `keys`."""
    start = time.perf_counter()
    for i, key in enumerate(keys):
        item = prepare_file(source, i + 1, key, pre, max_bytes=10**9, max_pixels=10**9, extractors=extractors)
        assert isinstance(item, Prepared), item
    return 1000 * (time.perf_counter() - start) / len(keys)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    n, size, rounds, input_size = (
        (3, (640, 480), 1, 64) if args.smoke else (args.images, (4000, 3000), args.rounds, 224)
    )
    with output_dir(args.smoke, "thumbnails") as out:
        folder = out / "photos"
        synthetic_photos(folder, n, size=size)
        settings = Settings(data_dir=out / "data", sidecar_suffixes=[])
        source = LocalSource(str(folder))
        keys = sorted(p.name for p in Path(folder).glob("*.jpg"))
        pre = Preprocessor(input_size, CLIP_MEAN, CLIP_STD)
        base: list[Extractor] = [SignatureExtractor(), KeywordExtractor([])]
        small: list[Extractor] = [*base, ThumbnailExtractor(settings, [256])]
        both: list[Extractor] = [*base, ThumbnailExtractor(settings, [256, 768])]
        _run(source, keys[:1], pre, both)  # warm up the decoders and encoders
        baseline, variant, large = [], [], []
        for _ in range(rounds):
            baseline.append(_run(source, keys, pre, base))
            variant.append(_run(source, keys, pre, small))
            large.append(_run(source, keys, pre, both))
        cpu, flags = cpu_info()
        report: dict[str, Any] = {
            "cpu": cpu,
            "flags": sorted(flags & {"avx2", "avx512f", "sse4_2", "neon"}),
            "images": n,
            "photo": f"{size[0]}x{size[1]} JPEG",
            "model_input": input_size,
            "baseline_ms_per_image": round(min(baseline), 2),
            "thumbs_256_ms_per_image": round(min(variant), 2),
            "thumbs_256_768_ms_per_image": round(min(large), 2),
            "ratio_256": round(min(variant) / min(baseline), 3),
            "ratio_256_768": round(min(large) / min(baseline), 3),
        }
        path = write_json("thumbnails.json", report, out)
        print(json.dumps(report, indent=2))  # noqa: T201
        print(f"written to {path}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
