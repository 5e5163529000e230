"""`pixseek export` and `pixseek import`: clip-retrieval's layout out and in, searchable as before."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from pixseek.core.db import dispose_engines, session_scope
from pixseek.core.errors import InvalidRequest, ModelMismatch
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image
from pixseek.index.exchange.export import export_catalog
from pixseek.index.vectors.patch_store import PatchStore
from pixseek.index.vectors.store import IndexStore
from pixseek.ingest.importing import import_embeddings
from pixseek.ingest.run import run_ingest
from pixseek.model.identity import ModelId
from tests.support.images import write_images
from tests.support.settings import _sqlite_template, make_settings


def _top10(settings: Settings, queries: np.ndarray) -> list[list[tuple[str, float]]]:
    """Each query's ten best keys and scores, straight from the published FAISS index."""
    loaded = IndexStore(settings.index_dir).load(mmap=False)
    assert loaded is not None
    scores, ids = loaded.index.search(queries, 10)
    with session_scope(settings) as session:
        keys = {int(i): str(k) for i, k in session.execute(select(Image.id, Image.key))}
    return [
        [(keys[int(i)], round(float(s), 5)) for i, s in zip(row, score_row, strict=True)]
        for row, score_row in zip(ids, scores, strict=True)
    ]


def _fresh(root: Path) -> Settings:
    """A second, empty data dir (its catalog a copy of the migrated template: no Alembic run)."""
    settings = make_settings(root)
    catalog = Path(settings.sqlalchemy_url.removeprefix("sqlite:///"))
    catalog.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template(), catalog)
    return settings


def test_export_then_import_into_a_new_data_dir_answers_the_same(settings: Settings, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    write_images(bucket, 14)
    shutil.copy(bucket / "img000.png", bucket / "copy.png")
    run_ingest(settings, str(bucket))
    result = export_catalog(settings, tmp_path / "export", shard_size=6, patches=True)
    assert (result.count, result.shards) == (15, 3)

    # Readable with no pixseek code: numpy and pyarrow (what pandas and DuckDB use).
    first = pq.read_table(tmp_path / "export" / "metadata" / "metadata_0.parquet")
    assert first.num_rows == 6 and {"image_path", "key", "sha256", "tags", "ocr_text"} <= set(
        first.column_names
    )
    assert first.schema.metadata[b"pixseek.model"] == ModelId.of(settings).key.encode()
    assert np.load(tmp_path / "export" / "img_emb" / "img_emb_0.npy").shape == (6, result.dim)
    # --patches: each image's grid, found by its metadata row.
    row = first.slice(2, 1).to_pylist()[0]
    cells = np.load(tmp_path / "export" / "patch_emb" / "patch_emb_0.npy")
    grid = PatchStore(settings.patch_dir).get(row["id"])
    assert grid is not None and (row["patch_rows"], row["patch_cols"]) == grid.shape[:2]
    mine = cells[row["patch_offset"] : row["patch_offset"] + row["patch_rows"] * row["patch_cols"]]
    assert np.array_equal(mine, grid.reshape(-1, grid.shape[2]).astype(np.float16))

    other = _fresh(tmp_path / "other")
    imported = import_embeddings(other, tmp_path / "export", str(bucket))
    assert (imported.imported, imported.missing, imported.changed) == (15, 0, 0)
    queries = np.random.default_rng(0).normal(size=(100, result.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    assert _top10(other, queries) == _top10(settings, queries)

    # A file changed since its export is left out, and a second import changes nothing else.
    (bucket / "img003.png").write_bytes((bucket / "img004.png").read_bytes())
    again = import_embeddings(other, tmp_path / "export", str(bucket))
    assert (again.imported, again.changed) == (14, 1)
    dispose_engines()


def test_clip_retrieval_output_imports(settings: Settings, tmp_path: Path) -> None:
    bucket = tmp_path / "photos"
    write_images(bucket, 4)
    dim = 64  # pixseek-tiny's embedding width
    vectors = np.random.default_rng(1).normal(size=(5, dim)).astype(np.float32)
    out = tmp_path / "clip-retrieval"
    (out / "img_emb").mkdir(parents=True)
    (out / "metadata").mkdir()
    np.save(out / "img_emb" / "img_emb_0.npy", vectors)
    paths = [str(bucket / f"img{i:03d}.png") for i in range(4)] + [str(bucket / "gone.png")]
    pq.write_table(
        pa.table({"image_path": paths, "caption": ["a"] * 5, "NSFW": ["UNLIKELY"] * 5}),
        out / "metadata" / "metadata_0.parquet",
    )
    model = ModelId.of(settings).key
    with pytest.raises(InvalidRequest, match="--model"):
        import_embeddings(settings, out, str(bucket))  # clip-retrieval does not record its model
    with pytest.raises(ModelMismatch):
        import_embeddings(settings, out, str(bucket), model_key="ViT-B-32/openai")
    result = import_embeddings(settings, out, str(bucket), model_key=model)
    assert (result.imported, result.missing) == (4, 1)
    loaded = IndexStore(settings.index_dir).load(mmap=False)
    assert loaded is not None and loaded.index.ntotal == 4
    # The best match of an imported vector is its own file.
    _, ids = loaded.index.search(vectors[:1] / np.linalg.norm(vectors[:1]), 1)
    with session_scope(settings) as session:
        assert session.get(Image, int(ids[0][0])).key == "img000.png"

    np.save(out / "img_emb" / "img_emb_0.npy", vectors[:, :32])
    with pytest.raises(ModelMismatch, match="32-d"):
        import_embeddings(settings, out, str(bucket), model_key=model)
