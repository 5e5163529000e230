"""The runtime of each tower, chosen by measuring this CPU once per model, converted once per machine."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pixseek.model import conversion, onnx_tower, runtime_choice
from pixseek.model import encoder as encoder_module
from pixseek.model.encoder import Encoder
from pixseek.model.runtime_choice import TORCH_FP32, TowerChoice, candidates, choose, probe

INT8 = TowerChoice("onnxruntime", "int8")
OV_BF16 = TowerChoice("openvino", "bf16")


def _clocked(monkeypatch: pytest.MonkeyPatch, cost: dict[str, float]) -> Callable[[str], Any]:
    """Runners that move a fake clock by their cost per call: timings without waiting."""
    now = [0.0]
    monkeypatch.setattr(runtime_choice.time, "perf_counter", lambda: now[0])

    def runner(label: str) -> Any:
        def run(inputs: Any) -> None:
            now[0] += cost[label]

        return run

    return runner


def test_the_fastest_candidate_that_passed_its_gate_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = _clocked(monkeypatch, {"torch fp32": 4.0, "onnxruntime int8": 1.0, "openvino bf16": 2.0})
    result = probe(
        {
            TORCH_FP32: lambda: runner("torch fp32"),
            INT8: lambda: runner("onnxruntime int8"),
            OV_BF16: lambda: runner("openvino bf16"),
        },
        inputs=None,
    )
    assert result["choice"] == {"runtime": "onnxruntime", "precision": "int8"}
    assert result["figures"]["onnxruntime int8"]["calls_per_s"] == pytest.approx(1.0)
    assert result["figures"]["torch fp32"]["calls_per_s"] == pytest.approx(0.25)


def test_a_faster_candidate_that_failed_its_gate_is_not_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = _clocked(monkeypatch, {"torch fp32": 4.0, "openvino bf16": 2.0})
    result = probe(
        # int8 would be fastest, but its conversion failed the quality gate (its loader says None).
        {
            TORCH_FP32: lambda: runner("torch fp32"),
            INT8: lambda: None,
            OV_BF16: lambda: runner("openvino bf16"),
        },
        inputs=None,
    )
    assert result["choice"] == {"runtime": "openvino", "precision": "bf16"}
    assert result["figures"]["onnxruntime int8"] == {"left_out": "failed the quality gate against torch fp32"}


def test_a_gain_within_noise_keeps_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = _clocked(monkeypatch, {"torch fp32": 1.0, "openvino bf16": 0.99})
    result = probe({TORCH_FP32: lambda: runner("torch fp32"), OV_BF16: lambda: runner("openvino bf16")}, None)
    assert result["choice"] == {"runtime": "torch", "precision": "fp32"}


def test_bf16_candidates_only_on_cpus_with_bf16_instructions() -> None:
    avx2 = candidates(openvino=True, onnxruntime=True, flags=frozenset({"avx2", "fma"}))
    amx = candidates(openvino=True, onnxruntime=True, flags=frozenset({"avx2", "amx_bf16"}))
    assert [c.label for c in avx2] == ["torch fp32", "openvino fp32", "onnxruntime int8"]
    assert [c.label for c in amx] == [
        "torch fp32", "torch bf16", "openvino fp32", "openvino bf16", "onnxruntime int8",
    ]  # fmt: skip


def test_the_choice_is_kept_and_asked_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = _clocked(monkeypatch, {"torch fp32": 2.0, "onnxruntime int8": 1.0})
    probes: list[str] = []

    def factory(label: str) -> Callable[[], Any]:
        def make() -> Any:
            probes.append(label)
            return runner(label)

        return make

    factories = {TORCH_FP32: factory("torch fp32"), INT8: factory("onnxruntime int8")}
    first = choose(tmp_path, model_name="m", weights="w", part="image", factories=factories, inputs=None)
    again = choose(tmp_path, model_name="m", weights="w", part="image", factories=factories, inputs=None)
    assert first == again == INT8 and probes == ["torch fp32", "onnxruntime int8"]
    (entry,) = json.loads((tmp_path / runtime_choice.CHOICE_FILE).read_text()).values()
    assert entry["choice"] == {"runtime": "onnxruntime", "precision": "int8"}


@pytest.fixture(scope="module")
def machine_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


def _probing_encoder(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Encoder:
    # OpenVINO stays out of the suite's processes (tests/model/test_openvino_runtime.py): the
    # image tower's torch fp32 against ONNX Runtime int8, the runtime some CPUs run well and
    # others not; the text tower on torch (its export costs as much and proves nothing more).
    monkeypatch.setattr(encoder_module, "candidates", lambda **_: [TORCH_FP32, INT8])
    monkeypatch.setattr(Encoder, "_probe_text", lambda self, cache: TORCH_FP32)
    return Encoder(
        "pixseek-tiny", "none", device="cpu", precision="auto", runtime="auto", runtime_cache_dir=cache
    )


@pytest.mark.slow
def test_a_conversion_is_made_once_per_machine_and_model(
    machine_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports: list[str] = []
    real_export = onnx_tower._export

    def counted(*args: Any, **kwargs: Any) -> None:
        exports.append(str(args[2]))
        real_export(*args, **kwargs)

    monkeypatch.setattr(onnx_tower, "_export", counted)
    # Two processes' worth of encoders, as two data dirs on one machine would load them.
    first = _probing_encoder(machine_cache, monkeypatch)
    encoder_module._cached_encoder.cache_clear()
    second = _probing_encoder(machine_cache, monkeypatch)
    assert len(exports) == 1  # the image tower, once
    assert second.image_choice == first.image_choice and second.text_choice == first.text_choice
    pixels = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    second.encode_pixels(pixels)
    second.encode_texts(["a dog"])
    assert len(exports) == 1  # whatever was chosen is read back, not converted again
    assert len(list((machine_cache / "onnxruntime").glob("*.int8.onnx"))) == 1
    choices = json.loads((machine_cache / runtime_choice.CHOICE_FILE).read_text())
    assert [key.split(" | ")[3] for key in choices] == ["image"]


def test_int8_that_fails_the_gate_on_this_cpu_is_not_picked(
    machine_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same conversions, gated again with a bar nothing can pass, and asked again.
    for gate in (machine_cache / "onnxruntime").glob("*.gate.json"):
        gate.unlink()
    (machine_cache / runtime_choice.CHOICE_FILE).unlink()
    monkeypatch.setattr(conversion, "GATE_COSINE", 1.5)
    encoder = _probing_encoder(machine_cache, monkeypatch)
    assert encoder.image_choice == encoder.text_choice == TORCH_FP32
    assert encoder.runtime_label() == "torch fp32"
    (gate,) = (machine_cache / "onnxruntime").glob("*.gate.json")  # the image tower's
    assert json.loads(gate.read_text())["int8"]["passed"] is False
    figures = [
        entry["figures"]
        for entry in json.loads((machine_cache / runtime_choice.CHOICE_FILE).read_text()).values()
    ]
    assert all(
        f["onnxruntime int8"] == {"left_out": "failed the quality gate against torch fp32"} for f in figures
    )
