"""Facet counts: how many images of a query's result set carry each tag, camera, lens, country, city.

The result set is what all pages of the query together hold:

- semantic without `min_score`: every searchable image that passes the filters (counted in SQL);
- semantic with `min_score`: the images at or above it, up to `fusion_depth` of them;
- keyword: every filtered image that matches the words (counted in SQL);
- hybrid: the fused list (both lists, each `fusion_depth` deep).

Only the `tags.facet_limit` most frequent values of each facet are returned, ties by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pixseek.core.settings import Settings
from pixseek.index.catalog.exif import FACET_COLUMNS, exif_counts
from pixseek.index.catalog.tags import tag_counts

Facets = dict[str, dict[str, int]]
FACET_NAMES = ("tags", *FACET_COLUMNS)


def result_facets(session: Session, settings: Settings, ids: sa.Select[Any] | Sequence[int] | None) -> Facets:
    """{"tags": {tag: count}, "cameras": {...}, "lenses", "countries", "cities"} over the images
    `ids` selects or lists (None: no image)."""
    if ids is None:
        return {name: {} for name in FACET_NAMES}
    limit = settings.tags.facet_limit
    return {"tags": tag_counts(session, ids, limit), **exif_counts(session, ids, limit)}
