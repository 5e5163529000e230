"""Settings from the environment, and a migrated database that matches the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from pixseek.core.db import get_engine, migrate
from pixseek.core.settings import Settings
from pixseek.migrations.metadata import Base
from pixseek.migrations.unmodelled import include_object


def test_migrations_create_exactly_the_models_schema(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None)
    migrate(settings)
    engine = get_engine(settings)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


@pytest.mark.parametrize("value", ["none", "None", "NONE", "", "  none "])
def test_random_weight_tags_are_normalised(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PIXSEEK_PRETRAINED", value)
    settings = Settings()
    assert settings.pretrained == "none"
    assert settings.random_weights


def test_defaults_are_the_embedded_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("PIXSEEK_MODEL", "PIXSEEK_PRETRAINED", "PIXSEEK_DATABASE_URL", "PIXSEEK_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIXSEEK_DATA_DIR", str(tmp_path / "d"))
    settings = Settings()
    assert (settings.model, settings.pretrained) == ("ViT-B-32", "laion2b_s34b_b79k")
    assert not settings.random_weights
    assert settings.embedded
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path / 'd' / 'pixseek.db'}"
    assert settings.index_dir == tmp_path / "d" / "index"
    assert settings.patch_dir == tmp_path / "d" / "patches"


def test_database_url_and_broker_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXSEEK_DATABASE_URL", "postgresql+psycopg://u:p@db/pixseek")
    monkeypatch.setenv("PIXSEEK_BROKER_URL", "redis://localhost:6379/0")
    settings = Settings()
    assert settings.sqlalchemy_url == "postgresql+psycopg://u:p@db/pixseek"
    assert not settings.embedded


def test_unsafe_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    for name, value in [
        ("PIXSEEK_BATCH_SIZE", "0"),
        ("PIXSEEK_MAX_IMAGE_PIXELS", "0"),
        ("PIXSEEK_DEVICE", "tpu"),
    ]:
        monkeypatch.setenv(name, value)
        with pytest.raises(ValidationError):
            Settings()
        monkeypatch.delenv(name)
