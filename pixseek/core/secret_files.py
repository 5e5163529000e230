"""Secrets read from files: `PIXSEEK_<NAME>_FILE` holds the path of a file whose content is the value.

Docker and Kubernetes mount secrets as files (`/run/secrets/...`); pointing a `_FILE` variable at
one keeps the secret out of the environment, where `docker inspect`, `/proc/<pid>/environ` and
crash reports would show it. One trailing newline is dropped (editors and `echo` add one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from pixseek.core.errors import ConfigError


def _environ(name: str) -> str | None:
    """A variable of the environment, its name matched without regard to case (as pydantic-settings does)."""
    wanted = name.lower()
    for key, value in os.environ.items():
        if key.lower() == wanted:
            return value
    return None


def read_secret_file(variable: str, path: str) -> str:
    """The secret in the file at `path`, without its trailing newline; a clear error if unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        # The path is not the secret: naming it tells the operator which mount is missing.
        raise ConfigError(f"{variable} names a file that cannot be read: {path} ({exc.strerror})") from None
    return text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")


class SecretFiles(PydanticBaseSettingsSource):
    """A settings source: `<prefix><NAME>_FILE` for each of `fields`, read from its file."""

    def __init__(self, settings_cls: type[BaseSettings], prefix: str, fields: tuple[str, ...]) -> None:
        super().__init__(settings_cls)
        self.prefix = prefix
        self.fields = fields

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in self.fields:
            variable = f"{self.prefix}{name.upper()}"
            path = _environ(f"{variable}_FILE")
            if not path:
                continue
            if _environ(variable):
                raise ConfigError(f"set {variable} or {variable}_FILE, not both")
            values[name] = read_secret_file(f"{variable}_FILE", path)
        return values
