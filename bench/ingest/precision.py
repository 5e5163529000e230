"""`python -m bench.ingest.precision`: encoder forward speed and agreement per precision.

fp32, bf16 weights, fp32 weights under bf16 autocast, and fp32 with channels_last input,
interleaved (A B C D A B C D ...) so that load from other processes hits them alike.
`--smoke`: the tiny model, batch 2, one round, to check that it still runs.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable

import torch

from bench.common import TINY_MODEL, add_smoke_flag, machine, output_dir, write_json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest.precision", description=__doc__)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.model, args.batch_size, args.rounds = TINY_MODEL, 2, 1
    import open_clip

    from pixseek.model.encoder import MODEL_CONFIG_DIR

    open_clip.add_model_config(MODEL_CONFIG_DIR)  # pixseek's own architectures (pixseek-tiny)
    torch.manual_seed(0)
    model, _, _ = open_clip.create_model_and_transforms(args.model, pretrained=None)
    fp32 = model.visual.eval()
    bf16 = copy.deepcopy(fp32).to(torch.bfloat16)
    channels_last = copy.deepcopy(fp32).to(memory_format=torch.channels_last)
    size = fp32.image_size
    side = int(size[0] if isinstance(size, tuple | list) else size)
    x = torch.randn(args.batch_size, 3, side, side)
    x_bf16 = x.to(torch.bfloat16)
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def autocast() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fp32(x)

    variants: dict[str, Callable[[], torch.Tensor]] = {
        "fp32": lambda: fp32(x),
        "bf16_weights": lambda: bf16(x_bf16),
        "bf16_autocast": autocast,
        "fp32_channels_last": lambda: channels_last(x_cl),
    }
    seconds = {name: 0.0 for name in variants}
    outputs: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        for name, fn in variants.items():
            outputs[name] = fn().float()  # warm-up, and the embeddings compared below
        for _ in range(args.rounds):
            for name, fn in variants.items():
                t0 = time.perf_counter()
                fn()
                seconds[name] += time.perf_counter() - t0
    rate = {name: args.rounds * args.batch_size / s for name, s in seconds.items()}
    ref = torch.nn.functional.normalize(outputs["fp32"], dim=-1)
    cosine = {
        name: float((torch.nn.functional.normalize(out, dim=-1) * ref).sum(-1).min())
        for name, out in outputs.items()
    }
    for name in variants:
        sys.stdout.write(
            f"{name:<20} {rate[name]:6.2f} img/s  x{rate[name] / rate['fp32']:.2f} vs fp32  "
            f"min cosine to fp32 {cosine[name]:.5f}\n"
        )
    report = {"machine": machine(), "batch_size": args.batch_size, "images_per_s": rate, "min_cosine": cosine}
    with output_dir(args.smoke) as out:
        write_json("precision.json", report, out)


if __name__ == "__main__":
    main()
