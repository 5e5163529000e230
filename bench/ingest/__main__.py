"""`python -m bench.ingest`: ingest images/s, side by side in one run.

(a) pixseek end to end, stage by stage, the model loaded beforehand as in a long-running
    worker: the ingest pass (list, hash, decode, preprocess, encode the centre crop, SQL,
    index publish: searchable) and the enrich job (read and decode again, thumbnails,
    signatures, the whole picture's tiles through the model, patch index publish);
(b) the loop a user writes from open_clip's README: open, preprocess, encode, one image at a time;
(c) the model alone: `Encoder.encode_pixels` on pre-made tensors at pixseek's batch size,
    precision and runtime (`--runtime`, default auto: OpenVINO on native-bf16 CPUs). Measured
    before and after (a) and (b), since the machine is shared and noisy. Ingest gives the
    model more than one input per image (the CLS pass, and the tiles that cover the whole
    picture for region search), so the bound for (a) is (c) over the inputs per image that
    (a) counted.

`--smoke`: 8 generated JPEGs and the tiny model in a temp dir, to check that it still runs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.common import OUT, TINY_MODEL, add_smoke_flag, machine, synthetic_photos, write_json
from bench.ingest.dataset import build, default_source
from pixseek.core.settings import Settings
from pixseek.index.vectors.patch_sync import effective_patch_mode
from pixseek.ingest.enrich import create_enrich_job, run_enrich_job
from pixseek.ingest.finalizing import finalize_job
from pixseek.ingest.planning import create_job, plan_job
from pixseek.ingest.processing import process_images
from pixseek.media.decode import decode_image
from pixseek.media.sources import open_source
from pixseek.model.encoder import Encoder, get_encoder
from pixseek.model.patch_tokens import PatchMode, check_patch_mode


def model_only(encoder: Encoder, pixels: np.ndarray, batches: int, mode: PatchMode) -> float:
    """Images/s of the encoder forward alone on one fixed batch."""
    encoder.encode_pixels(pixels, mode)  # warm-up: first-call allocations and kernel selection
    start = time.perf_counter()
    for _ in range(batches):
        encoder.encode_pixels(pixels, mode)
    return batches * len(pixels) / (time.perf_counter() - start)


def openclip_loop(paths: list[Path], model_name: str) -> float:
    """Images/s of open_clip's README recipe, one image at a time, fp32."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=None)
    model.eval()
    with torch.no_grad():
        model.encode_image(preprocess(Image.open(paths[0])).unsqueeze(0))  # warm-up
        start = time.perf_counter()
        for path in paths:
            image = preprocess(Image.open(path)).unsqueeze(0)
            features = model.encode_image(image)
            features /= features.norm(dim=-1, keepdim=True)
    return len(paths) / (time.perf_counter() - start)


