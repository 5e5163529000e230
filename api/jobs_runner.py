"""Starting jobs from the API: on a background thread, or on the workers with a broker."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pixseek.core.broker import celery_for
from pixseek.core.errors import BrokerUnavailable
from pixseek.core.redact import hide_passwords
from pixseek.core.settings import Settings
from pixseek.index.catalog.jobs import failures_recorded, record_failure
from pixseek.ingest.dispatch import submit_job
from pixseek.ingest.planning import create_job
from pixseek.ingest.run import run_ingest
from pixseek.ingest.signatures import BACKFILL_TASK, backfill_signatures
from pixseek.media.sources import open_source
from pixseek.search.curation.jobs import create_curation_job, run_curation_job
from pixseek.search.duplicates.jobs import DETECT_TASK, create_detection_job, run_detection_job

log = logging.getLogger(__name__)


class JobRunner:
    """Runs one job at a time in this process, so two jobs never race on the index or the groups.

    With a broker the job is only recorded here; the workers run it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixseek-jobs")

    def submit(self, uri: str) -> str:
        """Start ingesting the bucket at `uri`; returns the job id."""
        if not self.settings.embedded:
            return submit_job(self.settings, uri)
        source = open_source(uri, self.settings)  # fails now, with a 4xx, if the bucket is bad
        job_id = create_job(self.settings, source.bucket)
        self._pool.submit(self._run, uri, job_id)
        return job_id

    def submit_detection(self, *, full: bool = False) -> str:
        """Start a duplicate detection (signatures first, then the comparison); returns the job id."""
        job_id = create_detection_job(self.settings)
        if self.settings.embedded:
            self._pool.submit(self._run_detection, job_id, full)
        else:
            self._send_detection(job_id, full)
        return job_id

    def submit_curation(self, command: str, params: dict[str, Any]) -> str:
        """Start a curation command or the map on this process's job thread; returns the job id.

        Also with a broker: the commands read only the catalog and write selections or the
        map cache under this process's data dir (no Celery task runs them yet).
        """
        job_id = create_curation_job(self.settings, command, params)
        self._pool.submit(self._run_curation, job_id)
        return job_id

    def _run_curation(self, job_id: str) -> None:
        try:
            run_curation_job(self.settings, job_id)
        except Exception:
            log.exception("curation.job_failed job=%s", job_id)

    def _send_detection(self, job_id: str, full: bool) -> None:
        # Any worker can read the buckets; the comparison goes to the index writer's queue,
        # whose workers share the data dir and so the lock that keeps detections apart.
        app = celery_for(self.settings)
        detect = app.signature(
            DETECT_TASK, args=(job_id, full), immutable=True, queue=self.settings.writer_queue
        )
        try:
            app.send_task(BACKFILL_TASK, args=(job_id,), queue=self.settings.queue, link=detect)
        except Exception as exc:
            reason = hide_passwords(f"cannot send tasks to the broker ({self.settings.broker_url}): {exc}")
            record_failure(self.settings, job_id, reason)
            raise BrokerUnavailable(reason) from exc

    def _run(self, uri: str, job_id: str) -> None:
        try:
            run_ingest(self.settings, uri, job_id=job_id)
        except Exception:
            log.exception("ingest.job_failed job=%s", job_id)

    def _run_detection(self, job_id: str, full: bool) -> None:
        try:
            with failures_recorded(self.settings, job_id):
                backfill_signatures(self.settings, job_id=job_id)
                run_detection_job(self.settings, job_id, full=full)
        except Exception:
            log.exception("duplicates.job_failed job=%s", job_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
