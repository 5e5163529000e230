"""Text in images: an OCR engine reads the words of searchable images, as a job of its own after embedding.

Off unless `PIXSEEK_OCR__ENABLED` (or run on demand: `pixseek ocr`). When an ingest is
published and images lack text (new, changed, or read by another engine or language
packs), an OCR job is started: in this process right after the ingest (embedded mode), or
on the `PIXSEEK_OCR__QUEUE` queue (cluster mode), so recognising text never holds up
embedding. The job reads each file from its bucket again, decodes it under the ingest
limits and runs the engine of `PIXSEEK_OCR__ENGINE` (`ingest/ocr_engines.py`: RapidOCR's
PP-OCR by default, Tesseract where asked). Words go to `image_ocr` with their boxes in
displayed-image pixels and to the keyword index (`index/catalog/ocr.py`). Batches commit
one by one and only images still lacking text are read, so a job interrupted and run
again resumes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PIL import Image as PILImage
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pixseek.core.broker import celery_for
from pixseek.core.db import session_scope
from pixseek.core.errors import PixseekError
from pixseek.core.locks import file_lock
from pixseek.core.settings import OcrSettings, Settings
from pixseek.index.catalog.images import SEARCHABLE, Image
from pixseek.index.catalog.jobs import (
    JobKind,
    add_job,
    add_to_summary,
    claim_job,
    failures_recorded,
    finish_job,
    get_job,
)
from pixseek.index.catalog.ocr import ImageOcr, Word, put_ocr
from pixseek.ingest.ocr_engines import engine_for
from pixseek.media.cataloged import read_cataloged
from pixseek.media.decode import decode_image

log = logging.getLogger(__name__)

OCR_TASK = "pixseek.ocr.recognise"


def recognise(image: PILImage.Image, ocr: OcrSettings) -> list[Word]:
    """The words the configured engine reads in `image`, boxes in the image's own pixels.

    Raises:
        TimeoutError: the engine ran longer than its time limit.
    """
    return engine_for(ocr).read(image)


@dataclass(frozen=True)
class _Pending:
    image_id: int
    bucket: str
    key: str
    sha256: str


def _lacking_text(session: Session, label: str, after: int, limit: int) -> list[_Pending]:
    """Searchable images never read, read from other bytes, or read by another engine or language packs."""
    stmt = (
        select(Image.id, Image.bucket, Image.key, Image.sha256)
        .outerjoin(ImageOcr, ImageOcr.image_id == Image.id)
        .where(
            Image.status.in_(list(SEARCHABLE)),
            Image.sha256.is_not(None),
            Image.media.is_(None),  # pictures: videos are not read for text (yet)
            Image.id > after,
            or_(
                ImageOcr.image_id.is_(None),
                ImageOcr.sha256 != Image.sha256,
                ImageOcr.languages != label,
            ),
        )
        .order_by(Image.id)
        .limit(limit)
    )
    return [_Pending(int(i), str(b), str(k), str(s)) for i, b, k, s in session.execute(stmt).all()]


def lacking_count(settings: Settings) -> int:
    """How many searchable images still need reading (at most one batch is counted)."""
    with session_scope(settings) as session:
        return len(_lacking_text(session, engine_for(settings.ocr).label(), 0, settings.ocr.batch_size))


def _read(settings: Settings, item: _Pending) -> tuple[list[Word], str | None]:
    """The words of one image, or none and why (an unreadable file, a timeout)."""
    try:
        data = read_cataloged(settings, item.image_id, item.bucket, item.key)
        decoded = decode_image(data, max_pixels=settings.max_image_pixels)
        words = recognise(decoded.image, settings.ocr)
        if decoded.image.size != (decoded.width, decoded.height):  # a RAW's preview, a reduced decode
            words = _rescaled(words, decoded.image.size, (decoded.width, decoded.height))
        return words, None
    except (PixseekError, TimeoutError) as exc:
        reason = exc.detail if isinstance(exc, PixseekError) else str(exc)
        log.info("ocr.unread image=%d key=%s reason=%s", item.image_id, item.key, reason)
        return [], reason
    except Exception as exc:  # the engine failing on one picture must not stop the job
        log.exception("ocr.engine_failed image=%d key=%s", item.image_id, item.key)
        return [], f"the OCR engine failed: {type(exc).__name__}: {exc}"


def _rescaled(words: list[Word], seen: tuple[int, int], shown: tuple[int, int]) -> list[Word]:
    """Boxes read on a picture of size `seen`, in the pixels of the image as displayed (`shown`)."""
    sx, sy = shown[0] / seen[0], shown[1] / seen[1]
    return [
        Word(
            w.text,
            (round(w.box[0] * sx), round(w.box[1] * sy), round(w.box[2] * sx), round(w.box[3] * sy)),
            w.confidence,
        )
        for w in words
    ]


def create_ocr_job(settings: Settings) -> str:
    with session_scope(settings) as session:
        return add_job(session, JobKind.OCR)


def run_ocr_job(settings: Settings, job_id: str) -> dict[str, int]:
    """Read the text of every searchable image lacking it; returns the job's summary.

    A job already done returns its recorded summary. Raises ConfigError when the engine
    cannot run (no Tesseract, a missing language pack), leaving the job for the caller to
    record failed.
    """
    ocr = settings.ocr
    engine = engine_for(ocr)
    engine.check()
    label = engine.label()
    # One OCR job at a time per data dir: two would read the same images twice.
    with file_lock(settings.data_dir / ".ocr.lock"):
        with session_scope(settings) as session:
            if claim_job(session, job_id) is None:
                return dict(get_job(session, job_id).summary or {})
        after = 0
        while True:
            with session_scope(settings) as session:
                batch = _lacking_text(session, label, after, ocr.batch_size)
            if not batch:
                break
            # Files are read and recognised outside any transaction; the batch commits at once.
            results = [(item, *_read(settings, item)) for item in batch]
            with session_scope(settings) as session:
                for item, words, error in results:
                    put_ocr(session, item.image_id, item.sha256, label, words, error)
                add_to_summary(
                    session,
                    job_id,
                    images=len(results),
                    with_text=sum(1 for _, words, _ in results if words),
                    words=sum(len(words) for _, words, _ in results),
                    unread=sum(1 for _, _, error in results if error),
                )
            after = batch[-1].image_id
        with session_scope(settings) as session:
            job = get_job(session, job_id)
            summary = {"images": 0, "with_text": 0, "words": 0, "unread": 0, **(job.summary or {})}
            finish_job(job, summary)
    log.info("ocr.job_done job=%s images=%d words=%d", job_id, summary["images"], summary["words"])
    return summary


def read_catalog_text(settings: Settings) -> tuple[str | None, dict[str, int] | None]:
    """`pixseek ocr`: read the text of every searchable image lacking it, whether or not OCR
    follows ingests. Returns (job id, summary); (None, None) when nothing lacks text; in a
    cluster the job goes to the OCR queue and the summary is None.

    Raises:
        ConfigError: the engine cannot run here (checked before any job is made).
    """
    engine_for(settings.ocr).check()
    if lacking_count(settings) == 0:
        return None, None
    job_id = create_ocr_job(settings)
    if not settings.embedded:
        celery_for(settings).send_task(OCR_TASK, args=(job_id,), queue=settings.ocr.queue)
        return job_id, None
    with failures_recorded(settings, job_id):
        return job_id, run_ocr_job(settings, job_id)


def follow_ingest_with_ocr(settings: Settings) -> str | None:
    """After an ingest: start an OCR job when OCR is on and images lack text; its id, or None.

    Embedded mode runs it here, now (a failure is recorded on the OCR job, never on the
    ingest); cluster mode sends it to the OCR queue.
    """
    if not settings.ocr.enabled or lacking_count(settings) == 0:
        return None
    job_id = create_ocr_job(settings)
    if settings.embedded:
        try:
            with failures_recorded(settings, job_id):
                run_ocr_job(settings, job_id)
        except Exception:
            log.exception("ocr.job_failed job=%s", job_id)
    else:
        celery_for(settings).send_task(OCR_TASK, args=(job_id,), queue=settings.ocr.queue)
    return job_id
