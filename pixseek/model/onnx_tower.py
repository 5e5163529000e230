"""The image and text towers on ONNX Runtime, with int8 weights: converted once, gated, cached.

ONNX Runtime's dynamic quantisation (`quantize_dynamic`: MatMul weights stored as int8,
activations quantised per batch) runs the transformer's matrix products on the CPU's int8
instructions (VNNI, AMX-INT8). Measured on some CPUs it is the fastest tower that keeps the
embeddings (docs/benchmarks.md, "Runtimes"); on others int8 costs too much accuracy. So it
is never assumed: like OpenVINO's conversions, the int8 graph must pass a quality gate
against torch fp32 before it is used, per machine (the verdict is recorded beside it), and
`PIXSEEK_RUNTIME=auto` picks it only where the runtime probe measured it fastest among the
runtimes that passed (`runtime_choice.py`).

Files live under the model cache dir (`<cache>/onnxruntime/<key>.int8.onnx`), keyed by the
model, its weights, the patch mode and the library versions, written once under a lock and
read by every later process and data dir.
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


def onnxruntime_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cache_key(model_name: str, pretrained: str, part: str, size: int) -> str:
    import onnxruntime

    version = f"{onnxruntime.__version__}/format {FORMAT_VERSION}"
    return conversion_key(model_name, pretrained, part, size, "onnxruntime", version)


def _session(path: Path, threads: int = 0) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass
class OnnxTower:
    """An int8 image tower: `(pooled, patches)` float32 arrays for a float32 batch."""

    session: Any
    precision: str = "int8"

    def __call__(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pooled, patches = self.session.run(None, {"pixels": np.ascontiguousarray(pixels, dtype=np.float32)})
        return np.asarray(pooled, dtype=np.float32), np.asarray(patches, dtype=np.float32)


@dataclass
class OnnxText:
    """An int8 text tower (`text_tower.ShortText`): features (B, D) float32 for trimmed tokens."""

    session: Any
    precision: str = "int8"

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        (features,) = self.session.run(None, {"tokens": np.ascontiguousarray(tokens, dtype=np.int64)})
        return np.asarray(features, dtype=np.float32)


def load_onnx_tower(
    visual_fp32: torch.nn.Module,
    *,
    model_name: str,
    pretrained: str,
    mode: PatchMode,
    image_size: int,
    cache_dir: Path,
) -> OnnxTower | None:
    """The int8 image tower for `mode`, exported, quantised and gated on first use; None if
    it failed the gate (on this machine: the verdict is kept and not asked again).

    Raises:
        ConfigError: onnxruntime is not installed, or the export failed.
    """
    reference = ImageGraph(visual_fp32, mode).eval()
    example = torch.from_numpy(gate_inputs(image_size)[:2])
    session = _load_converted(
        reference,
        key=cache_key(model_name, pretrained, mode, image_size),
        export=lambda path: _export(
            reference, example, path, ["pixels"], ["pooled", "patches"], {0: ("b", None)}
        ),
        cache_dir=cache_dir,
        gate=lambda session: gate_figures(OnnxTower(session), reference, image_size),
        passes=passes_image_gate,
    )
    return None if session is None else OnnxTower(session)


def load_onnx_text(
    text_fp32: ShortText, *, model_name: str, pretrained: str, cache_dir: Path
) -> OnnxText | None:
    """The int8 text tower, like `load_onnx_tower`; it takes any batch and any trimmed length."""
    reference = text_fp32.eval()
    tokens = gate_tokens(text_fp32.vocab_size, text_fp32.context_length)

    def gate(session: Any) -> dict[str, float]:
        with torch.inference_mode():
            want = reference(torch.from_numpy(tokens)).float().numpy()
        got = OnnxText(session)(tokens)
        return {"text_cosine_min": float((unit_rows(got) * unit_rows(want)).sum(-1).min())}

    session = _load_converted(
        reference,
        key=cache_key(model_name, pretrained, "text", text_fp32.context_length),
        export=lambda path: _export(
            reference,
            torch.from_numpy(tokens[:, :8]),
            path,
            ["tokens"],
            ["features"],
            {0: ("b", None), 1: ("length", text_fp32.context_length)},
        ),
        cache_dir=cache_dir,
        gate=gate,
        passes=passes_text_gate,
    )
    return None if session is None else OnnxText(session)


def _export(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    inputs: list[str],
    outputs: list[str],
    dynamic: dict[int, tuple[str, int | None]],
) -> None:
    """Export through `torch.export` with the input's `dynamic` axes symbolic ({axis: (name,
    upper bound)}): the legacy tracer fixes attention's reshapes to the example's batch and
    length, and under inference mode meets torch's fused attention, which ONNX lacks."""
    from torch.export import Dim

    shapes = {
        axis: Dim(name, min=1 if axis == 0 else 2, max=upper) if upper else Dim(name)
        for axis, (name, upper) in dynamic.items()
    }
    with warnings.catch_warnings(), torch.enable_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=inputs,
            output_names=outputs,
            dynamic_shapes={inputs[0]: shapes},
            dynamo=True,
            verbose=False,
        )


def _load_converted(
    reference: torch.nn.Module,
    *,
    key: str,
    export: Callable[[Path], None],
    cache_dir: Path,
    gate: Callable[[Any], dict[str, float]],
    passes: Callable[[dict[str, float]], bool],
) -> Any | None:
    """`reference` exported and quantised (once, under `cache_dir`), loaded and gated; None if
    the gate failed. One process converts; the others wait for the lock and read its file."""
    if not onnxruntime_available():
        raise ConfigError(
            "PIXSEEK_RUNTIME=onnxruntime needs onnxruntime and onnx: pip install onnxruntime onnx"
        )
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = cache_dir / "onnxruntime"
    model, gate_file = folder / f"{key}.int8.onnx", folder / f"{key}.gate.json"
    with file_lock(folder / ".convert.lock"):
        gates: dict[str, Any] = json.loads(gate_file.read_text()) if gate_file.exists() else {}
        if "int8" in gates and not gates["int8"]["passed"]:
            return None
        if not model.exists():
            log.info("model.onnx_convert key=%s: once, into %s", key, folder)
            folder.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".convert-"))
            try:
                export(tmp / "fp32.onnx")
                quantize_dynamic(
                    str(tmp / "fp32.onnx"),
                    str(tmp / "int8.onnx"),
                    weight_type=QuantType.QInt8,
                    op_types_to_quantize=["MatMul"],
                )
                os.replace(tmp / "int8.onnx", model)
            except Exception as exc:  # the exporter raises many types for an unsupported graph
                raise ConfigError(f"ONNX Runtime could not convert {key}: {exc}") from exc
            finally:
                for leftover in tmp.iterdir():
                    leftover.unlink()
                tmp.rmdir()
        session = _session(model)
        if "int8" not in gates:
            figures = gate(session)
            passed = passes(figures)
            gates["int8"] = {**figures, "passed": passed}
            gate_file.write_text(json.dumps(gates, indent=2, sort_keys=True))
            level = logging.INFO if passed else logging.WARNING
            log.log(level, "model.onnx_gate key=%s int8 passed=%s %s", key, passed, figures)
            if not passed:
                return None
    return session
