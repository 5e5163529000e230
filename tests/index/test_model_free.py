"""The index writer and vector queries never load the model: dimensions and input size come from
the catalog and the manifests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pixseek.model.encoder as encoder_module
from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageStatus
from pixseek.index.vectors.patch_sync import patch_index_store
from pixseek.ingest.finalizing import finalize_job
from pixseek.ingest.planning import create_job, plan_job
from pixseek.ingest.processing import process_images
from pixseek.media.sources import open_source
from pixseek.search.regions import RegionSearchService
from pixseek.search.service import SearchService


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, loading a model fails the test."""
    encoder_module._cached_encoder.cache_clear()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(encoder_module.Encoder, "__init__", refuse)


def test_the_index_writer_publishes_without_loading_the_model(
    settings: Settings, bucket: Path, request: pytest.FixtureRequest
) -> None:
    source = open_source(str(bucket), settings)
    job_id = create_job(settings, source.bucket)
    plan = plan_job(settings, job_id, source)
    process_images(settings, job_id, source.bucket, plan.work)
    request.getfixturevalue("no_model")
    result = finalize_job(settings, job_id)
    assert result is not None and result.count == len(plan.work)
    loaded = patch_index_store(settings).load()
    assert loaded is not None and loaded.manifest.image_size == 64  # pixseek-tiny's input


def test_a_region_query_by_vector_does_not_load_the_model(
    settings: Settings, bucket: Path, request: pytest.FixtureRequest
) -> None:
    from pixseek.ingest.run import run_ingest

    run_ingest(settings, str(bucket))
    request.getfixturevalue("no_model")
    regions = RegionSearchService(settings, SearchService(settings))
    with session_scope(settings) as session:
        row = session.query(Image).filter(Image.status == ImageStatus.INDEXED).first()
        assert row is not None
        dim = regions.loaded_patch_index().manifest.dim
        found = regions.image_regions(session, row.id, np.ones(dim, dtype=np.float32))
    x0, y0, x1, y1 = found.box
    assert 0 <= x0 < x1 <= row.width and 0 <= y0 < y1 <= row.height
