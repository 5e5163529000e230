"""The image tower on OpenVINO: converted once, cached on disk, checked against torch fp32.

Measured on CPUs with native bf16 (`python -m bench.ingest.runtimes`, docs/benchmarks.md),
OpenVINO's bf16 inference ran the ViT-B/32 image tower, patch tokens included, several times
faster than torch with bf16 weights, at CLS cosine 0.9999 to torch fp32. So on such CPUs
`PIXSEEK_RUNTIME=auto` embeds images with it, and queries' text (`load_text_tower`), which
a search waits for, at one short query at a time.

What is converted is exactly what ingest runs, `encode_with_patch_mode` for one patch mode,
so the CLS and the patch tokens come from one graph. The converted model is written once,
at first use, under the model cache dir (`<cache>/openvino/<key>.xml`, keyed by the model,
its weights, the patch mode and the library versions), and read back by later processes,
offline. Before a conversion is used for the first time it passes a quality gate: on a fixed
batch of inputs its CLS embeddings must match torch fp32 at cosine >= GATE_COSINE, and its
patch tokens on average; a conversion that fails is recorded as failed and torch is used.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixseek.core.errors import ConfigError
from pixseek.core.locks import file_lock
from pixseek.model.conversion import (
    ImageGraph,
    conversion_key,
    gate_figures,
    gate_inputs,
    gate_tokens,
    passes_image_gate,
    passes_text_gate,
    unit_rows,
)
from pixseek.model.patch_tokens import PatchMode
from pixseek.model.text_tower import ShortText

log = logging.getLogger(__name__)

# Bumped when what is converted changes, so that old conversions are not reused.
FORMAT_VERSION = 1
# OpenVINO's names for pixseek's precisions.
PRECISION_HINTS = {"bf16": "bf16", "fp32": "f32", "fp16": "f16"}


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def cache_key(model_name: str, pretrained: str, mode: str, image_size: int) -> str:
    import openvino as ov

    version = f"{ov.__version__}/format {FORMAT_VERSION}"
    return conversion_key(model_name, pretrained, mode, image_size, "openvino", version)


@dataclass
class OpenVinoTower:
    """A compiled image tower: `(pooled, patches)` float32 arrays for a float32 batch."""

    compiled: Any
    precision: str

    def __call__(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        result = self.compiled(np.ascontiguousarray(pixels, dtype=np.float32))
        return np.asarray(result[0], dtype=np.float32), np.asarray(result[1], dtype=np.float32)


def load_tower(
    visual_fp32: torch.nn.Module,
    *,
    model_name: str,
    pretrained: str,
    mode: PatchMode,
    image_size: int,
    precision: str,
    cache_dir: Path,
) -> OpenVinoTower | None:
    """The converted tower for `mode`, converting and gating it on first use; None if it failed the gate.

    Args:
        visual_fp32: the model's vision tower in float32 (what is converted and the gate's reference).
        precision: pixseek's precision (`bf16`, `fp32`, `fp16`), given to OpenVINO as its hint.
        cache_dir: where conversions live; created if missing.

    Raises:
        ConfigError: OpenVINO is not installed, or the conversion itself failed.
    """
    import openvino as ov

    reference = ImageGraph(visual_fp32, mode).eval()
    compiled = _load_converted(
        reference,
        key=cache_key(model_name, pretrained, mode, image_size),
        example=torch.from_numpy(gate_inputs(image_size)[:1]),
        shape=ov.PartialShape([-1, 3, image_size, image_size]),
        precision=precision,
        cache_dir=cache_dir,
        gate=lambda compiled: gate_figures(OpenVinoTower(compiled, precision), reference, image_size),
        passes=passes_image_gate,
    )
    return None if compiled is None else OpenVinoTower(compiled, precision)


@dataclass
class OpenVinoText:
    """A compiled text tower (`text_tower.ShortText`): text features (B, D) float32 for trimmed tokens."""

    compiled: Any
    precision: str

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        result = self.compiled(np.ascontiguousarray(tokens, dtype=np.int64))
        return np.asarray(result[0], dtype=np.float32)


def load_text_tower(
    text_fp32: ShortText,
    *,
    model_name: str,
    pretrained: str,
    precision: str,
    cache_dir: Path,
) -> OpenVinoText | None:
    """The converted text tower, converted and gated on first use like the image tower; None if it failed.

    The graph takes tokens of any batch size and any length up to the context length, so
    the caller trims the padding after the longest end-of-text (`text_tower.trim`).
    """
    import openvino as ov

    reference = text_fp32.eval()
    tokens = gate_tokens(text_fp32.vocab_size, text_fp32.context_length)

    def gate(compiled: Any) -> dict[str, float]:
        with torch.inference_mode():
            want = reference(torch.from_numpy(tokens)).float().numpy()
        got = OpenVinoText(compiled, precision)(tokens)
        return {"text_cosine_min": float((unit_rows(got) * unit_rows(want)).sum(-1).min())}

    compiled = _load_converted(
        reference,
        key=cache_key(model_name, pretrained, "text", text_fp32.context_length),
        example=torch.from_numpy(tokens[:, :8]),
        shape=ov.PartialShape([-1, -1]),
        precision=precision,
        cache_dir=cache_dir,
        gate=gate,
        passes=passes_text_gate,
    )
    return None if compiled is None else OpenVinoText(compiled, precision)


def _load_converted(
    reference: torch.nn.Module,
    *,
    key: str,
    example: torch.Tensor,
    shape: Any,
    precision: str,
    cache_dir: Path,
    gate: Callable[[Any], dict[str, float]],
    passes: Callable[[dict[str, float]], bool],
) -> Any | None:
    """`reference` converted (once, under `cache_dir`), compiled and gated; None if the gate failed.

    Each precision is gated once and the verdict recorded beside the graph, so a later
    process neither re-runs the gate nor retries a precision that failed.
    """
    try:
        import openvino as ov
    except ImportError as exc:
        raise ConfigError(
            "PIXSEEK_RUNTIME=openvino needs the openvino package: pip install openvino"
        ) from exc
    folder = cache_dir / "openvino"
    xml, gate_file = folder / f"{key}.xml", folder / f"{key}.gate.json"
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision]}
    # One process converts; the others wait for the lock and then read its files.
    with file_lock(folder / ".convert.lock"):
        gates: dict[str, Any] = json.loads(gate_file.read_text()) if gate_file.exists() else {}
        if precision in gates and not gates[precision]["passed"]:
            return None
        if not xml.exists():
            log.info("model.openvino_convert key=%s: once, into %s", key, folder)
            try:
                # Tracing warns that head sizes become constants: they are, for one model.
                with torch.inference_mode(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    converted = ov.convert_model(reference, example_input=example, input=[shape])
            except Exception as exc:  # OpenVINO raises its own error types from C++
                raise ConfigError(f"OpenVINO could not convert {key}: {exc}") from exc
            folder.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".convert-"))
            ov.save_model(converted, str(tmp / "model.xml"), compress_to_fp16=False)
            os.replace(tmp / "model.bin", folder / f"{key}.bin")  # the weights first, then the graph
            os.replace(tmp / "model.xml", xml)
            os.rmdir(tmp)
        compiled = core.compile_model(str(xml), "CPU", config)
        if precision not in gates:
            figures = gate(compiled)
            passed = passes(figures)
            gates[precision] = {**figures, "passed": passed}
            gate_file.write_text(json.dumps(gates, indent=2, sort_keys=True))
            level = logging.INFO if passed else logging.WARNING
            log.log(level, "model.openvino_gate key=%s %s passed=%s %s", key, precision, passed, figures)
            if not passed:
                return None
    return compiled
