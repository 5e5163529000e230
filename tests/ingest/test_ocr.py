"""Text in images: an OCR job after ingest, its words in keyword search, their boxes over HTTP;
both engines (RapidOCR by default, Tesseract where asked), and `pixseek ocr` on a catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from pixseek.api.app import create_app
from pixseek.cli import main
from pixseek.core.broker import celery_for
from pixseek.core.db import alembic_config, migrate, session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image
from pixseek.index.catalog.jobs import Job, JobKind, JobStatus
from pixseek.index.catalog.ocr import ImageOcr
from pixseek.ingest.ocr import create_ocr_job, follow_ingest_with_ocr, lacking_count
from pixseek.ingest.ocr_tasks import recognise
from pixseek.ingest.run import run_ingest
from pixseek.search.query import Mode, Query, TextPart
from pixseek.search.service import SearchService
from tests.support.cli import cli_json
from tests.support.images import write_image
from tests.support.services import postgres_database
from tests.support.settings import configured
from tests.support.text_images import Box, iou, text_picture

Texts = tuple[Path, dict[str, list[tuple[str, Box]]]]
SIGN = ["Lighthouse Road", "Harbour 42"]
RECEIPT = ["RECEIPT Bakery", "Total 12.50"]


def _keys(settings: Settings, text: str, mode: Mode = Mode.KEYWORD) -> list[str]:
    with session_scope(settings) as session:
        page = SearchService(settings).search(session, Query(parts=(TextPart(text),), mode=mode, limit=20))
    return [hit.key for hit in page.hits]


def _ocr_jobs(settings: Settings) -> list[Job]:
    with session_scope(settings) as session:
        jobs = list(session.scalars(select(Job).where(Job.kind == JobKind.OCR).order_by(Job.created_at)))
        session.expunge_all()
    return jobs


def _ids(settings: Settings) -> dict[str, int]:
    with session_scope(settings) as session:
        return {key: i for i, key in session.execute(select(Image.id, Image.key))}


@pytest.fixture
def texts(tmp_path: Path) -> Texts:
    """A bucket of two pictures with words and one without; the words drawn in each."""
    bucket = tmp_path / "texts"
    bucket.mkdir()
    truth = {}
    for name, lines, seed in (("sign.png", SIGN, 1), ("shop/receipt_001.png", RECEIPT, 2)):
        img, words = text_picture(lines, seed=seed)
        (bucket / name).parent.mkdir(parents=True, exist_ok=True)
        img.save(bucket / name)
        truth[name] = words
    write_image(bucket / "blocks.png", 5)
    return bucket, truth


def test_ocr_job_follows_ingest_and_keyword_search_finds_the_words(settings: Settings, texts: Texts) -> None:
    bucket, _ = texts
    settings.ocr.enabled = True
    run_ingest(settings, str(bucket))
    [job] = _ocr_jobs(settings)
    assert job.status == JobStatus.DONE
    assert job.summary is not None and job.summary["images"] == 3 and job.summary["with_text"] == 2
    assert _keys(settings, "lighthouse") == ["sign.png"]
    assert _keys(settings, "bakery total") == ["shop/receipt_001.png"]
    assert "sign.png" in _keys(settings, "harbour", Mode.HYBRID)
    found = CliRunner().invoke(main, ["search", "harbour", "--mode", "keyword", "--json"])
    assert [hit["key"] for hit in json.loads(found.stdout)["results"]] == ["sign.png"]
    listing = CliRunner().invoke(main, ["jobs"]).stdout
    assert "ocr: read 3 images, 8 words in 2, 0 unread" in listing
    # Nothing new to read: the next ingest starts no OCR job.
    run_ingest(settings, str(bucket))
    assert len(_ocr_jobs(settings)) == 1 and lacking_count(settings) == 0


def test_words_and_boxes_over_http(settings: Settings, texts: Texts) -> None:
    bucket, truth = texts
    settings.ocr.enabled = True
    run_ingest(settings, str(bucket))
    ids = _ids(settings)
    with TestClient(create_app(settings)) as client:
        body = client.get(f"/v1/images/{ids['sign.png']}/text").json()
        assert body["status"] == "read" and body["languages"] == "rapidocr:PP-OCRv6"
        assert body["text"] == "Lighthouse Road Harbour 42"
        for word, (text, box) in zip(body["words"], truth["sign.png"], strict=True):
            assert word["text"] == text and iou(tuple(word["box"]), box) > 0.5, (word, box)
        none = client.get(f"/v1/images/{ids['blocks.png']}/text").json()
        assert none["status"] == "read" and none["words"] == []
        assert client.get("/v1/images/999999/text").status_code == 404
        jobs = client.get("/v1/jobs").json()
        assert any(j["kind"] == "ocr" and j["ocr"]["words"] >= 8 for j in jobs), jobs


def test_a_changed_file_is_read_again(settings: Settings, texts: Texts) -> None:
    bucket, _ = texts
    settings.ocr.enabled = True
    run_ingest(settings, str(bucket))
    text_picture(["Windmill Meadow"], seed=3)[0].save(bucket / "sign.png")
    run_ingest(settings, str(bucket))
    assert _keys(settings, "lighthouse") == [] and _keys(settings, "windmill") == ["sign.png"]


def test_off_by_default(settings: Settings, texts: Texts) -> None:
    bucket, _ = texts
    run_ingest(settings, str(bucket))
    assert _ocr_jobs(settings) == [] and _keys(settings, "lighthouse") == []
    with TestClient(create_app(settings)) as client:
        body = client.get(f"/v1/images/{_ids(settings)['sign.png']}/text").json()
    assert body == {**body, "status": "off", "words": []}


def test_a_missing_language_pack_fails_the_ocr_job_not_the_ingest(settings: Settings, texts: Texts) -> None:
    bucket, _ = texts
    settings.ocr.enabled = True
    settings.ocr.engine = "tesseract"
    settings.ocr.languages = "eng+xyz"
    job_id = run_ingest(settings, str(bucket))
    with session_scope(settings) as session:
        assert session.get(Job, job_id).status == JobStatus.DONE  # type: ignore[union-attr]
    [ocr] = _ocr_jobs(settings)
    assert ocr.status == JobStatus.FAILED and "language pack for xyz" in (ocr.error or "")


def test_the_task_runs_the_job_with_a_time_bound(settings: Settings, texts: Texts) -> None:
    bucket, _ = texts
    run_ingest(settings, str(bucket))  # OCR off while ingesting
    settings.ocr.engine = "tesseract"
    settings.ocr.timeout_seconds = 0.001
    job_id = create_ocr_job(settings)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("pixseek.ingest.ocr_tasks.get_settings", lambda: settings)
        summary = recognise.apply(args=(job_id,)).get()
    assert summary["images"] == 3 and summary["unread"] == 3 and summary["words"] == 0
    with session_scope(settings) as session:
        errors = {row.error for row in session.scalars(select(ImageOcr))}
    assert errors == {"Tesseract took longer than 0.001 s"}


def test_migration_0009_keeps_keyword_documents(settings: Settings, texts: Texts) -> None:
    bucket, _ = texts
    settings.ocr.enabled = True
    run_ingest(settings, str(bucket))
    # Down past 0009 and up again (the models need the newest schema to search, so the
    # checks run at the head): the names stay indexed, the words went with their table.
    command.downgrade(alembic_config(settings), "0008")
    migrate(settings)
    assert _keys(settings, "receipt") == ["shop/receipt_001.png"]
    assert _keys(settings, "lighthouse") == []  # the words went with the table; the next job reads them
    assert lacking_count(settings) == 3


@pytest.mark.services
def test_on_postgresql_words_search_and_migrations(
    settings: Settings, texts: Texts, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket, _ = texts
    with postgres_database() as url, configured(monkeypatch, settings.data_dir, url) as pg:
        pg.ocr.enabled = True
        run_ingest(pg, str(bucket))
        assert _keys(pg, "lighthouse") == ["sign.png"] and _keys(pg, "receipt") == ["shop/receipt_001.png"]
        command.downgrade(alembic_config(pg), "0006")  # both revisions of this branch, down and up
        migrate(pg)
        assert _keys(pg, "receipt") == ["shop/receipt_001.png"] and lacking_count(pg) == 3


def test_cluster_mode_sends_the_job_to_the_ocr_queue(settings: Settings, texts: Texts) -> None:
    bucket, _ = texts
    run_ingest(settings, str(bucket))  # embedded, OCR off
    cluster = settings.model_copy(update={"broker_url": "memory://"})
    cluster.ocr = settings.ocr.model_copy(update={"enabled": True, "queue": "ocr-test"})
    job_id = follow_ingest_with_ocr(cluster)
    assert job_id is not None
    with session_scope(settings) as session:
        assert session.get(Job, job_id).status == JobStatus.QUEUED  # type: ignore[union-attr]
    with celery_for(cluster).connection_for_read() as connection:
        message = connection.SimpleQueue("ocr-test").get(timeout=5)
    assert message.headers["task"] == "pixseek.ocr.recognise" and message.headers["argsrepr"] == repr(
        (job_id,)
    )


def test_tesseract_reads_pages_and_another_engine_reads_again(settings: Settings, texts: Texts) -> None:
    bucket, truth = texts
    settings.ocr.enabled = True
    settings.ocr.engine = "tesseract"
    run_ingest(settings, str(bucket))
    with TestClient(create_app(settings)) as client:
        body = client.get(f"/v1/images/{_ids(settings)['sign.png']}/text").json()
    assert body["languages"] == "eng" and body["text"] == "Lighthouse Road Harbour 42"
    for word, (_text, box) in zip(body["words"], truth["sign.png"], strict=True):
        assert iou(tuple(word["box"]), box) > 0.5
    settings.ocr.engine = "rapidocr"
    assert lacking_count(settings) == 3  # read by another engine: read again
    settings.ocr.enabled = False
    summary = cli_json("ocr")  # on demand, whatever PIXSEEK_OCR__ENABLED says
    assert summary["engine"] == "rapidocr:PP-OCRv6" and summary["summary"]["images"] == 3
    assert _keys(settings, "lighthouse") == ["sign.png"]
    assert cli_json("ocr") == {"job_id": None, "engine": "rapidocr:PP-OCRv6", "summary": None}


def test_pixseek_ocr_reads_a_catalog_ingested_without_ocr(settings: Settings, texts: Texts) -> None:
    bucket, _ = texts
    run_ingest(settings, str(bucket))
    assert _keys(settings, "bakery") == []
    result = CliRunner().invoke(main, ["ocr"])
    assert result.exit_code == 0, result.output
    assert "read 3 images, 8 words in 2, 0 unread" in result.stdout
    assert _keys(settings, "bakery") == ["shop/receipt_001.png"]
    settings.ocr.languages = "eng+xyz"
    missing = CliRunner().invoke(main, ["ocr", "--engine", "tesseract"])
    assert missing.exit_code != 0 and "language pack for xyz" in missing.output
