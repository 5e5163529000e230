"""Every setting is documented once, in its field; docs/configuration.md is rendered from them.

`pixseek config show` prints the settings in effect and never a secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pixseek.cli import main
from pixseek.core import settings_docs
from pixseek.core.settings import SETTINGS_GROUPS, Settings, get_settings
from pixseek.core.settings_docs import configuration_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

# Named by issue 23 as settings no page used to mention.
ONCE_UNDOCUMENTED = [
    "PIXSEEK_MAX_JSON_BYTES",
    "PIXSEEK_MAX_QUERY_PARTS",
    "PIXSEEK_MAX_TEXT_CHARS",
    "PIXSEEK_MAX_PROMPT_TEMPLATES",
    "PIXSEEK_MAX_TEMPLATE_CHARS",
]

S3_SECRET = "s3-secret-4f9a1c"
BOOTSTRAP_KEY = "bootstrap-key-" + "7" * 40
SESSION_SECRET = "session-secret-" + "e" * 40
DB_PASSWORD = "hunter2"
BROKER_PASSWORD = "br0ker@pass/word"  # an `@` and a `/`: the URL's last `@` ends it


def nested_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def every_field(
    model: type[BaseModel], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], FieldInfo]]:
    """(path of names, field) of each field of `model` and of its nested models."""
    for name, field in model.model_fields.items():
        yield (*path, name), field
        nested = nested_model(field)
        if nested is not None:
            yield from every_field(nested, (*path, name))


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings read afresh from this test's environment, with its own data dir."""
    monkeypatch.chdir(tmp_path)  # no .env of the checkout's
    monkeypatch.setenv("PIXSEEK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_committed_page_is_what_the_settings_render() -> None:
    assert DOCS.read_text(encoding="utf-8") == configuration_markdown(), (
        "docs/configuration.md is out of date: run `pixseek config docs > docs/configuration.md`"
    )


def test_the_page_is_the_same_on_every_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    page = configuration_markdown()
    monkeypatch.setenv("HOME", str(tmp_path / "someone-else"))
    monkeypatch.setenv("PIXSEEK_BATCH_SIZE", "7")  # the page shows defaults, not this process's values
    assert configuration_markdown() == page
    assert "| `PIXSEEK_DATA_DIR` | path | `~/.local/share/pixseek` |" in page


def test_every_field_has_a_description() -> None:
    fields = {".".join(path): field.description for path, field in every_field(Settings)}
    assert {"duplicates.knn", "tags.enabled", "ocr.queue", "watch.events", "rescan.buckets"} <= set(fields)
    undocumented = sorted(name for name, description in fields.items() if not (description or "").strip())
    assert undocumented == [], f"give these fields a Field(description=...): {undocumented}"


def test_every_field_is_in_exactly_one_group() -> None:
    grouped = [name for names in SETTINGS_GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(Settings.model_fields), (
        "each field of Settings belongs in exactly one group of SETTINGS_GROUPS"
    )


def test_a_field_left_out_of_the_groups_stops_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    groups = {title: tuple(n for n in names if n != "fusion_k") for title, names in SETTINGS_GROUPS.items()}
    monkeypatch.setattr(settings_docs, "SETTINGS_GROUPS", groups)
    with pytest.raises(ValueError, match=r"in no group \['fusion_k'\]"):
        configuration_markdown()


def test_the_page_names_every_variable_with_its_type_and_default() -> None:
    page = configuration_markdown()
    for name in ONCE_UNDOCUMENTED:
        assert f"| `{name}` |" in page
    for path, field in every_field(Settings):
        if nested_model(field) is None:
            assert f"| `PIXSEEK_{'__'.join(path).upper()}` |" in page
    assert "| `PIXSEEK_DUPLICATES__KNN` | int (1–1000) | `10` |" in page
    assert "| `PIXSEEK_DEVICE` | one of `cpu`, `cuda`, `auto` | `auto` |" in page
    assert "| `PIXSEEK_BOOTSTRAP_API_KEY` | secret | unset |" in page
    assert '| `PIXSEEK_PROMPT_TEMPLATES` | JSON list of strings | `["a photo of {}."]` |' in page
    assert "| `PIXSEEK_SESSION_HOURS` | float (> 0, ≤ 720) | `12` |" in page


@pytest.mark.usefixtures("environment")
def test_config_show_hides_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXSEEK_S3_SECRET_ACCESS_KEY", S3_SECRET)
    monkeypatch.setenv("PIXSEEK_BOOTSTRAP_API_KEY", BOOTSTRAP_KEY)
    monkeypatch.setenv("PIXSEEK_SESSION_SECRET", SESSION_SECRET)
    monkeypatch.setenv("PIXSEEK_DATABASE_URL", f"postgresql+psycopg://u:{DB_PASSWORD}@h/db")
    monkeypatch.setenv("PIXSEEK_BROKER_URL", f"redis://:{BROKER_PASSWORD}@redis:6379/0")
    monkeypatch.setenv("PIXSEEK_DUPLICATES__KNN", "20")

    result = run("config", "show", "--json")
    assert result.exit_code == 0, result.stderr
    for secret in (S3_SECRET, BOOTSTRAP_KEY, SESSION_SECRET, DB_PASSWORD, "br0ker", "pass/word"):
        assert secret not in result.output
    shown = json.loads(result.stdout)
    assert shown["s3_secret_access_key"] == shown["bootstrap_api_key"] == shown["session_secret"] == "***"
    assert shown["database_url"] == "postgresql+psycopg://u:***@h/db"
    assert shown["broker_url"] == "redis://:***@redis:6379/0"
    assert shown["duplicates"]["knn"] == 20  # the environment's value, nested as in Settings

    text = run("config", "show")
    assert text.exit_code == 0, text.stderr
    for secret in (S3_SECRET, BOOTSTRAP_KEY, SESSION_SECRET, DB_PASSWORD, "br0ker", "pass/word"):
        assert secret not in text.output
    assert "PIXSEEK_DATABASE_URL" in text.stdout and "u:***@h/db" in text.stdout
    assert any(line.split() == ["PIXSEEK_DUPLICATES__KNN", "20"] for line in text.stdout.splitlines())


@pytest.mark.usefixtures("environment")
def test_config_show_names_an_invalid_setting_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXSEEK_BOOTSTRAP_API_KEY", "too-short-secret")
    monkeypatch.setenv("PIXSEEK_PORT", "0")
    result = run("config", "show", "--json")
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["error"] == "config_error"
    assert "PIXSEEK_BOOTSTRAP_API_KEY" in document["detail"] and "PIXSEEK_PORT" in document["detail"]
    assert "too-short-secret" not in result.output


def test_config_docs_prints_the_page() -> None:
    result = run("config", "docs")
    assert result.exit_code == 0
    assert result.stdout == configuration_markdown()
