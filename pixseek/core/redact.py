"""Passwords out of anything shown: URLs in responses, job errors and log lines."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

# scheme://user:password@host -> scheme://user:***@host (the user name is kept: it helps).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@")


def hide_passwords(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***`."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


def hide_url_password(url: str) -> str:
    """`url`, one URL alone, with its password as `***`, whatever characters the password has.

    `hide_passwords` finds URLs in free text, so it stops a password at `@` or `/`; in a value
    known to be one URL everything between `user:` and the last `@` is the password.
    """
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    if not (sep and at and colon):
        return hide_passwords(url)
    return f"{scheme}://{user}:***@{host}"


def redacted_dump(model: BaseModel) -> dict[str, Any]:
    """`model`'s fields as JSON values, with every secret and every URL password as `***`."""

    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "***"
        if isinstance(value, str):
            return hide_url_password(value)
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set):
            return [plain(item) for item in value]
        return value

    dumped: dict[str, Any] = plain(model.model_dump())
    return dumped


class HidePasswords(logging.Formatter):
    """A formatter that hides URL passwords in the final line, whatever put them there."""

    def format(self, record: logging.LogRecord) -> str:
        return hide_passwords(super().format(record))
