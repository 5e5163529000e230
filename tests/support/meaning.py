"""The tests of meaning's model settings and the calls they make as a user would."""

from __future__ import annotations

import os

from pixseek.demo.library import Library
from pixseek.model.bundled import SCENES_MODEL, SCENES_WEIGHTS

MEANING_ENV = {
    "PIXSEEK_MODEL": SCENES_MODEL,
    "PIXSEEK_PRETRAINED": str(SCENES_WEIGHTS),
    "PIXSEEK_DEVICE": "cpu",
    "PIXSEEK_PRECISION": "fp32",
    "PIXSEEK_RUNTIME": "torch",  # in the suite's process, as tests/conftest.py says
    "PIXSEEK_BATCH_SIZE": "32",
    "PIXSEEK_DECODE_WORKERS": "2",
    # Hundreds of queries in a row, as fast as the machine answers: not what rate limits are for.
    "PIXSEEK_RATE_LIMIT_PER_SECOND": "100000",
    "PIXSEEK_RATE_LIMIT_BURST": "100000",
}


def bucket(library: Library, folder: str) -> str:
    """The bucket name a local folder is cataloged under (its real path)."""
    return os.path.realpath(library.folder(folder))
