"""The duplicates façade: one object for the CLI, the API and the benchmark.

Each job lives in its own module: `detection` (compare and store pairs), `regroup`
(groups from pairs), `views` (groups as typed views), `decisions` (resolve, dismiss) and
`check` (one image before ingest); detection as a job is `jobs`. Nothing here ever touches
a user's files: resolving a group only records which images to keep and which to remove
or hide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from pixseek.core.active_model import follow_switch
from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import GroupStatus
from pixseek.search.duplicates import decisions, detection, regroup, views
from pixseek.search.duplicates.check import CheckResult, DuplicateCheck
from pixseek.search.duplicates.decisions import ACTIONS
from pixseek.search.duplicates.detection import DetectSummary
from pixseek.search.duplicates.errors import GroupDecided, GroupNotFound
from pixseek.search.duplicates.views import GroupView

if TYPE_CHECKING:
    from pixseek.search.service import SearchService

__all__ = [
    "ACTIONS",
    "CheckResult",
    "DetectSummary",
    "DuplicateService",
    "GroupDecided",
    "GroupNotFound",
    "GroupView",
]


class DuplicateService:
    """Duplicate detection, groups and decisions for one pixseek configuration.

    Example:
        >>> service = DuplicateService(settings)
        >>> with session_scope(settings) as session:
        ...     service.detect(session)
        ...     total, groups = service.list_groups(session, kind="near")
    """

    def __init__(self, settings: Settings, search: SearchService | None = None) -> None:
        """`search` is the process's search service when it has one (the API's), so checking
        an image reuses its loaded model and index instead of loading them again."""
        self.settings = settings
        self.checker = DuplicateCheck(settings, search)

    def detect(self, session: Session, *, full: bool = False) -> DetectSummary:
        """Compare new images (all images when `full`) and rebuild the open groups.

        Runs in the caller's transaction and reads only the catalog; a detection job
        (`jobs.py`) also gives images without a signature one first.
        """
        return detection.detect(session, follow_switch(self.settings), full=full)

    def regroup(self, session: Session) -> dict[str, int]:
        """Rebuild every open group from the stored pairs; groups per tier."""
        return regroup.regroup(session, follow_switch(self.settings))

    def list_groups(
        self,
        session: Session,
        *,
        kind: str | None = None,
        status: str = GroupStatus.OPEN,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[int, list[GroupView]]:
        """(total, one page of groups) with the given kind and status, newest last."""
        return views.list_groups(
            session, kind=kind, status=status, offset=offset, limit=limit, max_limit=self.settings.max_results
        )

    def get_group(self, session: Session, group_id: int) -> GroupView:
        return views.get_group(session, group_id)

    def resolve(
        self, session: Session, group_id: int, *, keep: list[int] | None = None, action: str = "hide"
    ) -> GroupView:
        """Keep `keep` (default: the suggested keeper); mark the others to remove or hide.

        Only records the decision: pixseek never deletes a user's file.
        """
        return decisions.resolve(session, group_id, keep=keep, action=action)

    def dismiss(self, session: Session, group_id: int) -> GroupView:
        """Mark the group "not duplicates": none of its pairs will be grouped again."""
        return decisions.dismiss(session, group_id)

    def check(self, session: Session, data: bytes, *, max_bytes: int | None = None) -> CheckResult:
        """Exact, near and similar copies of an image in the collection; writes nothing."""
        return self.checker.check(session, data, max_bytes=max_bytes)
