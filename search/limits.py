"""Bounds of search requests that the HTTP schemas also declare (light: no model, no index)."""

from __future__ import annotations

import re

MAX_SMOOTH = 3  # region search: the widest neighbourhood, in cells, a best cell is smoothed over
MAX_TAG_FILTERS = 16  # tags, and excluded tags, each
MAX_VALUE_FILTERS = 8  # cameras, lenses, countries and cities, each
MAX_NAME = 240  # characters of a camera, lens, country or city filter
# A camera, lens, country or city filter: not blank, no control characters (the schema's pattern too).
VALUE_NAME = re.compile(r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$")
