"""`pixseek duplicates`, `duplicates check`, `resolve` and `dismiss`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from pixseek.cli import main
from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest
from tests.support.photos import EDITS, photo, write


def test_list_groups_as_json(settings: Settings, dup_bucket: Path) -> None:
    run_ingest(settings, str(dup_bucket))
    result = CliRunner().invoke(main, ["duplicates", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert {g["kind"] for g in document["groups"]} == {"exact", "near"}
    for group in document["groups"]:
        assert set(group) >= {"id", "kind", "keep", "images"}
        assert group["images"][0]["id"] == group["keep"]
        for image in group["images"]:
            assert set(image) >= {"id", "bucket", "key", "score", "reason"}
    near = CliRunner().invoke(main, ["duplicates", "--kind", "near", "--json", "--no-detect"])
    assert [g["kind"] for g in json.loads(near.output)["groups"]] == ["near"]


def test_detect_prints_the_summary_then_the_groups(settings: Settings, dup_bucket: Path) -> None:
    run_ingest(settings, str(dup_bucket))
    result = CliRunner().invoke(main, ["duplicates"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert re.fullmatch(r"compared 11 of 11 images; [1-9]\d* new pairs", lines[0]), lines[0]
    assert re.fullmatch(r"group \d+ \[(exact|near), open\] keep \d+", lines[1]), lines[1]
    # One group per picture: the beach, its exact copy and its edits (kind: the strongest link).
    beach = next(i for i, line in enumerate(lines) if "[exact, open]" in line)
    assert re.fullmatch(r"  \* \[\d+\] .+/photos/beach(-copy)?\.jpg  keeper: .+", lines[beach + 1])
    assert sum("/photos/beach" in line for line in lines) == 6
    assert lines[-1] == "2 open group(s)"
    assert sum(line.startswith("group ") for line in lines) == 2
    again = CliRunner().invoke(main, ["duplicates"]).output.splitlines()
    assert again[0] == "compared 0 of 11 images; 0 new pairs"

    def without_group_ids(out: list[str]) -> list[str]:
        return [re.sub(r"^group \d+", "group", line) for line in out]

    assert without_group_ids(again[1:]) == without_group_ids(lines[1:])  # open groups are rebuilt


def test_detect_json_keeps_its_document_and_is_recorded_as_a_job(
    settings: Settings, dup_bucket: Path
) -> None:
    run_ingest(settings, str(dup_bucket))
    runner = CliRunner()
    document = json.loads(runner.invoke(main, ["duplicates", "--json"]).output)
    assert list(document) == ["groups", "total", "detection"]
    detection = document["detection"]
    assert list(detection) == ["images", "compared", "pairs_found", "backfilled", "groups"]
    assert (detection["images"], detection["compared"], detection["backfilled"]) == (11, 11, 0)
    listed = json.loads(runner.invoke(main, ["jobs", "--json"]).output)["jobs"]
    kinds = [(job["kind"], job["status"]) for job in listed]
    assert kinds == [("duplicates", "done"), ("enrich", "done"), ("ingest", "done")]
    assert listed[0]["detection"] == detection
    text = runner.invoke(main, ["jobs"]).output.splitlines()
    pairs = detection["pairs_found"]
    assert f"done     duplicates: compared 11 of 11 images, {pairs} new pairs" in text[0]
    assert "enrich: 11/11 images enriched" in text[1]
    assert "indexed" in text[2]


def test_check_resolve_dismiss(settings: Settings, dup_bucket: Path, tmp_path: Path) -> None:
    run_ingest(settings, str(dup_bucket))
    runner = CliRunner()
    groups = json.loads(runner.invoke(main, ["duplicates", "--json"]).output)["groups"]
    probe = write(tmp_path / "probe.jpg", EDITS["grey"](photo(1, (240, 180))))
    checked = runner.invoke(main, ["duplicates", "check", str(probe), "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["verdict"] == "near"

    near = next(g for g in groups if g["kind"] == "near")
    resolved = runner.invoke(main, ["duplicates", "resolve", str(near["id"]), "--action", "remove", "--json"])
    assert resolved.exit_code == 0 and json.loads(resolved.output)["status"] == "resolved"
    exact = next(g for g in groups if g["kind"] == "exact")
    dismissed = runner.invoke(main, ["duplicates", "dismiss", str(exact["id"])])
    assert dismissed.exit_code == 0 and "dismissed" in dismissed.output
    assert json.loads(runner.invoke(main, ["duplicates", "--json"]).output)["groups"] == []


def test_errors_exit_2(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["duplicates", "check", str(tmp_path / "nope.jpg"), "--json"])
    assert missing.exit_code == 2 and json.loads(missing.output)["error"] == "invalid_request"
    (tmp_path / "t.jpg").write_text("hello")
    bad = runner.invoke(main, ["duplicates", "check", str(tmp_path / "t.jpg"), "--json"])
    assert bad.exit_code == 2 and json.loads(bad.output)["error"] == "unsupported_image"
    unknown = runner.invoke(main, ["duplicates", "dismiss", "4242", "--json"])
    assert unknown.exit_code == 2 and json.loads(unknown.output)["error"] == "group_not_found"
