"""`pixseek eval` agrees with `pixseek search` and tells a trained model from a random one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pixseek.cli import main
from pixseek.core.db import dispose_engines
from pixseek.core.settings import Settings, get_settings
from pixseek.demo.library import Library, eval_queries
from pixseek.evaluation.metrics import ranking_metrics
from tests.support.cli import cli_json


def _write_queries(library: Library, path: Path) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in eval_queries(library)))


@pytest.fixture
def random_data_dir(library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The same library ingested with the random-weight test model, in a data dir of its own."""
    data_dir = tmp_path / "random"
    with monkeypatch.context() as mp:
        mp.setenv("PIXSEEK_DATA_DIR", str(data_dir))
        mp.setenv("PIXSEEK_MODEL", "pixseek-tiny")
        mp.setenv("PIXSEEK_PRETRAINED", "none")
        get_settings.cache_clear()
        for folder in ("single", "pairs", "retakes"):
            assert cli_json("ingest", str(library.folder(folder)))["failed"] == []
    get_settings.cache_clear()
    dispose_engines()
    return data_dir


def _expected_ranking_figures(library: Library, queries: Path) -> tuple[dict[str, float], dict[str, float]]:
    """The figures recomputed from `pixseek search --json` results, query by query."""
    texts, images = [], []
    for line in queries.read_text().splitlines():
        record = json.loads(line)
        if "relevant" in record and "query" in record:
            keys = [h["key"] for h in cli_json("search", record["query"], "-k", "10")["results"]]
            texts.append((keys, set(record["relevant"])))
        elif "image" in record:
            folder = library.folder("retakes")
            (own,) = cli_json("search", "--like", str(folder / record["image"]), "-k", "1")["results"]
            assert own["key"] == record["image"]
            keys = [h["key"] for h in cli_json("search", "--like-id", str(own["id"]), "-k", "10")["results"]]
            images.append((keys, set(record["relevant"])))
    return ranking_metrics(texts), ranking_metrics(images)


def test_eval_matches_search_and_compares_two_data_dirs(
    library: Library, meaning: Settings, random_data_dir: Path, tmp_path: Path
) -> None:
    queries = tmp_path / "queries.jsonl"
    _write_queries(library, queries)
    document = cli_json(
        "eval", str(queries), "--data-dir", str(meaning.data_dir), "--data-dir", str(random_data_dir)
    )
    assert document["counts"] == {"text": 30, "image": len(library.retakes), "region": 40}
    tiny, rand = document["runs"]
    assert (tiny["model"], rand["model"]) == ("pixseek-scenes", "pixseek-tiny")
    assert tiny["missing"] == {"text": 0, "image": 0, "region": 0}

    text, image = _expected_ranking_figures(library, queries)
    for name, value in text.items():
        assert tiny["kinds"]["text"][name] == pytest.approx(value, abs=1e-4), name
    for name, value in image.items():
        assert tiny["kinds"]["image"][name] == pytest.approx(value, abs=1e-4), name
    assert tiny["kinds"]["text"]["queries"] == 30 and tiny["kinds"]["region"]["pairs"] == 40

    # The trained model beats random weights on every kind of query.
    for kind, metric in (("text", "recall@1"), ("image", "mrr"), ("region", "pointing")):
        assert tiny["kinds"][kind][metric] > rand["kinds"][kind][metric] + 0.3, (kind, tiny, rand)

    table = CliRunner().invoke(main, ["eval", str(queries), "--data-dir", str(meaning.data_dir)])
    assert table.exit_code == 0, table.output
    assert "text recall@1" in table.output and "region pointing" in table.output
    assert str(meaning.data_dir) in table.output


def test_eval_reads_coco_captions(library: Library, meaning: Settings, tmp_path: Path) -> None:
    coco = {
        "images": [{"id": i, "file_name": s.key} for i, s in enumerate(library.pairs)],
        "annotations": [{"image_id": i, "caption": s.caption} for i, s in enumerate(library.pairs)]
        + [{"image_id": 999, "caption": "an image that is not there"}],
    }
    path = tmp_path / "captions.json"
    path.write_text(json.dumps(coco))
    document = cli_json("eval", str(path), "--limit", "10")
    (run,) = document["runs"]
    assert document["counts"]["text"] == 10
    assert run["kinds"]["text"]["queries"] == 10
    assert 0 < run["kinds"]["text"]["recall@10"] <= 1


def test_eval_refuses_a_data_dir_without_an_index(meaning: Settings, tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query": "a red circle", "relevant": ["x.png"]}\n')
    result = CliRunner().invoke(main, ["eval", str(queries), "--data-dir", str(tmp_path / "empty"), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"] == "index_not_ready"
