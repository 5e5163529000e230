"""Schema objects that migrations create but the ORM models do not describe.

Full-text search objects (revision 0002): the SQLite FTS5 table with its shadow tables, and
PostgreSQL's generated tsvector column and its index. Autogenerate, and the test that
compares migrations with the models, must neither drop them nor report them.
"""

from __future__ import annotations

from typing import Any

UNMODELLED_TABLE_PREFIX = "image_text_fts"
UNMODELLED_COLUMNS = {("image_text", "document")}
UNMODELLED_INDEXES = {"ix_image_text_document"}


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if type_ == "table" and name and name.startswith(UNMODELLED_TABLE_PREFIX):
        return False
    if type_ == "column" and (getattr(obj.table, "name", None), name) in UNMODELLED_COLUMNS:
        return False
    return not (type_ == "index" and name in UNMODELLED_INDEXES)
