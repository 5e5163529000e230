"""Passwords out of anything shown: URLs in responses, job errors and log lines."""

from __future__ import annotations

import logging
import re

# scheme://user:password@host -> scheme://user:***@host (the user name is kept: it helps).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@")


def hide_passwords(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***`."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


class HidePasswords(logging.Formatter):
    """A formatter that hides URL passwords in the final line, whatever put them there."""

    def format(self, record: logging.LogRecord) -> str:
        return hide_passwords(super().format(record))
