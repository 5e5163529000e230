"""End a job: publish the index once nothing is pending, or record why the job failed."""

from __future__ import annotations

import logging

from pixseek.core.db import session_scope
from pixseek.core.events import published
from pixseek.core.settings import Settings
from pixseek.index.catalog.jobs import JobStatus, finish_job, get_job
from pixseek.index.catalog.vocabulary import VocabularyError
from pixseek.index.vectors.writer import PublishResult, publish_index
from pixseek.ingest.pending import pending_count
from pixseek.ingest.tagging import tag_catalog
from pixseek.model.encoder import embed_dim
from pixseek.model.identity import ModelId

log = logging.getLogger(__name__)


def finalize_job(settings: Settings, job_id: str) -> PublishResult | None:
    """Publish the index with the job's vectors, tag what is untagged, and mark the job done.

    Safe to call more than once and at any time: a job that is already done (or cancelled), or
    that still has pending images (their batch finalizes when it ends), is left alone and None returned.
    """
    with session_scope(settings) as session:
        if get_job(session, job_id).status in (JobStatus.DONE, JobStatus.CANCELLED):
            return None
    if pending_count(settings, job_id):
        log.info("ingest.finalize_deferred job=%s: images still pending", job_id)
        return None
    result = publish_index(settings, ModelId.of(settings), empty_dim=lambda: embed_dim(settings.model))
    if settings.tags.enabled:
        # From the stored vectors: the new images, or every image when the vocabulary changed.
        # The prompts were embedded by `process_images`: the writer never loads the model.
        try:
            tag_catalog(settings, embed_prompts=False)
        except VocabularyError as exc:
            # The index is published: a broken vocabulary file must not fail the ingest.
            log.warning("tags.vocabulary_invalid job=%s: %s (images stay untagged)", job_id, exc.detail)
    with session_scope(settings) as session:
        finish_job(get_job(session, job_id))
    if result.added or result.removed:
        published(settings)  # saved searches run again, where this process serves them
    log.info(
        "ingest.finalized job=%s generation=%s added=%d removed=%d count=%d",
        job_id,
        result.generation,
        result.added,
        result.removed,
        result.count,
    )
    return result
