"""What a process does after an index generation is published (saved searches kept current).

The index writer runs in the ingest pipeline; what follows a publish (running the saved
searches) lives above it, so the process that serves registers it here, per data dir, and
`finalize_job` calls `published`. A failing follower is logged and never fails the ingest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pixseek.core.settings import Settings

log = logging.getLogger(__name__)

_FOLLOWERS: dict[str, Callable[[Settings], object]] = {}


def on_published(settings: Settings, follower: Callable[[Settings], object]) -> None:
    """Call `follower` after each publish in this process for `settings`' data dir (one per dir)."""
    _FOLLOWERS[str(settings.data_dir)] = follower


def published(settings: Settings) -> None:
    follower = _FOLLOWERS.get(str(settings.data_dir))
    if follower is None:
        return
    try:
        follower(settings)
    except Exception:  # the index is published: whatever follows must not fail the job
        log.exception("events.published_follower_failed data_dir=%s", settings.data_dir)
