"""The OpenVINO runtime: torch's embeddings (image and text towers), converted once, gated, falls back."""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pixseek.core.errors import ConfigError
from pixseek.model import conversion
from pixseek.model import encoder as encoder_module
from pixseek.model.encoder import Encoder, resolve_runtime
from tests.support.images import pattern

pytest.importorskip("openvino")


@pytest.fixture(autouse=True)
def release_openvino_here() -> Iterator[None]:
    """Free each test's compiled models on this thread, now.

    Encoders hold reference cycles (torch modules), so without this their OpenVINO objects
    are freed by a later garbage collection, which may run on any thread (an ingest's decode
    or writer thread in a later test) while OpenVINO's own threads are live.
    """
    yield
    gc.collect()


def _pixels(encoder: Encoder) -> np.ndarray:
    images = [pattern(seed, (96, 64)) for seed in range(3)]
    return np.stack([encoder.preprocessor(img, img.size)[0] for img in images])


def _encoder(runtime: str, cache: Path, precision: str = "fp32") -> Encoder:
    return Encoder(
        "pixseek-tiny", "none", device="cpu", precision=precision, runtime=runtime, runtime_cache_dir=cache
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache dir in which the tiny model's clearclip tower was converted (once per module)."""
    folder = tmp_path_factory.mktemp("models")
    encoder = _encoder("openvino", folder)
    encoder.encode_pixels(_pixels(encoder), "clearclip")
    del encoder
    gc.collect()
    return folder


def test_openvino_gives_torchs_embeddings_and_converts_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    torch_encoder = _encoder("torch", tmp_path)
    pixels = _pixels(torch_encoder)
    with caplog.at_level(logging.INFO, logger="pixseek.model.openvino_tower"):
        first = _encoder("openvino", tmp_path)
        got = first.encode_pixels(pixels, "clearclip")
    assert first.runtime_label("clearclip") == "openvino fp32"
    assert sum("openvino_convert" in r.message for r in caplog.records) == 1
    want = torch_encoder.encode_pixels(pixels, "clearclip")
    assert (got.cls * want.cls).sum(-1).min() >= 0.9999
    cells = (got.patches.astype(np.float32) * want.patches.astype(np.float32)).sum(-1)
    assert cells.min() >= 0.999 and got.patches.shape == want.patches.shape
    (xml,) = (tmp_path / "openvino").glob("*.xml")
    gates = json.loads(xml.with_suffix("").with_suffix(".gate.json").read_text())
    assert gates["fp32"]["passed"] and gates["fp32"]["cls_cosine_min"] >= 0.9999

    # Another process (here: another encoder) reads the conversion back instead of converting.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pixseek.model.openvino_tower"):
        again = _encoder("openvino", tmp_path).encode_pixels(pixels, "clearclip")
    assert not any("openvino_convert" in r.message for r in caplog.records)
    np.testing.assert_allclose(again.cls, got.cls, atol=1e-6)


def test_each_patch_mode_gets_its_own_conversion(cache: Path) -> None:
    encoder = _encoder("openvino", cache)
    pixels = _pixels(encoder)
    maskclip = encoder.encode_pixels(pixels, "maskclip")
    clearclip = encoder.encode_pixels(pixels, "clearclip")
    np.testing.assert_allclose(maskclip.cls, clearclip.cls, atol=1e-5)  # the CLS never depends on it
    assert not np.allclose(maskclip.patches, clearclip.patches, atol=1e-2)
    assert len(list((cache / "openvino").glob("*.xml"))) == 2


def test_a_precision_that_fails_the_gate_is_recorded_and_torch_embeds(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The clearclip graph exists (converted in fp32); each precision is gated on its own.
    monkeypatch.setattr(conversion, "GATE_COSINE", 1.5)  # nothing can pass
    encoder = _encoder("openvino", cache, precision="bf16")
    pixels = _pixels(encoder)
    got = encoder.encode_pixels(pixels, "clearclip")
    assert encoder.runtime_label("clearclip") == "torch bf16"
    want = _encoder("torch", cache, precision="bf16").encode_pixels(pixels, "clearclip")
    np.testing.assert_array_equal(got.cls, want.cls)
    gates = [json.loads(p.read_text()) for p in (cache / "openvino").glob("*clearclip*.gate.json")]
    assert [(g["fp32"]["passed"], g["bf16"]["passed"]) for g in gates] == [(True, False)]
    # Recorded: a later process does not try that precision again (the gate is not re-run).
    monkeypatch.setattr(conversion, "GATE_COSINE", 0.0)
    assert _encoder("openvino", cache, precision="bf16").runtime_label("clearclip") == "torch bf16"


def test_auto_picks_openvino_only_where_it_was_measured_faster() -> None:
    assert resolve_runtime("auto", "cpu", "bf16") == "openvino"
    assert resolve_runtime("auto", "cpu", "fp32") == "openvino"
    assert resolve_runtime("auto", "cpu", "fp16") == "torch"
    assert resolve_runtime("auto", "cuda", "fp16") == "torch"
    assert resolve_runtime("torch", "cpu", "bf16") == "torch"
    with pytest.raises(ConfigError, match="PIXSEEK_DEVICE=cpu"):
        resolve_runtime("openvino", "cuda", "fp16")


def test_the_text_tower_gives_torchs_embeddings_at_every_length(cache: Path) -> None:
    texts = ["a dog", "a photo of a red bicycle leaning on a wall at night", "x " * 200]
    want = _encoder("torch", cache).encode_texts(texts)
    encoder = _encoder("openvino", cache)
    got = encoder.encode_texts(texts)
    assert encoder._text_tower is not None, "the text tower did not run on OpenVINO"
    assert (got * want).sum(-1).min() >= 0.9999
    # One dynamic graph serves every batch size and length (trimmed to the end-of-text).
    for text in texts:
        assert float((encoder.encode_texts([text])[0] * want[texts.index(text)]).sum()) >= 0.9999
    assert len(list((cache / "openvino").glob("*-text-*.xml"))) == 1


def test_a_text_tower_that_fails_the_gate_leaves_text_to_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conversion, "GATE_COSINE", 1.5)  # nothing can pass
    encoder = _encoder("openvino", tmp_path)
    got = encoder.encode_texts(["a red circle", "two blue squares"])
    assert encoder._text_tower is None
    want = _encoder("torch", tmp_path).encode_texts(["a red circle", "two blue squares"])
    np.testing.assert_array_equal(got, want)
    (gate_file,) = (tmp_path / "openvino").glob("*-text-*.gate.json")
    assert json.loads(gate_file.read_text())["fp32"]["passed"] is False


def test_a_text_conversion_that_fails_is_tried_once_and_torch_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def fails(*args: object, **kwargs: object) -> None:
        calls.append("convert")
        raise ConfigError("OpenVINO could not convert the text tower")

    monkeypatch.setattr(encoder_module, "load_text_tower", fails)
    encoder = _encoder("openvino", tmp_path)
    texts = ["a red circle", "two blue squares"]
    first, second = encoder.encode_texts(texts), encoder.encode_texts(texts)
    want = _encoder("torch", tmp_path).encode_texts(texts)
    np.testing.assert_array_equal(first, want)
    np.testing.assert_array_equal(second, want)
    assert calls == ["convert"]
