"""What a test does when a server it needs is not there: skip on a laptop, fail in CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def service_missing(reason: str) -> NoReturn:
    """Skip the test, or fail it under `CI=true`, where a missing server is a broken run."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the services must run)", pytrace=False)
    pytest.skip(reason)
