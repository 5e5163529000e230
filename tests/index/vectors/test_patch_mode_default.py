"""An unset PIXSEEK_PATCH_MODE follows the data dir's store, else the model's best measured mode."""

from __future__ import annotations

from pathlib import Path

from pixseek.core.settings import Settings
from pixseek.index.vectors.patch_sync import effective_patch_mode, ensure_store_patch_mode
from pixseek.model.bundled import SCENES_MODEL


def _settings(tmp_path: Path, **update: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", **update)  # type: ignore[arg-type]


def test_a_new_data_dir_takes_the_models_best_measured_mode(tmp_path: Path) -> None:
    assert effective_patch_mode(_settings(tmp_path, model=SCENES_MODEL)) == "maskclip"
    assert effective_patch_mode(_settings(tmp_path, model="ViT-B-32")) == "clearclip"


def test_an_existing_store_keeps_its_recorded_mode_whatever_the_model_prefers(tmp_path: Path) -> None:
    settings = _settings(tmp_path, model=SCENES_MODEL)
    ensure_store_patch_mode(settings.patch_dir, "clearclip", 96)
    assert effective_patch_mode(settings) == "clearclip"


def test_a_set_mode_wins_and_is_what_a_mismatch_is_checked_against(tmp_path: Path) -> None:
    settings = _settings(tmp_path, model=SCENES_MODEL, patch_mode="sclip")
    ensure_store_patch_mode(settings.patch_dir, "clearclip", 96)
    assert effective_patch_mode(settings) == "sclip"
