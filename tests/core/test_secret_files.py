"""Secrets read from files (`PIXSEEK_<NAME>_FILE`), as Docker and Kubernetes mount them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pixseek.cli import main
from pixseek.core.errors import ConfigError
from pixseek.core.settings import SECRET_FIELDS, Settings

SECRET = "s3cr3t-" + "x" * 40


@pytest.mark.parametrize("name", SECRET_FIELDS)
def test_each_secret_setting_is_read_from_its_file(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = "redis://:pw@127.0.0.1:6379/0" if name == "broker_url" else SECRET
    secret = tmp_path / name
    secret.write_text(value + "\n")  # as `echo` writes it: the newline is not part of it
    monkeypatch.delenv(f"PIXSEEK_{name.upper()}", raising=False)
    monkeypatch.setenv(f"PIXSEEK_{name.upper()}_FILE", str(secret))
    got = getattr(Settings(), name)
    assert (got.get_secret_value() if hasattr(got, "get_secret_value") else got) == value


def test_a_secret_given_twice_or_a_missing_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSEEK_SESSION_SECRET_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="PIXSEEK_SESSION_SECRET_FILE names a file that cannot be read"):
        Settings()
    (tmp_path / "present").write_text(SECRET)
    monkeypatch.setenv("PIXSEEK_SESSION_SECRET_FILE", str(tmp_path / "present"))
    monkeypatch.setenv("PIXSEEK_SESSION_SECRET", SECRET)
    with pytest.raises(ConfigError, match="not both"):
        Settings()


def test_the_cli_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXSEEK_DATABASE_URL_FILE", str(tmp_path / "absent"))
    from pixseek.core.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["jobs"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: PIXSEEK_DATABASE_URL_FILE names a file")
    assert "Traceback" not in result.output
