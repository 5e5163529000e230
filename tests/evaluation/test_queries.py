"""Query files: COCO captions and the three kinds of JSON lines, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixseek.core.errors import InvalidRequest
from pixseek.evaluation.queries import load_queries


def test_coco_captions_become_text_queries(tmp_path: Path) -> None:
    path = tmp_path / "captions.json"
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        "annotations": [
            {"image_id": 1, "caption": "A dog. "},
            {"image_id": 2, "caption": "A cat."},
            {"image_id": 2, "caption": "  "},
        ],
    }
    path.write_text(json.dumps(coco, indent=2))
    queries = load_queries(path)
    assert [(q.text, set(q.relevant)) for q in queries.texts] == [
        ("A dog.", {"a.jpg"}),
        ("A cat.", {"b.jpg"}),
    ]
    assert queries.counts() == {"text": 2, "image": 0, "region": 0}


def test_json_lines_of_each_kind(tmp_path: Path) -> None:
    path = tmp_path / "queries.jsonl"
    lines = [
        {"query": "a red circle", "relevant": ["a.png"]},
        {"image": "a.png", "relevant": ["a.png", "b.png"]},
        {"query": "a red circle", "boxes": {"a.png": [[1, 2, 30, 40]]}},
        {"query": "a blue star", "relevant": ["c.png"], "boxes": {"c.png": [[0, 0, 5, 5], [6, 6, 9, 9]]}},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    queries = load_queries(path)
    assert [q.text for q in queries.texts] == ["a red circle", "a blue star"]
    assert queries.images[0].key == "a.png" and set(queries.images[0].relevant) == {"b.png"}
    assert queries.regions[0].boxes == {"a.png": ((1.0, 2.0, 30.0, 40.0),)}
    assert len(queries.regions[1].boxes["c.png"]) == 2
    assert queries.limited(1).counts() == {"text": 1, "image": 1, "region": 1}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"query": "x"}', "expected"),
        ('{"image": "a.png"}', "needs `relevant`"),
        ('{"query": "x", "boxes": {"a.png": [[5, 5, 1, 1]]}}', "is empty"),
        ('{"query": "x", "boxes": {"a.png": [[1, 2, 3]]}}', "a box is"),
        ('{"query": "", "relevant": ["a"]}', "non-empty"),
        ("[1, 2]", "JSON object"),
        ("{not json", "not JSON"),
    ],
)
def test_bad_lines_are_refused_with_their_line_number(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"query": "ok", "relevant": ["a"]}\n' + line + "\n")
    with pytest.raises(InvalidRequest, match=message) as err:
        load_queries(path)
    assert "q.jsonl:2" in err.value.detail