def pixseek_ingest(folder: Path, settings: Settings) -> dict[str, dict[str, float]]:
    """Per stage (the ingest pass that makes the folder searchable, then the enrich job):
    images/s, how much of that time the model was busy, and how many model inputs each image
    took (the centre crop in the ingest pass; the tiles of the whole picture in the enrich job)."""
    encoder = get_encoder(settings)
    busy = [0.0]
    inputs = [0]
    forward = encoder.encode_pixels

    def timed(pixels: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return forward(pixels, *args, **kwargs)
        finally:
            busy[0] += time.perf_counter() - t0
            inputs[0] += len(pixels)

    def ingest_pass() -> None:
        source = open_source(str(folder), settings)
        job_id = create_job(settings, source.bucket)
        plan = plan_job(settings, job_id, source)
        process_images(settings, job_id, source.bucket, plan.work)
        finalize_job(settings, job_id)

    def enrich_pass() -> None:
        run_enrich_job(settings, create_enrich_job(settings))

    count = len(list(folder.glob("*.jpg")))
    stages: dict[str, dict[str, float]] = {}
    setattr(encoder, "encode_pixels", timed)  # noqa: B010 - shadow the method on this instance only
    try:
        for name, run in (("searchable", ingest_pass), ("enrich", enrich_pass)):
            busy[0], inputs[0] = 0.0, 0
            start = time.perf_counter()
            run()
            wall = time.perf_counter() - start
            stages[name] = {
                "images_per_s": count / wall,
                "wall_s": wall,
                "model_busy_fraction": busy[0] / wall,
                "model_inputs_per_image": inputs[0] / count,
            }
    finally:
        delattr(encoder, "encode_pixels")
    return stages


def decode_cost(paths: list[Path], encoder: Encoder) -> float:
    """Milliseconds of one core per image for decode + preprocess (pixseek's path)."""
    start = time.perf_counter()
    for path in paths:
        decoded = decode_image(path.read_bytes(), max_pixels=10**9, draft_size=encoder.image_size * 2)
        encoder.preprocessor(decoded.image, (decoded.width, decoded.height))
    return (time.perf_counter() - start) / len(paths) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--images", type=int, default=560, help="JPEGs in the test folder (default 560)")
    parser.add_argument("--loop-images", type=int, default=100, help="images for the open_clip loop")
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16", "int8"])
    parser.add_argument("--runtime", default="auto", choices=["auto", "torch", "openvino", "onnxruntime"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model-batches", type=int, default=4, help="batches for the model-only bound")
    parser.add_argument("--torch-threads", type=int, default=0)
    parser.add_argument("--source", type=Path, default=None, help="folder of source JPEGs")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.model, args.images, args.loop_images = TINY_MODEL, 8, 4
        args.batch_size, args.model_batches = 4, 1

    work = Path(tempfile.mkdtemp(prefix="pixseek-bench-ingest-"))
    try:
        if args.smoke:
            folder = work / "images"
            paths = synthetic_photos(folder, args.images)
        else:
            folder = OUT / "ingest-images"
            paths = build(folder, args.images, args.source or default_source())
        settings = Settings(
            data_dir=work / "data",
            model=args.model,
            pretrained="none",
            device="cpu",
            precision=args.precision,
            runtime=args.runtime,
            batch_size=args.batch_size,
            torch_threads=args.torch_threads,
        )
        encoder = get_encoder(settings)
        sample = paths[:: max(1, len(paths) // args.loop_images)][: args.loop_images]
        pixels = np.stack(
            [
                encoder.preprocessor(d.image, (d.width, d.height))[0]
                for d in (decode_image(p.read_bytes(), max_pixels=10**9) for p in paths[: args.batch_size])
            ]
        )
        say = sys.stdout.write
        say(f"{len(paths)} JPEGs in {folder}; model {args.model} (random weights), ")
        say(f"runtime {encoder.runtime_label()}, batch {args.batch_size}, ")
        say(f"torch threads {torch.get_num_threads()}\n")
        # Ingest runs its CLS pass in `plain` mode and its tiles in the data dir's patch mode:
        # both converted (OpenVINO) and warm before anything is timed, as in a worker that has
        # embedded before (the first conversion is once per machine, timed by end_to_end).
        mode = check_patch_mode(effective_patch_mode(settings))
        for warm in {"plain", mode}:
            encoder.encode_pixels(pixels[:2], check_patch_mode(warm))
        c1 = model_only(encoder, pixels, args.model_batches, mode)
        say(f"(c) model only, before: {c1:.2f} img/s\n")
        b = openclip_loop(sample, args.model)
        say(f"(b) open_clip README loop: {b:.2f} img/s ({len(sample)} images)\n")
        stages = pixseek_ingest(folder, settings)
        for name, stage in stages.items():
            say(
                f"(a) pixseek, {name}: {stage['images_per_s']:.2f} img/s, model busy "
                f"{stage['model_busy_fraction']:.0%}, "
                f"{stage['model_inputs_per_image']:.2f} model inputs per image\n"
            )
        c2 = model_only(encoder, pixels, args.model_batches, mode)
        say(f"(c) model only, after: {c2:.2f} img/s\n")
        # What the README loop's model step alone can do: one image per forward.
        c_batch1 = model_only(encoder, pixels[:1], args.model_batches * 8, mode)
        say(f"(c1) model only at batch 1: {c_batch1:.2f} img/s\n")
        decode_ms = decode_cost(sample[:40], encoder)
        c = (c1 + c2) / 2
        # The bound of each stage: the model's inputs/s over the inputs each image needs there
        # (the centre crop in the ingest pass, the whole picture's tiles in the enrich job).
        for stage in stages.values():
            stage["model_bound_images_per_s"] = c / max(stage["model_inputs_per_image"], 1e-9)
            stage["over_bound"] = stage["images_per_s"] / stage["model_bound_images_per_s"]
        searchable = stages["searchable"]
        total = 1.0 / (1.0 / searchable["images_per_s"] + 1.0 / stages["enrich"]["images_per_s"])
        result = {
            "command": "python -m bench.ingest " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": machine(),
            "model": args.model,
            "precision": encoder.precision,
            "runtime": encoder.runtime_label(),
            "batch_size": args.batch_size,
            "images": len(paths),
            "stages": stages,
            "a_pixseek_images_per_s": total,
            "b_openclip_loop_images_per_s": b,
            "c_model_only_images_per_s": c,
            "c_before_after": [c1, c2],
            "c_batch1_images_per_s": c_batch1,
            "decode_preprocess_core_ms_per_image": decode_ms,
            "searchable_over_b": searchable["images_per_s"] / b,
        }
        for name, stage in stages.items():
            say(
                f"{name}: model bound {stage['model_bound_images_per_s']:.2f} img/s, "
                f"a/bound = {stage['over_bound']:.2f} (target >= 0.9)\n"
            )
        say(
            f"searchable/b = {result['searchable_over_b']:.2f}; both stages {total:.2f} img/s; "
            f"decode+preprocess {decode_ms:.1f} core-ms/image\n"
        )
        say(f"written to {write_json('ingest.json', result, work if args.smoke else None)}\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
