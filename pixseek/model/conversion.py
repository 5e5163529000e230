"""What every converted runtime shares: the graphs converted, their identity, the quality gate.

A converted tower (OpenVINO's `openvino_tower.py`, ONNX Runtime's `onnx_tower.py`) runs the
same graph as torch: `ImageGraph` (pooled CLS and patch tokens for one patch mode, what
ingest runs) or `text_tower.ShortText`. Before a conversion is used on a machine it must
match torch fp32 on fixed inputs: CLS embeddings at cosine >= GATE_COSINE each, patch tokens
on average, text features each (`passes_image_gate`, `passes_text_gate`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import numpy as np
import torch

from pixseek.model.identity import weights_id
from pixseek.model.patch_tokens import PatchMode, encode_with_patch_mode

GATE_COSINE = 0.99
GATE_BATCH = 4


class ImageGraph(torch.nn.Module):
    """The graph that is converted: pooled CLS and projected patch tokens for one patch mode."""

    def __init__(self, visual: torch.nn.Module, mode: PatchMode) -> None:
        super().__init__()
        self.visual = visual
        self.mode = mode

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return encode_with_patch_mode(self.visual, pixels, self.mode)


def conversion_key(model_name: str, pretrained: str, part: str, size: int, runtime: str, version: str) -> str:
    """The name of a conversion in the model cache: the model, its weights, what part of it (a
    patch mode's image graph, or `text`) at what input size, and the libraries that made it."""
    parts = {
        "model": model_name,
        "weights": weights_id(pretrained),
        "part": part,
        "size": size,
        runtime: version,
        "torch": torch.__version__,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return f"{model_name}-{part}-{digest}"


def unit_rows(a: np.ndarray) -> np.ndarray:
    """`a` as float32 with unit rows along the last axis (zero rows stay zero)."""
    a = a.astype(np.float32, copy=False)
    norms: np.ndarray = np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    return a / norms


def gate_inputs(image_size: int) -> np.ndarray:
    """A fixed batch of model inputs: smooth gradients and noise, the same in every process."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(-2.0, 2.0, image_size, dtype=np.float32)
    smooth = np.broadcast_to(ramp[None, None, :] * ramp[None, :, None], (3, image_size, image_size))
    noise = rng.standard_normal((GATE_BATCH - 1, 3, image_size, image_size)).astype(np.float32)
    return np.concatenate([smooth[None], noise]).astype(np.float32)


def probe_inputs(image_size: int, count: int = 16) -> np.ndarray:
    """A batch of model inputs to time runtimes on (speed does not depend on what they show)."""
    return np.random.default_rng(1).standard_normal((count, 3, image_size, image_size)).astype(np.float32)


def gate_figures(
    tower: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], reference: torch.nn.Module, image_size: int
) -> dict[str, float]:
    """CLS (min) and patch (mean) cosine of the converted tower to the torch fp32 one."""
    x = gate_inputs(image_size)
    with torch.inference_mode():
        ref_pooled, ref_patches = reference(torch.from_numpy(x))
    pooled, patches = tower(x)
    cls_cos = (unit_rows(pooled) * unit_rows(ref_pooled.float().numpy())).sum(-1)
    patch_cos = (unit_rows(patches) * unit_rows(ref_patches.float().numpy())).sum(-1)
    return {"cls_cosine_min": float(cls_cos.min()), "patch_cosine_mean": float(patch_cos.mean())}


def gate_tokens(vocab_size: int, context_length: int) -> np.ndarray:
    """A fixed batch of token rows of different lengths, each ending in end-of-text (the largest id)."""
    rng = np.random.default_rng(0)
    lengths = [2, 7, 19, min(context_length, 40)]
    tokens = np.zeros((len(lengths), max(lengths)), dtype=np.int64)
    for row, length in enumerate(lengths):
        tokens[row, : length - 1] = rng.integers(1, vocab_size - 1, length - 1)
        tokens[row, length - 1] = vocab_size - 1
    return tokens


def passes_image_gate(figures: dict[str, float]) -> bool:
    return figures["cls_cosine_min"] >= GATE_COSINE and figures["patch_cosine_mean"] >= GATE_COSINE


def passes_text_gate(figures: dict[str, float]) -> bool:
    return figures["text_cosine_min"] >= GATE_COSINE
