"""`pixseek reindex`: a new model beside the served one, interrupted and resumed, searched throughout."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from pixseek.cli import main
from pixseek.core.active_model import follow_switch, read_active_model
from pixseek.core.db import session_scope
from pixseek.core.errors import InvalidRequest, ModelMismatch
from pixseek.core.settings import Settings, get_settings
from pixseek.index.catalog.images import Image, ImageStatus, ImageVector
from pixseek.index.catalog.jobs import Job, JobKind, JobStatus
from pixseek.ingest import reindex
from pixseek.ingest.reindex import drop_old, run_reindex
from pixseek.ingest.run import run_ingest
from pixseek.model.bundled import SCENES_MODEL, SCENES_WEIGHTS
from pixseek.model.identity import ModelId
from pixseek.search.query import ImageIdPart, Query, TextPart
from pixseek.search.regions import RegionSearchService
from pixseek.search.service import SearchService
from tests.support.ingested import catalog, summary
from tests.support.services import service_missing

NEW = ModelId(SCENES_MODEL, str(SCENES_WEIGHTS))
REDIS_URL = os.environ.get("PIXSEEK_TEST_REDIS", "redis://127.0.0.1:6379") + "/0"


def answers(service: SearchService, settings: Settings, served: ModelId) -> None:
    """The service answers text and image queries, from the generation of `served`."""
    with session_scope(settings) as session:
        first = session.scalars(select(Image.id).order_by(Image.id)).first()
        assert first is not None
        for part in (TextPart("a red circle"), ImageIdPart(first)):
            page = service.search(session, Query(parts=(part,), limit=3))
            assert len(page.hits) == 3
    loaded = service.loaded_index()
    assert loaded.manifest.model_id == served
    assert loaded.ntotal == 6
    assert service.encoder.model_id == served  # queries are embedded by the served model too


def vectors_of(settings: Settings, model: ModelId) -> dict[int, np.ndarray]:
    with session_scope(settings) as session:
        rows = session.execute(
            select(ImageVector.image_id, ImageVector.vector).where(ImageVector.model == model.key)
        ).all()
    return {int(i): np.frombuffer(blob, dtype="<f4") for i, blob in rows}


def test_reindex_interrupted_and_resumed_while_search_answers_throughout(
    settings: Settings, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_ingest(settings, str(bucket))
    old = ModelId.of(settings)
    service = SearchService(settings, switch_check_seconds=0)  # started before the switch, never restarted
    regions = RegionSearchService(settings, service)
    answers(service, settings, old)

    small = settings.model_copy(update={"task_batch_size": 2, "batch_size": 2})
    embedded: list[int] = []
    original = reindex.embed_images

    def interrupted_after_two_batches(*args: object, **kwargs: object) -> int:
        if len(embedded) == 4:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the run
        embedded.extend(args[3])  # type: ignore[arg-type]
        done = original(*args, **kwargs)  # type: ignore[arg-type]
        answers(service, settings, old)  # search still answers, from the served model
        return done

    monkeypatch.setattr(reindex, "embed_images", interrupted_after_two_batches)
    with pytest.raises(KeyboardInterrupt):
        run_reindex(small, NEW.name, NEW.pretrained)
    with session_scope(settings) as session:
        job = session.scalars(select(Job).where(Job.kind == JobKind.REINDEX)).one()
        assert job.status == JobStatus.FAILED and "KeyboardInterrupt" in (job.error or "")
        first_job = job.id
    assert len(vectors_of(settings, NEW)) == 4
    assert read_active_model(settings.data_dir) is None  # not switched
    answers(service, settings, old)

    # The same command again continues: only the two images left reach the new model.
    resumed: list[int] = []

    def counting(*args: object, **kwargs: object) -> int:
        resumed.extend(args[3])  # type: ignore[arg-type]
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reindex, "embed_images", counting)
    result = run_reindex(small, NEW.name, NEW.pretrained)
    assert result.job_id == first_job and result.switched
    assert len(resumed) == 2 and not set(resumed) & set(embedded)
    assert result.embedded == 6

    # Switched: the running service answers from the new generation without a restart.
    answers(service, settings, NEW)
    with session_scope(settings) as session:
        assert len(regions.search_text(session, "a red circle", k=2)) == 2  # regions follow too
    record = read_active_model(settings.data_dir)
    assert record is not None and record.key == NEW.key and record.replaces == {old.key: ""}
    rows = catalog(settings)
    assert {(row.model, row.grid_h, row.grid_w) for row in rows.values()} == {(NEW.key, 8, 8)}
    with session_scope(settings) as session:
        assert session.get(Job, first_job).status == JobStatus.DONE  # type: ignore[union-attr]

    # A process started with the old settings follows the switch...
    get_settings.cache_clear()
    assert ModelId.of(get_settings()) == NEW
    # ...and its ingest embeds nothing again.
    job_id = run_ingest(settings, str(bucket))
    assert (summary(settings, job_id)["unchanged"], summary(settings, job_id)["indexed"]) == (6, 0)

    # The old generation stays until asked, then goes: vectors, index and patch files.
    assert len(vectors_of(settings, old)) == 6 and (settings.data_dir / "index").is_dir()
    assert drop_old(settings) == [old.key]
    assert vectors_of(settings, old) == {}
    assert not (settings.data_dir / "index").exists() and not (settings.data_dir / "patches").exists()
    answers(service, settings, NEW)
    assert ModelId.of(follow_switch(settings)) == NEW  # still followed after the drop
    assert drop_old(settings) == []


def test_reindex_to_the_served_model_is_refused_and_another_model_is_refused_by_search(
    settings: Settings, bucket: Path
) -> None:
    run_ingest(settings, str(bucket))
    with pytest.raises(InvalidRequest, match="already served"):
        reindex.start_reindex(settings, reindex.candidate_settings(settings, "pixseek-tiny", "none"))
    other = settings.model_copy(update={"pretrained": str(SCENES_WEIGHTS)})
    with pytest.raises(ModelMismatch, match="pixseek reindex --model pixseek-tiny"):
        SearchService(other).loaded_index()


def test_a_changed_file_is_embedded_again_before_the_switch(settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    result = run_reindex(settings, NEW.name, NEW.pretrained, switch=False)
    assert result.embedded == 6 and not result.switched
    assert read_active_model(settings.data_dir) is None
    # An ingest under the served model changes one image: its new-model vector is stale now.
    from tests.support.images import write_image
    from tests.support.ingested import bump_mtime

    changed = write_image(bucket / "img002.png", 77)
    bump_mtime(changed)
    run_ingest(settings, str(bucket))
    result = run_reindex(settings, NEW.name, NEW.pretrained)
    assert result.switched and result.embedded == 7  # the job went on: 6, then the changed one
    with session_scope(settings) as session:
        row = session.scalars(select(Image).where(Image.key == "img002.png")).one()
        vector = session.get(ImageVector, (row.id, NEW.key))
        assert vector is not None and vector.sha256 == row.sha256
        assert row.status == ImageStatus.INDEXED and row.model == NEW.key


def test_reindex_runs_on_the_workers_through_the_broker(
    settings: Settings, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis not reachable at {REDIS_URL}: {exc}")
    run_ingest(settings, str(bucket))
    queue = f"pixseek-test-{uuid.uuid4().hex[:8]}"
    for name, value in {"BROKER_URL": REDIS_URL, "QUEUE": queue, "TASK_BATCH_SIZE": "4"}.items():
        monkeypatch.setenv(f"PIXSEEK_{name}", value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            main,
            ["reindex", "--model", NEW.name, "--pretrained", NEW.pretrained, "--json"],
            catch_exceptions=False,
        )
        job_id = json.loads(result.stdout)["job_id"]
        # Be the worker: take each message off the queue in Redis and run its task here.
        from pixseek.core.broker import celery_app
        from pixseek.ingest import tasks  # noqa: F401  (declares the tasks)

        ran = []
        while (raw := client.rpop(queue)) is not None:
            message = json.loads(raw)
            args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            ran.append(message["headers"]["task"])
            celery_app.tasks[ran[-1]](*args, **kwargs)
    finally:
        client.delete(queue)
    assert ran == [reindex.REINDEX_BATCH_TASK] * 2 + [reindex.REINDEX_FINISH_TASK]
    record = read_active_model(settings.data_dir)
    assert record is not None and record.key == NEW.key
    with session_scope(settings) as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.DONE and job.summary["embedded"] == 6  # type: ignore[index]
    assert {row.model for row in catalog(settings).values()} == {NEW.key}


def test_eval_scores_the_new_generation_beside_the_served_one_before_the_switch(
    settings: Settings, bucket: Path, tmp_path: Path
) -> None:
    run_ingest(settings, str(bucket))
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        '{"query": "a red circle", "relevant": ["img000.png"]}\n'
        '{"image": "img001.png", "relevant": ["img001.png", "img002.png"]}\n',
        encoding="utf-8",
    )
    argv = ["eval", str(queries), "--model", NEW.name, "--pretrained", NEW.pretrained, "--json"]
    refused = CliRunner().invoke(main, argv)
    assert refused.exit_code == 2 and "--no-switch" in refused.output  # nothing built yet
    run_reindex(settings, NEW.name, NEW.pretrained, switch=False)
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    served = ModelId.of(settings)
    assert [(run["model"], run["pretrained"]) for run in runs] == [
        (served.name, served.pretrained),
        (NEW.name, NEW.pretrained),
    ]
    assert all(run["kinds"]["text"]["queries"] == 1 and run["kinds"]["image"]["queries"] == 1 for run in runs)
    assert read_active_model(settings.data_dir) is None  # scoring switched nothing


def test_the_api_answers_throughout_and_from_the_new_model_after_the_switch(
    settings: Settings, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from pixseek.api.app import create_app

    run_ingest(settings, str(bucket))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:

        def ask() -> None:
            response = client.post("/v1/search/text", json={"text": "a red circle", "k": 3})
            assert response.status_code == 200, response.text
            assert len(response.json()["results"]) == 3

        ask()
        original = reindex.embed_images

        def asking_meanwhile(*args: object, **kwargs: object) -> int:
            done = original(*args, **kwargs)  # type: ignore[arg-type]
            ask()
            return done

        monkeypatch.setattr(reindex, "embed_images", asking_meanwhile)
        run_reindex(settings.model_copy(update={"task_batch_size": 3}), NEW.name, NEW.pretrained)
        service: SearchService = client.app.state.search  # type: ignore[attr-defined]
        deadline = time.monotonic() + 60
        while ModelId.of(service.settings) != NEW:  # it looks again at most every second
            assert time.monotonic() < deadline, "the API never followed the switch"
            ask()
            time.sleep(0.1)
        ask()
        assert service.loaded_index().manifest.model_id == NEW
        assert client.get("/v1/status").json()["model"] == NEW.name


def test_a_switch_that_died_before_telling_the_catalog_loses_nothing(
    settings: Settings, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_ingest(settings, str(bucket))
    old = ModelId.of(settings)

    def dies(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt  # killed right after model.json was replaced

    monkeypatch.setattr(reindex, "settle_switch", dies)
    with pytest.raises(KeyboardInterrupt):
        run_reindex(settings, NEW.name, NEW.pretrained)
    monkeypatch.undo()
    assert {row.model for row in catalog(settings).values()} == {old.key}  # not told yet
    # An ingest in that state neither embeds again nor empties the new generation's index.
    job_id = run_ingest(settings, str(bucket))
    assert (summary(settings, job_id)["unchanged"], summary(settings, job_id)["indexed"]) == (6, 0)
    service = SearchService(settings)
    assert service.loaded_index().manifest.model_id == NEW and service.loaded_index().ntotal == 6
    answers(service, settings, NEW)
    # The same command again finishes the bookkeeping.
    assert run_reindex(settings, NEW.name, NEW.pretrained).switched
    assert {row.model for row in catalog(settings).values()} == {NEW.key}
