"""How fast each recommended open_clip model embeds images and queries here, against ViT-B-32.

Random weights (`pretrained=none`): speed does not depend on the weights, and nothing is
downloaded. For each model: images per second through pixseek's encoder (CLS and patch
tokens, the ingest path) at a fixed batch, the median latency of one text query (the
search path), and the parameter count; ratios are against the first model (the default,
ViT-B-32) measured in the same run. Quality is not measured here: docs/models.md quotes
open_clip's published figures.

    python -m bench.models                                   # ViT-B-32, ViT-B-16, ViT-L-14 on the CPU
    python -m bench.models --models ViT-B-32,ViT-H-14 --device cuda --batch 64
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

from bench.common import TINY_MODEL, add_smoke_flag, machine, output_dir, write_json

DEFAULT_MODELS = ("ViT-B-32", "ViT-B-16", "ViT-L-14")
QUERY = "a dog running on a beach at sunset"


def measure(
    name: str, *, device: str, precision: str, batch: int, batches: int, texts: int
) -> dict[str, Any]:
    """Images/s and text latency of one model with random weights."""
    from pixseek.model.encoder import Encoder

    start = time.perf_counter()
    encoder = Encoder(name, "none", device=device, precision=precision)
    load_s = time.perf_counter() - start
    size = encoder.image_size
    pixels = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    encoder.encode_pixels(pixels)  # warm-up: allocations, kernel choice
    start = time.perf_counter()
    for _ in range(batches):
        encoder.encode_pixels(pixels)
    images_per_s = batch * batches / (time.perf_counter() - start)
    encoder.encode_texts([QUERY])
    latencies = []
    for _ in range(texts):
        t0 = time.perf_counter()
        encoder.encode_texts([QUERY])
        latencies.append((time.perf_counter() - t0) * 1000)
    params = sum(p.numel() for p in encoder.model.parameters())
    return {
        "model": name,
        "params_m": round(params / 1e6, 1),
        "image_size": size,
        "dim": encoder.dim,
        "grid": list(encoder.grid),
        "images_per_s": round(images_per_s, 2),
        "text_ms": round(statistics.median(latencies), 1),
        "load_s": round(load_s, 1),
        "precision": encoder.precision,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.models", description=__doc__)
    parser.add_argument(
        "--models", default=",".join(DEFAULT_MODELS), help="comma-separated; the first is the baseline"
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16", "auto"])
    parser.add_argument("--batch", type=int, default=16, help="images per forward (default 16)")
    parser.add_argument("--batches", type=int, default=3, help="timed forwards per model (default 3)")
    parser.add_argument("--texts", type=int, default=20, help="timed single-text queries (default 20)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own)")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    models = (
        [TINY_MODEL, TINY_MODEL] if args.smoke else [m.strip() for m in args.models.split(",") if m.strip()]
    )
    batch, batches, texts = (2, 1, 2) if args.smoke else (args.batch, args.batches, args.texts)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    about = machine()
    say = sys.stdout.write
    say(
        f"{about['cpu']}, {about['cores']} cores, load {os.getloadavg()[0]:.1f}, "
        f"device {args.device} ({about['cuda'] or 'no GPU'}), {args.precision}, batch {batch}, "
        f"torch threads {args.threads or 'default'}\n"
    )
    rows = [
        measure(m, device=args.device, precision=args.precision, batch=batch, batches=batches, texts=texts)
        for m in models
    ]
    base = rows[0]
    say(f"{'model':<28}{'params':>9}{'input':>7}{'img/s':>9}{'x base':>8}{'text ms':>9}{'x base':>8}\n")
    for row in rows:
        row["images_vs_base"] = round(row["images_per_s"] / base["images_per_s"], 3)
        row["text_vs_base"] = round(row["text_ms"] / base["text_ms"], 3)
        say(
            f"{row['model']:<28}{row['params_m']:>8.1f}M{row['image_size']:>7}{row['images_per_s']:>9.2f}"
            f"{row['images_vs_base']:>8.2f}{row['text_ms']:>9.1f}{row['text_vs_base']:>8.2f}\n"
        )
    result = {
        "machine": about,
        "load_avg_1m": os.getloadavg()[0],
        "device": args.device,
        "threads": args.threads,
        "batch": batch,
        "batches": batches,
        "rows": rows,
    }
    with output_dir(args.smoke) as folder:
        path = write_json("models.json", result, folder=folder)
        say(f"written to {path}\n")
    return result


if __name__ == "__main__":
    main()
