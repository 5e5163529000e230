"""Errors of the duplicate groups, rendered like every other pixseek error."""

from __future__ import annotations

from pixseek.core.errors import PixseekError


class GroupNotFound(PixseekError):
    status_code = 404
    code = "group_not_found"


class GroupDecided(PixseekError):
    status_code = 409
    code = "group_decided"
