"""`python -m bench.ingest.costs`: what each image costs besides the model, in core-ms, per stage.

On a 2-core machine the model keeps both cores busy, so every core-millisecond spent reading,
decoding or writing is taken from it: a stage can reach the model's bound only if the rest
costs a small share of the model's own time. This measures each part of the two stages on
real-size JPEGs, in CPU time (`time.thread_time`, one thread), which other load on a shared
machine inflates far less than wall time:

- searchable pass: read + sha256, JPEG decode in draft mode for the centre crop, centre-crop
  preprocessing, the keyword document;
- enrich job: decode again (draft for the tiles and thumbnails), the whole picture's tiles,
  the 256 px WebP thumbnail, the duplicate signature;

and the model's CPU time per input (`time.process_time` of the process over batches of the
chosen runtime), so that the bound each stage can reach on an idle machine is
model / (model + the rest). `--smoke`: the tiny model and 4 generated JPEGs.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import OUT, TINY_MODEL, add_smoke_flag, machine, synthetic_photos, write_json
from bench.ingest.dataset import build, default_source


def _cpu_ms(fn: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    start = time.thread_time()
    out = None
    for _ in range(repeats):
        out = fn()
    return (time.thread_time() - start) * 1000 / repeats, out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest.costs", description=__doc__)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--runtime", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--source", type=Path, default=None)
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    from pixseek.core.settings import Settings
    from pixseek.ingest.thumbnailing import decode_side, thumbnail_extractor
    from pixseek.media.decode import decode_image
    from pixseek.media.perceptual_hash import signature
    from pixseek.media.thumbnailer import make_thumbnails
    from pixseek.model.encoder import get_encoder
    from pixseek.model.tiling import Coverage

    say = sys.stdout.write
    with tempfile.TemporaryDirectory(prefix="pixseek-bench-costs-") as tmp:
        work = Path(tmp)
        if args.smoke:
            args.model, args.images, args.batch_size = TINY_MODEL, 4, 4
            args.runtime, args.precision = "torch", "fp32"  # a smoke run converts nothing
            paths = synthetic_photos(work / "images", args.images, size=(1600, 1200))
        else:
            paths = build(OUT / "ingest-images", 560, args.source or default_source())[: args.images]
        settings = Settings(
            data_dir=work / "data",
            model=args.model,
            pretrained="none",
            device="cpu",
            runtime=args.runtime,
            precision=args.precision,
            batch_size=args.batch_size,
        )
        encoder = get_encoder(settings)
        prep = encoder.preprocessor
        coverage = Coverage.of(settings, encoder.image_size, encoder.grid[0])
        thumbs = thumbnail_extractor(settings)
        assert thumbs is not None
        centre_draft = encoder.image_size * 2
        enrich_draft = max(encoder.image_size * max(2, coverage.tiles), decode_side(thumbs.sizes))
        parts: dict[str, list[float]] = {}

        def add(name: str, ms: float) -> None:
            parts.setdefault(name, []).append(ms)

        tiles_per_image = []
        for path in paths:
            data = path.read_bytes()
            add("searchable: sha256", _cpu_ms(lambda data=data: hashlib.sha256(data).hexdigest())[0])
            ms, decoded = _cpu_ms(
                lambda data=data: decode_image(data, max_pixels=10**9, draft_size=centre_draft)
            )
            add("searchable: decode (draft)", ms)
            add("searchable: centre crop", _cpu_ms(lambda d=decoded: prep(d.image, (d.width, d.height)))[0])
            ms, whole = _cpu_ms(
                lambda data=data: decode_image(data, max_pixels=10**9, draft_size=enrich_draft)
            )
            add("enrich: decode (draft)", ms)
            layout = coverage.layout(whole.width, whole.height)
            tiles_per_image.append(len(layout.tiles))
            add(
                "enrich: tiles",
                _cpu_ms(lambda d=whole, lay=layout: prep.whole_inputs(d.image, lay, coverage.method))[0],
            )
            add("enrich: thumbnail", _cpu_ms(lambda d=whole: make_thumbnails(d.image, thumbs.sizes))[0])
            add("enrich: signature", _cpu_ms(lambda d=whole: signature(d.image))[0])
        # The model: process CPU time over whole batches (its threads included), per input.
        first = [decode_image(p.read_bytes(), max_pixels=10**9) for p in paths[: args.batch_size]]
        pixels = np.stack([prep(d.image, (d.width, d.height))[0] for d in first])
        encoder.encode_pixels(pixels)  # warm-up
        rounds = 1 if args.smoke else 3
        start = time.process_time()
        for _ in range(rounds):
            encoder.encode_pixels(pixels)
        model_ms = (time.process_time() - start) * 1000 / (rounds * len(pixels))
        costs = {name: statistics.mean(values) for name, values in parts.items()}
        inputs = statistics.mean(tiles_per_image)
        stage_rest = {
            "searchable": sum(v for k, v in costs.items() if k.startswith("searchable")),
            "enrich": sum(v for k, v in costs.items() if k.startswith("enrich")),
        }
        stage_model = {"searchable": model_ms, "enrich": model_ms * inputs}
        bound = {s: stage_model[s] / (stage_model[s] + stage_rest[s]) for s in stage_model}
        say(f"{machine()['cpu']}; {args.model} on {encoder.runtime_label()}, {len(paths)} JPEGs\n")
        say("| part | core-ms per image |\n|---|---:|\n")
        for name, ms in costs.items():
            say(f"| {name} | {ms:.1f} |\n")
        say(f"| model, per input | {model_ms:.1f} |\n")
        for stage in ("searchable", "enrich"):
            say(
                f"{stage}: model {stage_model[stage]:.1f} core-ms/image, the rest "
                f"{stage_rest[stage]:.1f}: the stage can reach {bound[stage]:.2f} of the model's "
                "bound on a machine of its own\n"
            )
        report = {
            "machine": machine(),
            "model": args.model,
            "runtime": encoder.runtime_label(),
            "core_ms": costs,
            "model_core_ms_per_input": model_ms,
            "enrich_inputs_per_image": inputs,
            "reachable_fraction_of_bound": bound,
        }
        say(f"written to {write_json('ingest_costs.json', report, work if args.smoke else None)}\n")
        return report


if __name__ == "__main__":
    main()
