"""`python -m bench.ingest.runtimes`: the image tower on each CPU runtime, side by side.

What ingest runs per batch (`encode_with_patch_mode`: pooled CLS and patch tokens, default
patch mode) on real photos, through:

- torch fp32 (the baseline) and torch with bf16 weights (what `PIXSEEK_PRECISION=auto`
  picks on CPUs with native bf16);
- ONNX Runtime (what Immich's ML service runs on CPUs), fp32 and with int8 dynamic
  quantisation of the MatMul weights (`onnxruntime.quantization.quantize_dynamic`);
- OpenVINO, with its default precision hint for this CPU (bf16 where it has AMX or
  AVX-512 BF16) and forced fp32.

Each runtime embeds the same photos in the same batches, interleaved batch by batch so that
load from other processes hits them alike. Reported: images/s and its ratio to torch fp32;
min and mean cosine of CLS embeddings to torch fp32; mean cosine of patch tokens; top-10
agreement of image-to-image search over the catalog (queries are the fp32 embeddings of
held-out photos; the share of the fp32 top-10 that each runtime's catalog also ranks top-10).
A runtime passes the quality gate at min CLS cosine >= 0.99 and top-10 agreement >= 0.95.
`--smoke`: the tiny model, 6 generated photos, batch 2, the ONNX runtimes only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import (
    TINY_MODEL,
    add_smoke_flag,
    cpu_info,
    machine,
    output_dir,
    synthetic_photos,
    write_json,
)

DATASET = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "coco-mini-train"
GATE_COSINE = 0.99
GATE_TOP10 = 0.95
SHOWN_FLAGS = {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8"}

Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _pixels(paths: list[Path], side: int, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    from pixseek.model.preprocess import Preprocessor

    prep = Preprocessor(image_size=side, mean=(mean[0], mean[1], mean[2]), std=(std[0], std[1], std[2]))
    out = []
    for path in paths:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
            out.append(prep(rgb, rgb.size)[0])
    return np.stack(out).astype(np.float32)


def _unit(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float32)
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


def build_runners(
    model_name: str, patch_mode: str, folder: Path, batch: int, smoke: bool
) -> dict[str, Runner]:
    import copy

    import open_clip
    import torch

    from pixseek.model.encoder import MODEL_CONFIG_DIR
    from pixseek.model.patch_tokens import check_patch_mode, encode_with_patch_mode

    open_clip.add_model_config(MODEL_CONFIG_DIR)
    torch.manual_seed(0)
    model, _, _ = open_clip.create_model_and_transforms(model_name, pretrained=None)
    mode = check_patch_mode(patch_mode)

    class Tower(torch.nn.Module):
        def __init__(self, visual: Any) -> None:
            super().__init__()
            self.visual = visual

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return encode_with_patch_mode(self.visual, x, mode)

    fp32 = Tower(model.visual.eval()).eval()
    bf16 = copy.deepcopy(fp32).to(torch.bfloat16)

    def torch_runner(module: torch.nn.Module, dtype: torch.dtype) -> Runner:
        def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            with torch.inference_mode():
                pooled, patches = module(torch.from_numpy(x).to(dtype))
            return pooled.float().numpy(), patches.float().numpy()

        return run

    runners: dict[str, Runner] = {"torch fp32": torch_runner(fp32, torch.float32)}
    if not smoke:
        runners["torch bf16"] = torch_runner(bf16, torch.bfloat16)

    size = fp32.visual.image_size
    side = int(size[0] if isinstance(size, tuple | list) else size)
    onnx_path = folder / "tower.onnx"
    torch.onnx.export(
        fp32,
        (torch.zeros(batch, 3, side, side),),
        str(onnx_path),
        input_names=["pixels"],
        output_names=["pooled", "patches"],
        dynamic_axes={"pixels": {0: "b"}, "pooled": {0: "b"}, "patches": {0: "b"}},
        opset_version=17,
        dynamo=False,
    )
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8_path = folder / "tower.int8.onnx"
    quantize_dynamic(
        str(onnx_path), str(int8_path), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"]
    )

    def ort_runner(path: Path) -> Runner:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            pooled, patches = session.run(None, {"pixels": x})
            return np.asarray(pooled), np.asarray(patches)

        return run

    runners["onnxruntime fp32"] = ort_runner(onnx_path)
    runners["onnxruntime int8"] = ort_runner(int8_path)
    if not smoke:
        import openvino as ov

        core = ov.Core()
        ov_model = core.read_model(str(onnx_path))

        def ov_runner(config: dict[str, str]) -> Runner:
            compiled = core.compile_model(ov_model, "CPU", config)

            def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                result = compiled(x)
                return np.asarray(result[0]), np.asarray(result[1])

            return run

        hint = str(core.get_property("CPU", "INFERENCE_PRECISION_HINT"))
        runners[f"openvino default ({hint})"] = ov_runner({})
        runners["openvino fp32"] = ov_runner({"INFERENCE_PRECISION_HINT": "f32"})
    return runners


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest.runtimes", description=__doc__)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--patch-mode", default="clearclip")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--queries", type=int, default=16, help="held-out photos used as queries")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    say = sys.stdout.write
    with tempfile.TemporaryDirectory(prefix="pixseek-bench-runtimes-") as tmp:
        folder = Path(tmp)
        if args.smoke:
            args.model, args.batch_size, args.queries = TINY_MODEL, 2, 2
            photos = synthetic_photos(folder / "photos", 6)
        else:
            photos = sorted(DATASET.glob("*.jpg"))
            if not photos:
                raise SystemExit(f"no photos in {DATASET}")
        runners = build_runners(args.model, args.patch_mode, folder, args.batch_size, args.smoke)
        import open_clip

        cfg = open_clip.get_model_config(args.model) or {}
        side = int(cfg.get("vision_cfg", {}).get("image_size", 224))
        pixels = _pixels(photos, side, open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD)
        batches = [pixels[i : i + args.batch_size] for i in range(0, len(pixels), args.batch_size)]
        seconds = dict.fromkeys(runners, 0.0)
        pooled: dict[str, list[np.ndarray]] = {name: [] for name in runners}
        patches: dict[str, list[np.ndarray]] = {name: [] for name in runners}
        for run in runners.values():  # warm-up: first calls allocate and compile
            run(batches[0])
        for batch in batches:  # interleaved, batch by batch
            for name, run in runners.items():
                t0 = time.perf_counter()
                p, t = run(batch)
                seconds[name] += time.perf_counter() - t0
                pooled[name].append(_unit(p))
                patches[name].append(_unit(t))
        ref_cls = np.concatenate(pooled["torch fp32"])
        ref_patch = np.concatenate(patches["torch fp32"])
        q = args.queries
        queries, catalog_ref = ref_cls[:q], ref_cls[q:]
        k = min(10, len(catalog_ref))
        top_ref = np.argsort(-(queries @ catalog_ref.T), axis=1)[:, :k]
        rows: dict[str, dict[str, float]] = {}
        base_rate = len(pixels) / seconds["torch fp32"]
        for name in runners:
            cls = np.concatenate(pooled[name])
            cos = (cls * ref_cls).sum(-1)
            patch_cos = float((np.concatenate(patches[name]) * ref_patch).sum(-1).mean())
            top = np.argsort(-(queries @ cls[q:].T), axis=1)[:, :k]
            agreement = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(top, top_ref, strict=True)]))
            rate = len(pixels) / seconds[name]
            rows[name] = {
                "images_per_s": round(rate, 2),
                "x_torch_fp32": round(rate / base_rate, 2),
                "cls_cosine_min": round(float(cos.min()), 5),
                "cls_cosine_mean": round(float(cos.mean()), 5),
                "patch_cosine_mean": round(patch_cos, 5),
                "top10_agreement": round(agreement, 3),
                "passes_gate": bool(cos.min() >= GATE_COSINE and agreement >= GATE_TOP10),
            }
        info = machine()
        say(f"{info['cpu']}; {args.model}, patch mode {args.patch_mode}, batch {args.batch_size}, ")
        flags = sorted(
            cpu_info()[1] & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni"}
        )
        say(
            f"{len(pixels)} photos ({q} as queries), load {os.getloadavg()[0]:.1f}; flags {' '.join(flags)}\n"
        )
        say("| runtime | img/s | × torch fp32 | CLS cosine min / mean | patch cosine | top-10 agreement ")
        say("| gate |\n")
        say("|---|---:|---:|---:|---:|---:|---|\n")
        for name, row in rows.items():
            say(
                f"| {name} | {row['images_per_s']:.1f} | {row['x_torch_fp32']:.2f} | "
                f"{row['cls_cosine_min']:.4f} / {row['cls_cosine_mean']:.4f} | "
                f"{row['patch_cosine_mean']:.4f} | "
                f"{row['top10_agreement']:.3f} | {'pass' if row['passes_gate'] else 'fail'} |\n"
            )
        report = {"machine": info, "model": args.model, "batch_size": args.batch_size, "runtimes": rows}
        with output_dir(args.smoke) as out:
            write_json("runtimes.json", report, out)
        return report


if __name__ == "__main__":
    main()
