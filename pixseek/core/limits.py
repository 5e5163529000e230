"""Bounds that the HTTP schemas declare and the code below them checks (light: no SQL, no numpy)."""

from __future__ import annotations

MAX_ID = 2**63 - 1  # ids are signed 64-bit in SQL and in FAISS
# The largest integer a JSON number carries exactly (and a request may name: ids, sizes).
MAX_JSON_INT = 2**53 - 1
MAX_GLOB_LENGTH = 256  # characters of a key glob
