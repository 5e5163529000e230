"""`python -m tests.distributed.gated_worker worker ...`: a pixseek worker that hangs on one key.

The crash test needs a worker that is certainly in the middle of a job when it is killed:
this one embeds and commits everything before the key named by PIXSEEK_TEST_GATE_KEY,
then blocks forever while reading that file, with its batch unacknowledged.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from pixseek.cli import main
from pixseek.core.settings import Settings
from pixseek.ingest.extractors import register

GATE_KEY = os.environ["PIXSEEK_TEST_GATE_KEY"]


class Gate:
    name = "test_gate"

    def extract(self, source: Any, key: str, data: bytes, decoded: Any) -> None:
        if key == GATE_KEY:
            threading.Event().wait()  # until SIGKILL

    def store(self, session: Any, image_id: int, value: Any) -> None:
        pass

    def forget(self, session: Any, image_ids: Any) -> None:
        pass


@register
def _gate(settings: Settings) -> Gate:
    return Gate()


if __name__ == "__main__":
    main()
