"""Starting ingest jobs from the API: on a background thread, or on the workers with a broker."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from pixseek.core.settings import Settings
from pixseek.ingest.dispatch import submit_job
from pixseek.ingest.planning import create_job
from pixseek.ingest.run import run_ingest
from pixseek.media.sources import open_source

log = logging.getLogger(__name__)


class JobRunner:
    """Runs one ingest at a time in this process, so two jobs never race on the index.

    With a broker the job is only recorded here; a worker plans it and the workers run it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixseek-ingest")

    def submit(self, uri: str) -> str:
        if not self.settings.embedded:
            return submit_job(self.settings, uri)
        source = open_source(uri, self.settings)  # fails now, with a 4xx, if the bucket is bad
        job_id = create_job(self.settings, source.bucket)
        self._pool.submit(self._run, uri, job_id)
        return job_id

    def _run(self, uri: str, job_id: str) -> None:
        try:
            run_ingest(self.settings, uri, job_id=job_id)
        except Exception:
            log.exception("ingest.job_failed job=%s", job_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
