"""A full disk at every step of an ingest that writes: patch files, thumbnails, the index
generation and the SQLite catalog itself, each on a small tmpfs filled to the last byte.

The command fails with the reason in one line (no traceback), the generation already published
is untouched, and once space is freed the next run completes and counts what it really did:
images a failed publish had embedded are counted indexed by the run that publishes them.
Thumbnails are written by the enrich pass, after the new images are searchable: there the
command still fails in one line, the new images stay published, and the next run makes the
thumbnails it could not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from pixseek.cli import main
from pixseek.core.db import dispose_engines
from pixseek.core.settings import Settings
from pixseek.index.vectors.store import IndexStore, index_ids
from tests.support.faults import fill, small_filesystem
from tests.support.images import write_images
from tests.support.ingested import catalog

pytestmark = [pytest.mark.slow]

# Where the small filesystem goes, for each step that writes.
PLACES: dict[str, Callable[[Settings], Path]] = {
    "patch files": lambda s: s.patch_dir,
    "thumbnails": lambda s: s.thumbnail_dir,
    "index generation": lambda s: s.index_dir,
    "sqlite catalog": lambda s: s.data_dir,
}
# Written by the enrich pass (searchable-first), once the ingest has published.
AFTER_PUBLISH = {"thumbnails"}


def _ingest(folder: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["ingest", str(folder), "--json"])
    return result.exit_code, result.stdout, result.stderr


def _published(settings: Settings) -> tuple[int | None, list[int]]:
    loaded = IndexStore(settings.index_dir).load()
    return (None, []) if loaded is None else (loaded.manifest.generation, sorted(index_ids(loaded.index)))


@pytest.mark.parametrize("place", list(PLACES))
def test_full_disk_fails_in_one_line_then_the_next_run_completes(
    place: str, settings: Settings, tmp_path: Path
) -> None:
    bucket = tmp_path / "bucket"
    write_images(bucket, 3)
    target = PLACES[place](settings)
    dispose_engines()  # the catalog is reopened on the small filesystem below
    saved = {p.name: p.read_bytes() for p in target.glob("*") if p.is_file()}  # the migrated catalog
    with small_filesystem(target, "4m"):
        for name, data in saved.items():
            (target / name).write_bytes(data)
        code, out, err = _ingest(bucket)
        assert code == 0, err
        before = _published(settings)
        assert len(before[1]) == 3

        write_images(bucket, 3, start=3)
        filler = fill(target)
        code, out, err = _ingest(bucket)
        assert code != 0, f"the ingest did not fail with {place} full"
        message = json.loads(out)
        assert message["error"] == "disk_full", message
        assert "no space left on the device" in message["detail"]
        assert "Traceback" not in out + err
        after = _published(settings)
        if place in AFTER_PUBLISH:
            assert len(after[1]) == 6, "the new images were not published before the enrich pass"
        else:
            assert after == before, "the published generation was touched"

        filler.unlink()
        dispose_engines()
        code, out, err = _ingest(bucket)
        assert code == 0, err
        summary = json.loads(out)
        indexed = 0 if place in AFTER_PUBLISH else 3
        assert (summary["total"], summary["indexed"], summary["unchanged"]) == (6, indexed, 6 - indexed), (
            summary
        )
        assert summary["failed"] == []
        generation, ids = _published(settings)
        assert before[0] is not None and generation is not None and generation > before[0]
        if place in AFTER_PUBLISH:
            with_thumbnails = {int(f.name.split("-")[0]) for f in target.rglob("*.webp")}
            assert with_thumbnails == set(ids), "the next run did not make the missing thumbnails"
        rows = catalog(settings)
        assert {row.status for row in rows.values()} == {"indexed"}
        assert ids == sorted(row.id for row in rows.values())  # each image once, nothing else
        dispose_engines()  # before the filesystem under the catalog goes
