"""Curation's errors."""

from __future__ import annotations

from pixseek.core.errors import PixseekError


class SelectionNotFound(PixseekError):
    status_code = 404
    code = "selection_not_found"
