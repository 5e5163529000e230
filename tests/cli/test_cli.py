"""The `pixseek` command line, in-process: one JSON document with --json, exit 2 on errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from pixseek.cli import main
from pixseek.core.settings import Settings, get_settings
from tests.support.images import BAD_FILES, write_bad_files

INGEST_KEYS = {"job_id", "bucket", "total", "indexed", "unchanged", "deleted", "failed", "skipped"}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def run_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)  # exactly one document, nothing else
    return document


def test_ingest_json_is_one_document_with_the_documented_keys(settings: Settings, bucket: Path) -> None:
    write_bad_files(bucket)
    doc = run_json("ingest", str(bucket))
    assert set(doc) >= INGEST_KEYS
    assert set(doc) - INGEST_KEYS <= {"status"}
    assert len(doc["job_id"]) == 32
    assert doc["bucket"] == str(bucket.resolve())
    assert (doc["total"], doc["indexed"], doc["unchanged"], doc["deleted"]) == (6 + len(BAD_FILES), 6, 0, 0)
    assert all(set(item) == {"key", "error"} and item["error"] for item in doc["failed"])
    assert all(set(item) == {"key", "reason"} and item["reason"] for item in doc["skipped"])
    assert {item["key"] for item in doc["failed"]} == {k for k, s in BAD_FILES.items() if s == "failed"}
    assert {item["key"] for item in doc["skipped"]} == {k for k, s in BAD_FILES.items() if s == "skipped"}


def test_second_ingest_reports_everything_unchanged(settings: Settings, bucket: Path) -> None:
    run_json("ingest", str(bucket))
    (bucket / "img000.png").unlink()
    doc = run_json("ingest", str(bucket))
    assert (doc["total"], doc["indexed"], doc["unchanged"], doc["deleted"]) == (5, 0, 5, 1)


def test_ingest_without_json_prints_a_summary(settings: Settings, bucket: Path) -> None:
    (bucket / "broken.jpg").write_bytes(b"nope")
    result = run("ingest", str(bucket))
    assert result.exit_code == 0
    assert "7 files, 6 indexed, 0 unchanged, 0 deleted, 1 failed, 0 skipped" in result.stdout
    assert "failed  broken.jpg: not an image" in result.stdout


def test_search_text_json_returns_k_ranked_results(settings: Settings, bucket: Path) -> None:
    run_json("ingest", str(bucket))
    doc = run_json("search", "a dog", "-k", "5")
    assert doc["limit"] == 5 and doc["offset"] == 0
    results = doc["results"]
    assert len(results) == 5
    assert all({"id", "bucket", "key", "score"} <= set(r) for r in results)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


def test_search_image_json_finds_the_file_first(settings: Settings, bucket: Path) -> None:
    run_json("ingest", str(bucket))
    doc = run_json("search", "--like", str(bucket / "img004.png"), "-k", "3")
    assert len(doc["results"]) == 3
    assert doc["results"][0]["key"] == "img004.png"
    assert doc["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)


def test_search_by_id_and_filters(settings: Settings, bucket: Path) -> None:
    run_json("ingest", str(bucket))
    first = run_json("search", "--like", str(bucket / "img001.png"), "-k", "1")["results"][0]
    similar = run_json("search", "--like-id", str(first["id"]), "-k", "2")["results"]
    assert len(similar) == 2 and first["id"] not in {r["id"] for r in similar}
    only = run_json("search", "x", "-k", "10", "--prefix", "img00", "--bucket", first["bucket"])["results"]
    assert len(only) == 6
    assert run_json("search", "x", "--prefix", "zzz")["results"] == []


def test_search_without_json_prints_ranked_lines(settings: Settings, bucket: Path) -> None:
    run_json("ingest", str(bucket))
    result = run("search", "--like", str(bucket / "img002.png"), "-k", "2")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[2] == "1-2 of 6"
    assert lines[0].lstrip().startswith("1. 1.0000") and lines[0].endswith("/img002.png")


def test_status_json(settings: Settings, bucket: Path) -> None:
    empty = run_json("status")
    assert empty["index"] is None and empty["images"] == {}
    run_json("ingest", str(bucket))
    doc = run_json("status")
    assert {
        "data_dir",
        "database",
        "model",
        "pretrained",
        "random_weights",
        "mode",
        "images",
        "index",
    } <= set(doc)
    assert doc["data_dir"] == str(settings.data_dir)
    assert (doc["model"], doc["pretrained"], doc["random_weights"], doc["mode"]) == (
        "pixseek-tiny",
        "none",
        True,
        "embedded",
    )
    assert doc["images"] == {"indexed": 6}
    assert doc["index"]["count"] == 6 and doc["index"]["dim"] == 64 and doc["index"]["bytes"] > 0
    assert doc["patch_layouts"] == {"tiles": 6}  # patches over the whole picture
    assert "patches:   6 tiles\n" in run("status").stdout


def test_status_without_json_names_random_weights(settings: Settings) -> None:
    result = run("status")
    assert result.exit_code == 0
    assert "RANDOM WEIGHTS" in result.stdout
    assert "none yet" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "a dog"], "nothing is indexed yet"),
        (["search"], "give a TEXT, --like FILE or --like-id N"),
        (["search", "--like-id", "1", "--min-score", "2"], "min_score"),
        (["ingest", "/no/such/folder"], "bucket folder does not exist"),
    ],
)
def test_errors_exit_2_with_a_message(settings: Settings, args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr


def test_errors_with_json_print_one_error_document(settings: Settings) -> None:
    result = run("ingest", "/no/such/folder", "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["error"] == "bucket_not_found"
    assert "does not exist" in doc["detail"]


def test_search_errors_once_indexed(settings: Settings, bucket: Path, tmp_path: Path) -> None:
    run_json("ingest", str(bucket))
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"garbage")
    cases = [
        (["search", "   "], "empty"),
        (["search", "x", "-k", "0"], "limit must be between"),
        (["search", "--like", str(tmp_path / "missing.png")], "cannot read"),
        (["search", "--like", str(garbage)], "not an image"),
        (["search", "--like-id", "987654"], "no image with id"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2, args
        assert message in result.stderr, (args, result.stderr)


def test_version(settings: Settings) -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("pixseek, version ")


def test_migrate_command(settings: Settings) -> None:
    result = run("migrate")
    assert result.exit_code == 0
    assert "database migrated to head" in result.stderr
    assert result.stdout == ""


def test_bucket_filter_accepts_a_relative_folder(
    settings: Settings, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_json("ingest", str(bucket))
    monkeypatch.chdir(bucket.parent)
    results = run_json("search", "x", "-k", "10", "--bucket", f"./{bucket.name}")["results"]
    assert len(results) == 6


@pytest.mark.parametrize("command", [["status"], ["search", "a dog"], ["ingest", "."]])
def test_invalid_settings_are_named_without_their_values(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("PIXSEEK_BOOTSTRAP_API_KEY", "too-short-but-secret")
    monkeypatch.setenv("PIXSEEK_PORT", "99999")
    get_settings.cache_clear()
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: invalid settings: ")
    assert "PIXSEEK_BOOTSTRAP_API_KEY" in line and "PIXSEEK_PORT" in line
    assert "too-short-but-secret" not in result.output
