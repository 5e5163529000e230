"""`python -m tests.distributed.slow_worker worker ...`: a pixseek worker that takes its time.

The fault tests need a job that is certainly under way when the fault strikes: this worker
spends PIXSEEK_TEST_SLOW_SECONDS on each image (in the decode step, beside the real work), so
a few tiny images make a job of a few seconds whatever the machine.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pixseek.cli import main
from pixseek.core.settings import Settings
from pixseek.ingest.extractors import register

SECONDS = float(os.environ.get("PIXSEEK_TEST_SLOW_SECONDS", "0.2"))


class Slow:
    name = "test_slow"

    def extract(self, source: Any, key: str, data: bytes, decoded: Any) -> None:
        time.sleep(SECONDS)

    def store(self, session: Any, image_id: int, value: Any) -> None:
        pass

    def forget(self, session: Any, image_ids: Any) -> None:
        pass


@register
def _slow(settings: Settings) -> Slow:
    return Slow()


if __name__ == "__main__":
    main()
