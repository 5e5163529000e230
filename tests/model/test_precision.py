"""The precision setting picks the encoder's dtype; bf16 stays close to fp32; the short text
forward gives the same vectors as open_clip's full one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pixseek.core.settings import Settings
from pixseek.model import cpu_precision
from pixseek.model import encoder as encoder_module
from pixseek.model.encoder import Encoder, get_encoder, resolve_precision


@pytest.mark.parametrize(("pays", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_follows_the_measured_bf16_speed_on_cpu(
    monkeypatch: pytest.MonkeyPatch, pays: bool, expected: str
) -> None:
    monkeypatch.setattr(encoder_module, "bf16_pays", lambda cache_dir=None: pays)
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("auto", "cuda") == "fp16"
    assert resolve_precision("fp32", "cpu") == "fp32"


@pytest.mark.parametrize(("speedup", "expected"), [(2.4, True), (0.6, False)])
def test_bf16_is_picked_where_the_cpu_runs_it_faster_asked_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, speedup: float, expected: bool
) -> None:
    probes: list[int] = []

    def probe(rounds: int = 5) -> float:
        probes.append(rounds)
        return speedup

    monkeypatch.setattr(cpu_precision, "cpu_info", lambda: ("Test CPU", frozenset({"avx512_bf16"})))
    monkeypatch.setattr(cpu_precision, "cpu_key", lambda: "Test CPU [avx512_bf16]")
    monkeypatch.setattr(cpu_precision, "bf16_speedup", probe)
    monkeypatch.setattr(cpu_precision, "_memo", {})
    assert cpu_precision.bf16_pays(tmp_path) is expected
    assert cpu_precision.bf16_pays(tmp_path) is expected
    monkeypatch.setattr(cpu_precision, "_memo", {})  # a later process: the file answers
    assert cpu_precision.bf16_pays(tmp_path) is expected
    assert len(probes) == 1
    kept = json.loads((tmp_path / cpu_precision.CACHE_FILE).read_text())
    assert kept == {"Test CPU [avx512_bf16]": {"bf16": expected, "speedup": speedup, "min_speedup": 1.2}}


def test_a_cpu_without_bf16_instructions_is_not_probed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def probe(rounds: int = 5) -> float:
        raise AssertionError("probed a CPU without bf16")

    monkeypatch.setattr(cpu_precision, "cpu_info", lambda: ("Old CPU", frozenset({"avx2"})))
    monkeypatch.setattr(cpu_precision, "bf16_speedup", probe)
    assert cpu_precision.bf16_pays(tmp_path) is False
    assert not (tmp_path / cpu_precision.CACHE_FILE).exists()


def test_the_probe_times_each_precision_and_divides_the_right_way(monkeypatch: pytest.MonkeyPatch) -> None:
    # A clock that each product moves on: 3 ticks for fp32, 1 for bf16 (bf16 three times as fast).
    now = [0.0]
    real_linear = torch.nn.functional.linear
    calls: dict[torch.dtype, int] = {torch.float32: 0, torch.bfloat16: 0}

    def linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        calls[x.dtype] += 1
        now[0] += 3.0 if x.dtype == torch.float32 else 1.0
        return real_linear(x[:1], w[:1])  # the shape is not the point: keep it cheap

    monkeypatch.setattr(cpu_precision.torch.nn.functional, "linear", linear)
    monkeypatch.setattr(cpu_precision.time, "perf_counter", lambda: now[0])
    assert cpu_precision.bf16_speedup(rounds=3) == pytest.approx(3.0)
    assert calls[torch.float32] == calls[torch.bfloat16] == 1 + 3 * 4  # a warm-up, then 3 rounds of 4


@pytest.mark.parametrize(("setting", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_precision_setting_selects_weight_dtype(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, setting: str, dtype: torch.dtype
) -> None:
    monkeypatch.setenv("PIXSEEK_PRECISION", setting)
    encoder = get_encoder(Settings())
    assert encoder.precision == setting and encoder.dtype == dtype
    assert next(encoder.model.parameters()).dtype == dtype
    assert not encoder.autocast  # autocast is only used on CUDA


def test_bf16_embeddings_agree_with_fp32() -> None:
    fp32 = Encoder("pixseek-tiny", "none", device="cpu", precision="fp32")
    bf16 = Encoder("pixseek-tiny", "none", device="cpu", precision="bf16")
    pixels = (
        np.random.default_rng(0).standard_normal((4, 3, fp32.image_size, fp32.image_size)).astype(np.float32)
    )
    a, b = fp32.encode_pixels(pixels).cls, bf16.encode_pixels(pixels).cls
    assert (a * b).sum(axis=1).min() >= 0.99
    ta, tb = fp32.encode_texts(["a dog", "a red car"]), bf16.encode_texts(["a dog", "a red car"])
    assert (ta * tb).sum(axis=1).min() >= 0.99


def test_short_text_forward_equals_open_clip_encode_text() -> None:
    encoder = Encoder("pixseek-tiny", "none", device="cpu", precision="fp32")
    assert encoder._short_text is not None
    texts = ["a dog", "a photo of a red bicycle leaning on a wall at night", "x " * 200]
    short = encoder.encode_texts(texts)
    tokens = encoder.tokenizer(texts)
    with torch.inference_mode():
        full = torch.nn.functional.normalize(encoder.model.encode_text(tokens).float(), dim=-1).numpy()
    np.testing.assert_allclose(short, full, atol=1e-5)
