"""Evaluation queries read from a file: COCO-style captions, or JSON lines.

Formats (told apart by content):

- **COCO captions** (`captions_*.json`: `images[]` with `id` and `file_name`,
  `annotations[]` with `image_id` and `caption`): one text query per caption, relevant
  image its `file_name`.
- **JSON lines**, one query per line, of three kinds (a line may be both a text and a
  region query):
  - text: `{"query": "a red circle", "relevant": ["a.png", ...]}`
  - image: `{"image": "a.png", "relevant": ["b.png", ...]}` (the query image itself is
    never counted)
  - region: `{"query": "a red circle", "boxes": {"a.png": [[x0, y0, x1, y1], ...]}}`, boxes
    in pixels of the image as displayed.

Keys are the catalog's keys: paths relative to the ingested folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pixseek.core.errors import InvalidRequest

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class TextQuery:
    text: str
    relevant: frozenset[str]


@dataclass(frozen=True)
class ImageQuery:
    key: str
    relevant: frozenset[str]


@dataclass(frozen=True)
class RegionQuery:
    text: str
    boxes: dict[str, tuple[Box, ...]]


@dataclass
class QuerySet:
    texts: list[TextQuery] = field(default_factory=list)
    images: list[ImageQuery] = field(default_factory=list)
    regions: list[RegionQuery] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"text": len(self.texts), "image": len(self.images), "region": len(self.regions)}

    def limited(self, limit: int | None) -> QuerySet:
        """At most `limit` queries of each kind (the first ones in the file)."""
        if limit is None:
            return self
        return QuerySet(self.texts[:limit], self.images[:limit], self.regions[:limit])


def _coco(data: dict[str, object]) -> QuerySet:
    images, annotations = data.get("images"), data.get("annotations")
    if not isinstance(images, list) or not isinstance(annotations, list):
        raise InvalidRequest("a COCO captions file needs `images` and `annotations` lists")
    names = {int(i["id"]): str(i["file_name"]) for i in images}
    queries = QuerySet()
    for ann in annotations:
        name = names.get(int(ann["image_id"]))
        caption = str(ann.get("caption", "")).strip()
        if name and caption:
            queries.texts.append(TextQuery(caption, frozenset({name})))
    return queries


def _box(value: object, where: str) -> Box:
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise InvalidRequest(f"{where}: a box is [x0, y0, x1, y1]")
    x0, y0, x1, y1 = (float(v) for v in value)
    if x1 <= x0 or y1 <= y0:
        raise InvalidRequest(f"{where}: box {list(value)} is empty")
    return (x0, y0, x1, y1)


def _line(record: dict[str, object], where: str, queries: QuerySet) -> None:
    relevant = record.get("relevant")
    text = record.get("query")
    if relevant is not None and not isinstance(relevant, list):
        raise InvalidRequest(f"{where}: `relevant` must be a list of keys")
    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise InvalidRequest(f"{where}: `query` must be a non-empty text")
    kinds = 0
    if isinstance(text, str) and relevant:
        queries.texts.append(TextQuery(text.strip(), frozenset(str(k) for k in relevant)))
        kinds += 1
    image = record.get("image")
    if image is not None:
        if not relevant:
            raise InvalidRequest(f"{where}: an image query needs `relevant` keys")
        queries.images.append(ImageQuery(str(image), frozenset(str(k) for k in relevant) - {str(image)}))
        kinds += 1
    boxes = record.get("boxes")
    if boxes is not None:
        if not isinstance(text, str) or not isinstance(boxes, dict) or not boxes:
            raise InvalidRequest(
                f"{where}: a region query needs `query` and `boxes` {{key: [[x0, y0, x1, y1]]}}"
            )
        parsed = {
            str(key): tuple(_box(b, f"{where} {key}") for b in value)
            for key, value in boxes.items()
            if isinstance(value, list)
        }
        queries.regions.append(RegionQuery(text.strip(), parsed))
        kinds += 1
    if not kinds:
        raise InvalidRequest(
            f"{where}: expected `query` + `relevant`, `image` + `relevant`, or `query` + `boxes`"
        )


def load_queries(path: Path) -> QuerySet:
    """Read a COCO captions JSON file or a JSON-lines query file.

    Raises:
        InvalidRequest: unreadable file, or a line that is no query.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None  # JSON lines (several documents) or broken: read line by line
    if isinstance(whole, dict) and "annotations" in whole:
        return _coco(whole)
    queries = QuerySet()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"{where}: not JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise InvalidRequest(f"{where}: expected a JSON object")
        _line(record, where, queries)
    return queries
