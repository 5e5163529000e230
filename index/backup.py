"""Backups of a data dir taken while search and ingest go on, and their restore into an empty one.

A backup is a folder:

    backup.json                     what it holds: parts, sizes, seconds, the schema revision
    catalog.sqlite | catalog.pgdump the catalog: SQLite's online backup API, or `pg_dump -Fc`
    <space>/index/                  the served CLS index generation and its patch index generation
    <space>/patches/                the patch store (one .npy per image)
    thumbs/                         the thumbnails, only with `thumbnails=True` (they are remade on demand)
    model.json, tags.json           the model switch and the user's tag vocabulary, where they exist

Consistency: the catalog is snapshotted and the index generations are copied under the index
writer's lock, so no publication falls between them: the backup's index holds exactly the
catalog's indexed images. Ingest goes on meanwhile (batches embed and commit; only the next
publication waits for the lock), and so do searches, which never take it. The patch store is
copied afterwards, file by file (each is written whole and renamed into place): files of
images embedded after the snapshot come along unused, and an image deleted meanwhile loses
its patches (region search then skips it until it is ingested again).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from pixseek import __version__
from pixseek.core.active_model import ACTIVE_MODEL_FILE
from pixseek.core.db import dispose_engines, get_engine, utcnow
from pixseek.core.errors import ConfigError, InvalidRequest
from pixseek.core.settings import Settings
from pixseek.index.vectors.generations import CURRENT_FILE, GenerationFolder
from pixseek.index.vectors.store import IndexStore

log = logging.getLogger(__name__)

MANIFEST = "backup.json"
SQLITE_FILE = "catalog.sqlite"
PGDUMP_FILE = "catalog.pgdump"
# SQLite pages copied per step of the online backup: short steps let writers in between.
SQLITE_PAGES_PER_STEP = 4096


@dataclass
class Part:
    name: str
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0


@dataclass
class BackupReport:
    """What `backup` wrote (also `backup.json` in the folder) or `restore` read."""

    path: str
    created_at: str
    version: str
    backend: str
    revision: str | None
    generation: int | None
    parts: list[Part] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_sqlite(settings: Settings) -> bool:
    return settings.sqlalchemy_url.startswith("sqlite")


def _sqlite_path(settings: Settings) -> Path:
    return Path(make_url(settings.sqlalchemy_url).database or "")


def _libpq(settings: Settings) -> tuple[str, dict[str, str]]:
    """The libpq URL of the catalog without its password, and the environment that carries it
    (so the password never shows in a process list)."""
    url = make_url(settings.sqlalchemy_url)
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run_pg(settings: Settings, tool: str, *args: str) -> None:
    """Run `pg_dump` or `pg_restore` against the catalog database; a clear error if it fails."""
    url, env = _libpq(settings)
    done = subprocess.run(
        [_pg_tool(tool), *args, "--dbname", url], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ConfigError(f"{tool} failed: {done.stderr.strip()[-500:]}")


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(
            f"`{name}` is not installed: a PostgreSQL catalog needs it (Debian: postgresql-client)"
        )
    return path


def _copy_tree(source: Path, target: Path, part: Part) -> None:
    """Copy the files under `source` (skipping temp files of writers) into `target`."""
    for folder, _dirs, files in os.walk(source):
        rel = Path(folder).relative_to(source)
        for name in files:
            if name.startswith(".") and name.endswith(".tmp"):
                continue  # a writer's file still being written
            src = Path(folder) / name
            dst = target / rel / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copy2(src, dst)
            except FileNotFoundError:
                continue  # removed meanwhile (an image deleted): nothing to keep
            part.files += 1
            part.bytes += dst.stat().st_size


def _copy_generation(folder: GenerationFolder, target: Path, part: Part) -> int | None:
    """The current generation of `folder` and its `current.json`; returns the generation."""
    generation = folder.current_generation()
    if generation is None:
        return None
    source = folder.generation_dir(generation)
    _copy_tree(source, target / source.name, part)
    target.mkdir(parents=True, exist_ok=True)
    (target / CURRENT_FILE).write_text(json.dumps({"generation": generation}), encoding="utf-8")
    part.files += 1
    return generation


def _snapshot_catalog(settings: Settings, dest: Path) -> Part:
    started = time.monotonic()
    if _is_sqlite(settings):
        part = Part("catalog (SQLite online backup)")
        target = dest / SQLITE_FILE
        source = sqlite3.connect(str(_sqlite_path(settings)), timeout=30)
        copy = sqlite3.connect(str(target))
        try:
            source.backup(copy, pages=SQLITE_PAGES_PER_STEP)
        finally:
            copy.close()
            source.close()
    else:
        part = Part("catalog (pg_dump)")
        target = dest / PGDUMP_FILE
        _run_pg(settings, "pg_dump", "--format=custom", "--no-owner", "--file", str(target))
    part.files, part.bytes = 1, target.stat().st_size
    part.seconds = time.monotonic() - started
    return part


def _revision(settings: Settings) -> str | None:
    with get_engine(settings).connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def backup(settings: Settings, dest: Path, *, thumbnails: bool = False) -> BackupReport:
    """Write a consistent backup of the data dir and catalog of `settings` into `dest` (new or empty).

    Args:
        settings: whose catalog (SQLite or PostgreSQL) and data dir to back up.
        dest: the backup folder; written as `<dest>.partial` and renamed when complete, so a
            folder named `dest` is always a whole backup.
        thumbnails: copy the thumbnails too (they are remade on demand when left out).

    Returns:
        What was written, part by part (also in `<dest>/backup.json`).

    Raises:
        InvalidRequest: `dest` exists and is not empty.
        ConfigError: `pg_dump` is missing or fails.
    """
    if dest.exists() and any(dest.iterdir()):
        raise InvalidRequest(f"{dest} is not empty: back up into a new folder")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    space = partial / settings.space
    store = IndexStore(settings.index_dir)
    report = BackupReport(
        path=str(dest),
        created_at=utcnow().isoformat(),
        version=__version__,
        backend="sqlite" if _is_sqlite(settings) else "postgresql",
        revision=_revision(settings),
        generation=None,
    )
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    with store.lock():  # no publication between the catalog and the generations
        report.parts.append(_snapshot_catalog(settings, partial))
        started = time.monotonic()
        index = Part("index generations (CLS and patch index)")
        report.generation = _copy_generation(store, space / "index", index)
        patch_index = GenerationFolder(settings.patch_index_dir)
        _copy_generation(patch_index, space / "index" / settings.patch_index_dir.name, index)
        index.seconds = time.monotonic() - started
        report.parts.append(index)
    for name, source, wanted in (
        ("patch store", settings.patch_dir, True),
        ("thumbnails", settings.thumbnail_dir, thumbnails),
    ):
        if not wanted or not source.exists():
            continue
        started = time.monotonic()
        part = Part(name)
        _copy_tree(source, partial / source.relative_to(settings.data_dir), part)
        part.seconds = time.monotonic() - started
        report.parts.append(part)
    small = Part("settings files (model switch, tag vocabulary)")
    for path in (settings.data_dir / ACTIVE_MODEL_FILE, settings.data_dir / "tags.json"):
        if path.is_file():
            shutil.copy2(path, partial / path.name)
            small.files += 1
            small.bytes += path.stat().st_size
    report.parts.append(small)
    (partial / MANIFEST).write_text(json.dumps(report.as_dict(), indent=2), encoding="utf-8")
    if dest.exists():
        dest.rmdir()
    os.replace(partial, dest)
    log.info("backup.done path=%s generation=%s", dest, report.generation)
    return report


def _read_report(source: Path) -> BackupReport:
    try:
        data = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidRequest(f"{source} is not a pixseek backup (no {MANIFEST})") from None
    parts = [Part(**p) for p in data.pop("parts", [])]
    return BackupReport(**data, parts=parts)


def _catalog_is_empty(settings: Settings) -> bool:
    if _is_sqlite(settings) and not _sqlite_path(settings).exists():
        return True
    with get_engine(settings).connect() as conn:
        tables = set(inspect(conn).get_table_names())
        if "images" not in tables:
            return not tables - {"alembic_version"}
        return not conn.execute(text("SELECT 1 FROM images LIMIT 1")).first()


def restore(settings: Settings, source: Path) -> BackupReport:
    """Restore the backup in `source` into the (empty) data dir and catalog of `settings`.

    Raises:
        InvalidRequest: `source` is no backup, or the data dir or catalog already hold images.
        ConfigError: the backup's catalog does not fit the configured one (SQLite against
            PostgreSQL), or `pg_restore` is missing or fails.
    """
    report = _read_report(source)
    backend = "sqlite" if _is_sqlite(settings) else "postgresql"
    if report.backend != backend:
        raise ConfigError(f"the backup holds a {report.backend} catalog; the configured one is {backend}")
    if settings.index_dir.joinpath(CURRENT_FILE).exists() or (
        settings.patch_dir.exists() and any(settings.patch_dir.iterdir())
    ):
        raise InvalidRequest(f"{settings.data_dir} already holds an index: restore into an empty data dir")
    if not _catalog_is_empty(settings):
        raise InvalidRequest("the catalog database already holds images: restore into an empty one")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        target = _sqlite_path(settings)
        dispose_engines()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copy2(source / SQLITE_FILE, target)
    else:
        _run_pg(settings, "pg_restore", "--no-owner", "--clean", "--if-exists", str(source / PGDUMP_FILE))
        dispose_engines()
    for entry in source.iterdir():
        if entry.name in (MANIFEST, SQLITE_FILE, PGDUMP_FILE):
            continue
        target_path = settings.data_dir / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target_path, dirs_exist_ok=True)
        else:
            shutil.copy2(entry, target_path)
    log.info("restore.done from=%s generation=%s", source, report.generation)
    return report
