"""Pretrained weights that cannot be had fail at once, with pixseek's message and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pixseek.cli import main
from pixseek.core.errors import WeightsUnavailable
from pixseek.core.settings import Settings, get_settings
from pixseek.model.encoder import Encoder
from pixseek.model.weights_source import ensure_weights_reachable, weights_source
from tests.support.images import write_images

MODEL, TAG = "ViT-B-32", "laion2b_s34b_b79k"
NOBODY = "http://127.0.0.1:1"  # nothing listens on port 1: refused at once


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", NOBODY)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_a_tag_names_its_hub_repo_and_files() -> None:
    source = weights_source(MODEL, TAG)
    assert source is not None and source.hf_repo == "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
    assert source.hf_files == ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    assert weights_source(MODEL, "/models/local.bin") is None  # a file is open_clip's to open


def test_unreachable_hub_fails_before_loading_anything(no_hub: None, tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailable) as raised:
        Encoder(MODEL, TAG, device="cpu", precision="fp32", cache_dir=tmp_path, runtime="torch")
    message = str(raised.value.detail)
    assert "127.0.0.1 cannot be reached" in message and "ConnectionRefusedError" in message
    assert "PIXSEEK_PRETRAINED" in message and "HF_HUB_OFFLINE=1" in message and "pixseek demo" in message


def test_offline_mode_without_the_weights_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable, match="HF_HUB_OFFLINE is set"):
        ensure_weights_reachable(MODEL, TAG, tmp_path)


def test_cached_weights_need_no_network(no_hub: None, tmp_path: Path) -> None:
    # The hub cache's layout: the repo's folder, a ref naming a snapshot, the file in it.
    repo = tmp_path / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_pytorch_model.bin").write_bytes(b"weights")
    ensure_weights_reachable(MODEL, TAG, tmp_path)  # no probe, so no refusal


def test_first_ingest_offline_is_one_line_with_advice(
    settings: Settings, no_hub: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PIXSEEK_MODEL", MODEL)
    monkeypatch.setenv("PIXSEEK_PRETRAINED", TAG)
    monkeypatch.setenv("PIXSEEK_MODEL_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    write_images(tmp_path / "photos", 2)
    result = CliRunner().invoke(main, ["ingest", str(tmp_path / "photos")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "cannot be reached" in line and "pixseek demo" in line
