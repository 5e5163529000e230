"""`python -m bench.backup`: what `pixseek backup` and `pixseek restore` cost per part, per image.

A synthetic catalog of N images the size of ViT-B-32's (a 512-d CLS vector each in SQL, a 7x7
grid of 512-d fp16 patches each in the patch store, the CLS and patch index generations built
by the real writer) is backed up and restored; each part's bytes and seconds are divided by N
and multiplied out to a million images. Linear extrapolation: every part is a copy that grows
with the count (the catalog's rows, the index files, one patch file per image), so the
per-image cost holds as long as the disk, not memory, is what limits it; say so when quoting.

`--database-url postgresql+psycopg://...` (an empty database) measures pg_dump / pg_restore
instead of SQLite's online backup. `--smoke`: 50 images.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from bench.common import add_smoke_flag, machine, output_dir, say, write_json
from pixseek.core.db import dispose_engines, migrate, session_scope
from pixseek.core.settings import Settings
from pixseek.index.backup import backup, restore
from pixseek.index.catalog.images import Image, ImageStatus, ImageVector
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.index.vectors.writer import publish_index
from pixseek.model.identity import ModelId

DIM, GRID = 512, 7  # ViT-B-32
MILLION = 1_000_000
CHUNK = 2000


def build(settings: Settings, n: int) -> None:
    """n embedded images of a synthetic catalog, then the real index writer publishes them."""
    migrate(settings)
    rng = np.random.default_rng(0)
    model = ModelId.of(settings).key
    patches = PatchStore(settings.patch_dir)
    for start in range(0, n, CHUNK):
        ids = range(start + 1, min(n, start + CHUNK) + 1)
        vectors = rng.standard_normal((len(ids), DIM)).astype("<f4")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in ids]
        with session_scope(settings) as session:
            session.execute(
                insert(Image),
                [
                    {
                        "id": i,
                        "bucket": "/photos",
                        "key": f"img{i:07d}.jpg",
                        "size": 200_000,
                        "mtime": 0.0,
                        "sha256": sha,
                        "format": "JPEG",
                        "width": 640,
                        "height": 480,
                        "model": model,
                        "status": ImageStatus.EMBEDDED,
                        "grid_h": GRID,
                        "grid_w": GRID,
                        "patch_layout": "centre",
                    }
                    for i, sha in zip(ids, shas, strict=True)
                ],
            )
            session.execute(
                insert(ImageVector),
                [
                    {"image_id": i, "model": model, "dim": DIM, "sha256": sha, "vector": v.tobytes()}
                    for i, sha, v in zip(ids, shas, vectors, strict=True)
                ],
            )
        for i in ids:
            grid = rng.standard_normal((GRID, GRID, DIM)).astype(np.float16)
            patches.put(i, grid)
    publish_index(settings, ModelId.of(settings))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.backup", description=__doc__)
    parser.add_argument("--images", type=int, default=5000, help="catalog size (default 5000)")
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    n = 50 if args.smoke else args.images
    with tempfile.TemporaryDirectory(prefix="pixseek-bench-backup-") as tmp, output_dir(args.smoke) as out:
        base = {"model": "ViT-B-32", "pretrained": "none", "broker_url": None, "region_tiles": 1}
        settings = Settings(data_dir=Path(tmp) / "data", database_url=args.database_url, **base)  # type: ignore[arg-type]
        started = time.perf_counter()
        build(settings, n)
        built = time.perf_counter() - started
        made = backup(settings, Path(tmp) / "backup")
        dispose_engines()
        restore_s = None
        if args.database_url is None:  # PostgreSQL would need a second empty database
            started = time.perf_counter()
            restore(Settings(data_dir=Path(tmp) / "restored", **base), Path(tmp) / "backup")  # type: ignore[arg-type]
            restore_s = time.perf_counter() - started
            dispose_engines()
    scale = MILLION / n
    parts = [
        {
            "part": p.name,
            "files": p.files,
            "mb": round(p.bytes / 1e6, 2),
            "seconds": round(p.seconds, 2),
            "gb_at_1m": round(p.bytes * scale / 1e9, 1),
            "minutes_at_1m": round(p.seconds * scale / 60, 1),
        }
        for p in made.parts
    ]
    result = {
        "machine": machine(),
        "images": n,
        "backend": made.backend,
        "build_seconds": round(built, 1),
        "parts": parts,
        "restore_seconds": None if restore_s is None else round(restore_s, 2),
        "restore_minutes_at_1m": None if restore_s is None else round(restore_s * scale / 60, 1),
        "command": "python -m bench.backup" + (" --smoke" if args.smoke else f" --images {n}"),
    }
    say(
        f"{result['machine']['cpu']}, {result['machine']['cores']} cores; "
        f"{n} images, {made.backend} catalog\n"
    )
    say("| part | files | MB | s | at 1M images: GB | minutes |\n|---|---:|---:|---:|---:|---:|\n")
    for p in parts:
        say(
            f"| {p['part']} | {p['files']} | {p['mb']} | {p['seconds']} | "
            f"{p['gb_at_1m']} | {p['minutes_at_1m']} |\n"
        )
    if restore_s is not None:
        say(f"restore: {restore_s:.2f} s ({result['restore_minutes_at_1m']} min at 1M, extrapolated)\n")
    write_json(f"backup-{made.backend}.json", result, out)
    return result


if __name__ == "__main__":
    main()
