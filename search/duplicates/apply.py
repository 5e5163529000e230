"""Duplicate decisions carried out: the images decided against move to a quarantine, and back.

`plan` reads the catalog: every `duplicate` member of a group resolved with action `remove`
whose file is still searchable, its group's keeper still present. `apply` (dry run unless
told otherwise) writes the plan to a manifest, moves each file to the quarantine under the
same key (`pixseek.media.sources.moves`: never overwriting, never deleting a file without
a checked copy), records each move in the manifest and marks the image `quarantined` (out of
the index, its vectors kept). A run cut short (a crash, a kill) is finished by the next
`apply`: each file's place on disk says how far it got. `undo` moves a run's files back
and returns their images to the index. Files are never deleted by pixseek.

The manifest, `<data_dir>/quarantine/<run>.jsonl`, is append-only JSON lines, each synced:
a `run` header, one `plan` line per file, then `moved`, `skipped`, `undone` lines and
`finished` / `undo_finished` markers.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pixseek.core.db import in_chunks, session_scope, utcnow
from pixseek.core.errors import InvalidRequest, PixseekError
from pixseek.core.locks import file_lock
from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import DuplicateGroup, DuplicateMember, GroupStatus, Role
from pixseek.index.catalog.images import SEARCHABLE, Image, ImageStatus
from pixseek.index.vectors.writer import publish_index
from pixseek.media.sources.moves import Found, MoveRefused, Place, move, open_place, prune_empty
from pixseek.model.identity import ModelId

log = logging.getLogger(__name__)

HIDDEN_QUARANTINE = ".pixseek-quarantine"
COMMIT_EVERY = 64


class RunNotFound(PixseekError):
    status_code = 404
    code = "run_not_found"


@dataclass(frozen=True)
class Move:
    """One file to quarantine: where it is, where it goes, and what it was when planned."""

    image_id: int
    group_id: int
    bucket: str
    key: str
    target: str  # the quarantine root; the file goes to <target>/<key>
    size: int
    fingerprint: str  # sha256 (a folder) or ETag (S3) of the file when planned
    status_before: str

    def found(self) -> Found:
        return Found(self.size, self.fingerprint)


@dataclass
class ApplyReport:
    run: str | None
    dry_run: bool
    planned: int = 0
    moved: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    resumed: bool = False
    moves: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quarantine_root(bucket: str, configured: str | None) -> str:
    """The quarantine of one bucket: the configured one, or a hidden folder inside the bucket."""
    if configured:
        return configured.rstrip("/")
    return f"{bucket.rstrip('/')}/{HIDDEN_QUARANTINE}"


def _check_quarantine(root: str, bucket: str) -> None:
    """Refuse the bucket itself, and a folder inside it that ingest would list (not hidden)."""
    root, bucket = root.rstrip("/"), bucket.rstrip("/")
    if root == bucket:
        raise InvalidRequest(f"the quarantine {root} is the bucket itself: choose another folder or prefix")
    if root.startswith(bucket + "/"):
        inside = root[len(bucket) + 1 :].split("/")
        if not any(part.startswith(".") for part in inside):
            raise InvalidRequest(
                f"the quarantine {root} is inside the bucket {bucket}, where the next ingest would list "
                f"its files again: use a hidden folder (.name) or a place outside the bucket"
            )


def plan(
    session: Session, settings: Settings, to: str | None = None
) -> tuple[list[Move], list[dict[str, Any]]]:
    """(the moves that carry out the decisions, the images left alone and why)."""
    configured = to or settings.duplicates.quarantine
    rows = session.execute(
        select(DuplicateMember.group_id, DuplicateGroup.keeper_id, Image)
        .join(DuplicateGroup, DuplicateGroup.id == DuplicateMember.group_id)
        .join(Image, Image.id == DuplicateMember.image_id)
        .where(
            DuplicateGroup.status == GroupStatus.RESOLVED,
            DuplicateGroup.action == "remove",
            DuplicateMember.role == Role.DUPLICATE,
            Image.status.in_(list(SEARCHABLE)),
        )
        .order_by(DuplicateMember.group_id, DuplicateMember.position)
    ).all()
    keepers = {int(k) for _, k, _ in rows}
    present = set(
        session.scalars(
            select(Image.id).where(Image.id.in_(list(keepers)), Image.status.in_(list(SEARCHABLE)))
        )
    )
    moves: list[Move] = []
    left: list[dict[str, Any]] = []
    targets: dict[str, int] = {}
    for group_id, keeper_id, image in rows:
        if keeper_id not in present:
            left.append(
                {"image_id": image.id, "reason": f"the keeper #{keeper_id} is no longer in the catalog"}
            )
            continue
        if not image.sha256:
            left.append({"image_id": image.id, "reason": "no digest recorded"})
            continue
        root = quarantine_root(image.bucket, configured)
        _check_quarantine(root, image.bucket)
        if root.lower().startswith("s3://") != image.bucket.lower().startswith("s3://"):
            raise InvalidRequest(f"the quarantine {root} is not the same kind of store as {image.bucket}")
        where = f"{root}/{image.key}"
        if where in targets:
            raise InvalidRequest(f"images #{targets[where]} and #{image.id} would both go to {where}")
        targets[where] = image.id
        s3 = image.bucket.lower().startswith("s3://")
        moves.append(
            Move(
                image_id=image.id,
                group_id=int(group_id),
                bucket=image.bucket,
                key=image.key,
                target=root,
                size=int(image.size or 0),
                fingerprint=(image.etag or "") if s3 else image.sha256,
                status_before=image.status,
            )
        )
    return moves, left


# --- the manifest ----------------------------------------------------------------------------


def runs_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "quarantine"


def _path(settings: Settings, run: str) -> Path:
    if not run or not all(c.isalnum() or c == "-" for c in run):
        raise RunNotFound(f"no apply run {run!r}")
    path = runs_dir(settings) / f"{run}.jsonl"
    if not path.exists():
        raise RunNotFound(f"no apply run {run!r}")
    return path


def _append(path: Path, *records: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


@dataclass
class Manifest:
    run: str
    header: dict[str, Any]
    moves: list[Move]
    moved: set[int]
    skipped: dict[int, str]
    undone: set[int]
    finished: bool
    undo_finished: bool


def read_manifest(path: Path) -> Manifest:
    """A manifest as written so far; a last line cut short by a crash is ignored."""
    header: dict[str, Any] = {}
    moves: list[Move] = []
    moved: set[int] = set()
    undone: set[int] = set()
    skipped: dict[int, str] = {}
    finished = undo_finished = False
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        op = record.pop("op", None)
        if op == "run":
            header = record
        elif op == "plan":
            moves.append(Move(**record))
        elif op == "moved":
            moved.add(int(record["image_id"]))
        elif op == "skipped":
            skipped[int(record["image_id"])] = str(record["reason"])
        elif op == "undone":
            undone.add(int(record["image_id"]))
        elif op == "finished":
            finished = True
        elif op == "undo_finished":
            undo_finished = True
    return Manifest(path.stem, header, moves, moved, skipped, undone, finished, undo_finished)


def list_runs(settings: Settings) -> list[dict[str, Any]]:
    """Every apply run, oldest first: its id, when, how many files moved, and whether undone."""
    folder = runs_dir(settings)
    out = []
    for path in sorted(folder.glob("*.jsonl")) if folder.exists() else []:
        m = read_manifest(path)
        out.append(
            {
                "run": m.run,
                "created_at": m.header.get("created_at"),
                "planned": len(m.moves),
                "moved": len(m.moved),
                "skipped": len(m.skipped),
                "finished": m.finished,
                "undone": m.undo_finished,
            }
        )
    return out


# --- carrying a run out ----------------------------------------------------------------------


def _mark(settings: Settings, ids: list[int], status: str, error: str | None) -> None:
    if not ids:
        return
    with session_scope(settings) as session:
        for part in in_chunks(ids):
            session.execute(
                update(Image)
                .where(Image.id.in_(list(part)))
                .values(status=status, error=error, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )


def _places(settings: Settings, m: Move, cache: dict[str, Place]) -> tuple[Place, Place]:
    for uri in (m.bucket, m.target):
        if uri not in cache:
            cache[uri] = open_place(uri, settings)
    return cache[m.bucket], cache[m.target]


def _publish(settings: Settings) -> None:
    publish_index(settings, ModelId.of(settings))


def _carry_out(settings: Settings, path: Path, report: ApplyReport) -> None:
    manifest = read_manifest(path)
    places: dict[str, Place] = {}
    batch: list[int] = []
    for m in manifest.moves:
        if m.image_id in manifest.moved or m.image_id in manifest.skipped:
            continue
        src, dst = _places(settings, m, places)
        try:
            move(src, dst, m.key, m.found())
        except MoveRefused as exc:
            _append(path, {"op": "skipped", "image_id": m.image_id, "reason": str(exc)})
            report.skipped.append({"image_id": m.image_id, "reason": str(exc)})
            log.warning("duplicates.apply_skipped image=%d reason=%s", m.image_id, exc)
            continue
        _append(path, {"op": "moved", "image_id": m.image_id})
        manifest.moved.add(m.image_id)
        batch.append(m.image_id)
        if len(batch) >= COMMIT_EVERY:
            _mark(settings, batch, ImageStatus.QUARANTINED, f"quarantined by apply run {manifest.run}")
            batch = []
    # Every moved image, also those a crash moved before its catalog row followed.
    _mark(
        settings, sorted(manifest.moved), ImageStatus.QUARANTINED, f"quarantined by apply run {manifest.run}"
    )
    _publish(settings)
    _append(path, {"op": "finished"})
    report.moved = len(manifest.moved)
    report.skipped = [{"image_id": i, "reason": r} for i, r in sorted(manifest.skipped.items())] + [
        s for s in report.skipped if s["image_id"] not in manifest.skipped
    ]


def _unfinished(settings: Settings) -> Path | None:
    folder = runs_dir(settings)
    for path in sorted(folder.glob("*.jsonl")) if folder.exists() else []:
        if not read_manifest(path).finished:
            return path
    return None


def apply(settings: Settings, *, dry_run: bool = True, to: str | None = None) -> ApplyReport:
    """Move the images decided against to the quarantine (only report it when `dry_run`).

    A run a crash cut short is finished first, and reported with `resumed`; new decisions
    are then left for the next call.
    """
    if dry_run:
        with session_scope(settings) as session:
            moves, left = plan(session, settings, to)
        return ApplyReport(
            run=None,
            dry_run=True,
            planned=len(moves),
            skipped=left,
            moves=[
                {"image_id": m.image_id, "from": f"{m.bucket}/{m.key}", "to": f"{m.target}/{m.key}"}
                for m in moves
            ],
        )
    folder = runs_dir(settings)
    with file_lock(Path(settings.data_dir) / ".apply.lock"):
        pending = _unfinished(settings)
        if pending is not None:
            report = ApplyReport(run=pending.stem, dry_run=False, resumed=True)
            report.planned = len(read_manifest(pending).moves)
            log.info("duplicates.apply_resumed run=%s", pending.stem)
            _carry_out(settings, pending, report)
            return report
        with session_scope(settings) as session:
            moves, left = plan(session, settings, to)
        run = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{run}.jsonl"
        header = {"op": "run", "created_at": datetime.now(UTC).isoformat(), "quarantine": to}
        _append(path, header, *({"op": "plan", **asdict(m)} for m in moves))
        report = ApplyReport(run=run, dry_run=False, planned=len(moves), skipped=list(left))
        log.info("duplicates.apply_started run=%s files=%d", run, len(moves))
        _carry_out(settings, path, report)
        return report


def undo(settings: Settings, run: str) -> ApplyReport:
    """Move every file of `run` back where it was and return its image to the index.

    Safe to run again after a crash; a file whose original place is taken is left where it
    is and reported.
    """
    with file_lock(Path(settings.data_dir) / ".apply.lock"):
        path = _path(settings, run)
        manifest = read_manifest(path)
        if not manifest.finished:
            raise InvalidRequest(
                f"apply run {run} is not finished: run `pixseek duplicates apply --execute` first"
            )
        report = ApplyReport(run=run, dry_run=False, planned=len(manifest.moved))
        places: dict[str, Place] = {}
        back: list[int] = []
        by_target: dict[str, list[str]] = {}
        for m in _moved(manifest):
            src, dst = _places(settings, m, places)
            by_target.setdefault(m.target, []).append(m.key)
            if m.image_id in manifest.undone:
                continue
            try:
                move(dst, src, m.key, m.found())
            except MoveRefused as exc:
                report.skipped.append({"image_id": m.image_id, "reason": str(exc)})
                log.warning("duplicates.undo_skipped image=%d reason=%s", m.image_id, exc)
                continue
            _append(path, {"op": "undone", "image_id": m.image_id})
            manifest.undone.add(m.image_id)
            back.append(m.image_id)
        for target, keys in by_target.items():
            prune_empty(places[target], keys)
        # EMBEDDED: the index writer adds their stored vectors again and marks them indexed.
        restored = [m.image_id for m in _moved(manifest) if m.image_id in manifest.undone]
        _mark(settings, restored, ImageStatus.EMBEDDED, None)
        _publish(settings)
        if not report.skipped:
            _append(path, {"op": "undo_finished"})
        report.moved = len(back)
        return report


def _moved(manifest: Manifest) -> Iterator[Move]:
    return (m for m in manifest.moves if m.image_id in manifest.moved)
