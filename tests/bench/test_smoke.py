"""Every benchmark still runs: each one's `--smoke` mode, from the command line, as a user runs it.

A smoke run takes seconds (a handful of images or vectors, the tiny model, a temp dir), so
a refactor that breaks a benchmark fails here rather than on the day someone measures.
Its figures mean nothing; the checks are on the report's shape, and on bench/out being
left alone. The benchmarks run in a few `python -m bench.smoke` processes (one per group
below, each kept on one test worker), not in the test process: no test imports bench/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pixseek.core.settings import DuplicateSettings
from pixseek.index.vectors.factory import RECALL_TARGET
from pixseek.model.patch_tokens import PATCH_MODES
from tests.support.services import postgres_available, redis_available, service_missing

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out"  # the real figures: a smoke run must leave it alone
SMOKE = ["--smoke"]

# The benchmarks by group: each group is one process, run by the first of its tests on a
# test worker (groups are sized to spread over two workers), with the arguments given.
GROUPS: dict[str, dict[str, list[str]]] = {
    "train": {
        "bench.train_tiny": SMOKE,
        "bench.train_tiny.figures": SMOKE,
        "bench.train_tiny.similar": SMOKE,
    },
    "serve": {
        "bench.serve_start": SMOKE,
        "bench.distributed.run": SMOKE,
        "bench.ingest.end_to_end": SMOKE,
        "bench.startup": SMOKE,
        "bench.search": SMOKE,
        "bench.soak": SMOKE,
    },
    "quick": {
        # torch: OpenVINO's thread pools stay out of the suite's processes
        # (tests/model/test_openvino_runtime.py).
        "bench.ingest": ["--smoke", "--runtime", "torch"],
        "bench.ingest.precision": SMOKE,
        "bench.ingest.runtimes": SMOKE,
        "bench.ingest.costs": SMOKE,
        "bench.duplicates": ["--smoke", "--json"],
        "bench.duplicates.scale": SMOKE,
        "bench.regions.localisation": SMOKE,
        "bench.regions.region_query": ["--smoke", "--patch-modes", "clearclip"],
        "bench.regions.coverage": SMOKE,
        "bench.regions.patch_index": SMOKE,
        "bench.search_filters.run": SMOKE,
        "bench.tags": SMOKE,
        "bench.video": SMOKE,
        "bench.ocr": SMOKE,
        "bench.raw": SMOKE,
        "bench.models": SMOKE,
        "bench.thumbnails.run": SMOKE,
        "bench.backup": SMOKE,
        "bench.curate": SMOKE,
        "bench.toolbox": SMOKE,
    },
}
SLOW_GROUPS = {"train", "serve"}
GROUP_OF = {module: group for group, runs in GROUPS.items() for module in runs}
_REPORTS: dict[str, dict[str, Any]] = {}


def _listing() -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in OUT.rglob("*")} if OUT.exists() else {}


def _run_group(group: str, tmp: Path) -> dict[str, Any]:
    runs = dict(GROUPS[group])
    if "bench.distributed.run" in runs and not (postgres_available() and redis_available()):
        runs.pop("bench.distributed.run")  # its test says why
    report_file = tmp / f"smoke-{group}.json"
    before = _listing()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.smoke",
            json.dumps(runs),
            "--report",
            str(report_file),
            "--threads",
            "1",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert report_file.exists(), done.stderr[-4000:]
    report: dict[str, Any] = json.loads(report_file.read_text("utf-8"))
    report["_bench_out_changed"] = _listing() != before
    return report


def ran(module: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The smoke run of `module` (its group's process runs once per test worker): checked to
    have exited 0 and left bench/out alone."""
    group = GROUP_OF[module]
    if group not in _REPORTS:
        _REPORTS[group] = _run_group(group, tmp_path_factory.mktemp("smoke"))
    assert not _REPORTS[group]["_bench_out_changed"], "a smoke run wrote under bench/out"
    run: dict[str, Any] = _REPORTS[group][module]
    assert run["exit"] == 0, run["error"] or run["stdout"][-4000:]
    return run


@pytest.fixture
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return lambda module: ran(module, tmp_path_factory)


def _group(module: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The test's xdist group: its benchmark's; the groups that take longest are `slow` too,
    so that the suite starts them first."""
    group = GROUP_OF[module]

    def mark(test: Callable[..., None]) -> Callable[..., None]:
        test = pytest.mark.xdist_group(f"bench-{group}")(test)
        return pytest.mark.slow(test) if group in SLOW_GROUPS else test

    return mark


def _bench_modules() -> set[str]:
    """Every module under bench/ that a user runs (`python -m ...`): those defining main()."""
    found = set()
    for path in (ROOT / "bench").rglob("*.py"):
        if "out" in path.relative_to(ROOT / "bench").parts or "def main(" not in path.read_text("utf-8"):
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found.add(name.removesuffix(".__main__"))
    return found - {"bench.smoke"}  # the runner itself


def test_every_benchmark_has_a_smoke_test() -> None:
    modules = _bench_modules()
    assert modules - set(GROUP_OF) == set(), "a benchmark without a smoke test"
    assert set(GROUP_OF) - modules == set(), "a smoke test for a benchmark that is gone"
    # ... and every grouped benchmark's report is checked by a test below.
    source = Path(__file__).read_text("utf-8")
    assert {m for m in GROUP_OF if f'smoke("{m}")' not in source} == set()


def test_a_failing_benchmark_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    report_file = tmp_path / "report.json"
    runs = {"bench.models": ["--no-such-flag"], "bench.startup": ["--help"]}
    done = subprocess.run(
        [sys.executable, "-m", "bench.smoke", json.dumps(runs), "--report", str(report_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    report = json.loads(report_file.read_text("utf-8"))
    assert report["bench.models"]["exit"] == 2  # argparse's usage error
    assert report["bench.startup"]["exit"] == 0 and "usage:" in report["bench.startup"]["stdout"]


@_group("bench.ingest")
def test_ingest_smoke(smoke: Any) -> None:
    out = smoke("bench.ingest")["stdout"]
    for stage in ("searchable", "enrich"):  # the timing wrapper saw the encoder run in both stages
        busy = re.search(rf"\(a\) pixseek, {stage}: [\d.]+ img/s, model busy (\d+)%", out)
        assert busy and int(busy.group(1)) > 0, out
    assert "(b) open_clip README loop" in out and "(c1) model only at batch 1" in out


@_group("bench.ingest.precision")
def test_ingest_precision_smoke(smoke: Any) -> None:
    out = smoke("bench.ingest.precision")["stdout"]
    for variant in ("fp32", "bf16_weights", "bf16_autocast", "fp32_channels_last"):
        assert re.search(rf"^{variant} +[\d.]+ img/s", out, re.M), out


@_group("bench.search")
def test_search_smoke(smoke: Any) -> None:
    out = smoke("bench.search")["stdout"]
    assert "2,000 IDMap2,Flat" in out and "recall@10 1.000" in out  # exact index: exact answers
    assert re.search(r"HTTP +2,000: 1 client p50 [\d.]+ ms", out), out  # a real `pixseek serve` answered


@_group("bench.backup")
def test_backup_smoke(smoke: Any) -> None:
    result = smoke("bench.backup")["result"]
    assert result["images"] == 50 and result["restore_seconds"] is not None, result
    parts = {p["part"]: p for p in result["parts"]}
    assert parts["patch store"]["files"] == 50 and parts["catalog (SQLite online backup)"]["files"] == 1


@_group("bench.toolbox")
def test_toolbox_smoke(smoke: Any) -> None:
    result = smoke("bench.toolbox")["result"]
    assert result["export"]["rows"] == 100 and result["export"]["bytes_per_image"] > 2048, result
    assert result["import"]["rows"] == 6 and result["client"]["calls"] == 20, result
    hooks = result["webhooks"]
    assert hooks["delivered"] == 10 and hooks["in_order_once"] and hooks["repeated_after_restart"] == 0, hooks


@_group("bench.soak")
def test_soak_smoke(smoke: Any) -> None:
    result = smoke("bench.soak")["result"]
    assert result["requests"] > 0 and result["failed"] == 0, result
    assert result["generation_swaps"] >= 1 and result["jobs_done"].get("ingest", 0) >= 1, result
    assert result["rss_mib_start"] > 0 and result["rss_mib_end"] > 0


@_group("bench.duplicates")
def test_duplicates_smoke(smoke: Any) -> None:
    report = json.loads(smoke("bench.duplicates")["stdout"])
    assert report["photos"] == {"tuning": 2, "held_out": 2} and report["images"]["held_out"] == 42
    assert set(report["pixseek"]) == set(report["phash"]) and "all edits" in report["pixseek"]
    assert {"crop_corner", "crop_side", "rot90", "rot270", "flip", "exact"} <= set(report["pixseek"])
    # The placements inside larger pictures (issue 26) are scored beside the edits.
    placements = {"in_margin", "letterboxed", "in_screenshot", "on_background", "in_collage"}
    assert placements <= set(report["pixseek"]), report["pixseek"]
    assert set(report["tuned"]) == {"pixseek", "phash_threshold"}


@_group("bench.duplicates.scale")
def test_duplicates_scale_smoke(smoke: Any) -> None:
    report = json.loads(smoke("bench.duplicates.scale")["stdout"])
    assert report["images"] == 3000 and report["exact_limit"] < report["images"]  # the approximate path
    # The planted copies are within 3 bits, which multi-index hashing finds for sure.
    assert report["exactly_the_planted"] and report["planted_found"] == report["planted_copies"]


@_group("bench.regions.localisation")
def test_regions_localisation_smoke(smoke: Any) -> None:
    report = json.loads(smoke("bench.regions.localisation")["stdout"])
    assert report["model"] == "pixseek-tiny"
    assert set(report["results"]) == set(PATCH_MODES)
    assert all(r["pairs"] == 3 for r in report["results"].values())


@_group("bench.regions.region_query")
def test_regions_region_query_smoke(smoke: Any) -> None:
    out = smoke("bench.regions.region_query")["stdout"]
    report = json.loads(out[: out.index("\nwritten to ")])
    assert (report["model"], report["queries"], report["images"]) == ("pixseek-tiny", 2, 6)
    methods = report["results"]
    assert {name.split(" (")[0] for name in methods} == {
        "clearclip regions cls_weight=0.0",
        "clearclip regions cls_weight=0.5",
        "clearclip semantic",
    }
    for name, figures in methods.items():
        assert figures["ms_p50"] > 0 and 0 <= figures["r_precision"] <= 1, name
        assert ("agreement_with_crop_topk" in figures) == ("(a) patches" in name), name


@_group("bench.regions.coverage")
def test_regions_coverage_smoke(smoke: Any) -> None:
    out = smoke("bench.regions.coverage")["stdout"]
    report = json.loads(out[: out.index("\nwritten to ")])
    results = report["results"]["clearclip"]
    settings = {"centre", "tiles t1", "full t1", "tiles t2", "full t2"}
    assert report["model"] == "pixseek-tiny" and report["scenes"] == 18
    assert set(results["per_image"]) == settings
    # Every setting is scored for edge and centre things of both sizes.
    assert len(results["accuracy"]) == len(settings) * 4
    centre, tiles = results["per_image"]["centre"], results["per_image"]["tiles t1"]
    assert centre["cells_by_aspect"] == {"4:3": 16, "16:9": 16, "3:1": 16}  # the tiny model's 4x4 crop
    assert tiles["cells_by_aspect"]["3:1"] > tiles["cells_by_aspect"]["4:3"] > 16


@_group("bench.regions.patch_index")
def test_regions_patch_index_smoke(smoke: Any) -> None:
    report = json.loads(smoke("bench.regions.patch_index")["stdout"])
    assert report["index_type"].startswith("IVF") and report["patches"] == 300 * 16
    assert 0.0 <= report["region_search_top1_is_exact"] <= 1.0 and len(report["sweep"]) == 1


@pytest.mark.services
@_group("bench.distributed.run")
def test_distributed_smoke(smoke: Any) -> None:
    """Real workers on Redis and PostgreSQL, tiny: one worker, eight images."""
    if not (postgres_available() and redis_available()):
        service_missing("bench.distributed needs PostgreSQL and Redis on 127.0.0.1")
    out = smoke("bench.distributed.run")["stdout"]
    assert re.search(r"^\| 1 worker\(s\), Redis \+ PostgreSQL \| 8 \|", out, re.M), out
    assert len(re.findall(r"^\| embedded \(SQLite, in-process\) \| 8 \|", out, re.M)) == 2, out


@_group("bench.startup")
def test_startup_smoke(smoke: Any) -> None:
    out = smoke("bench.startup")["stdout"]
    for command in ("--help", "--version"):
        assert re.search(rf"^pixseek {re.escape(command)}[^\n]* +wall +[\d.]+ s", out, re.M), out


@_group("bench.ingest.costs")
def test_ingest_costs_smoke(smoke: Any) -> None:
    run = smoke("bench.ingest.costs")
    out, report = run["stdout"], run["result"]
    for part in ("searchable: decode (draft)", "enrich: tiles", "enrich: thumbnail", "enrich: signature"):
        assert report["core_ms"][part] > 0, out
    assert set(report["reachable_fraction_of_bound"]) == {"searchable", "enrich"}
    assert all(0 < f < 1 for f in report["reachable_fraction_of_bound"].values())


@_group("bench.ingest.runtimes")
def test_runtimes_smoke(smoke: Any) -> None:
    run = smoke("bench.ingest.runtimes")
    out, report = run["stdout"], run["result"]
    assert "| onnxruntime fp32 |" in out and "| onnxruntime int8 |" in out, out
    # The exported graph computes what torch computes: the fp32 export agrees to rounding.
    assert report["runtimes"]["onnxruntime fp32"]["cls_cosine_min"] >= 0.9999, report


@_group("bench.ingest.end_to_end")
def test_end_to_end_smoke(smoke: Any) -> None:
    run = smoke("bench.ingest.end_to_end")
    out, report = run["stdout"], run["result"]
    # pixseek indexes every picture from the checkpoint file, started as a user would, and
    # says which runtime embedded them.
    assert [r["indexed"] for r in report["runs"].values()] == [6], report
    assert report["runs"]["pixseek"]["runtime"].split()[0] in {"torch", "openvino"}, report
    assert "| pixseek |" in out and "clip-retrieval: not installed" in out, out


@_group("bench.serve_start")
def test_serve_start_smoke(smoke: Any) -> None:
    run = smoke("bench.serve_start")
    assert "| preload |" in run["stdout"], run["stdout"]
    times = run["result"]["median"]["preload"]
    assert times["health_s"] <= times["ready_s"] <= times["first_answer_s"], times


@_group("bench.search_filters.run")
def test_search_filters_smoke(smoke: Any) -> None:
    # The run itself asserts that SearchService.search returns what its production path returns.
    run = smoke("bench.search_filters.run")
    out, result = run["stdout"], run["result"]
    assert "| 50.0% | 10,000 | above |" in out and "| region | 10.0% |" in out
    assert [row["below_exact_max"] for row in result["random"]] == [True, False, False, False]
    assert all(row["production"]["recall"] >= RECALL_TARGET for row in result["random"])
    assert all(row["now"]["recall_min"] >= RECALL_TARGET for row in result["index_only"])


@_group("bench.train_tiny")
def test_train_tiny_smoke(smoke: Any) -> None:
    smoke("bench.train_tiny")


@_group("bench.train_tiny.figures")
def test_train_tiny_figures_smoke(smoke: Any) -> None:
    out = smoke("bench.train_tiny.figures")["stdout"]
    assert "clearclip" in out and "text r@1" in out and "similar:" in out


@_group("bench.train_tiny.similar")
def test_train_tiny_similar_smoke(smoke: Any) -> None:
    run = smoke("bench.train_tiny.similar")
    out, report = run["stdout"], run["result"]
    default = f"| held-out | {DuplicateSettings().similar_layout:.2f} |"  # always reported
    assert "| tuning | off (CLS alone) |" in out and default in out
    assert report["chosen"] in (0.7, 0.8)
    assert report["tuning"]["retakes"] == report["held_out"]["retakes"] == 2
    assert all(0.0 <= r["precision"] <= 1.0 for r in report["tuning"]["sweep"] + report["held_out"]["runs"])


@_group("bench.video")
def test_video_smoke(smoke: Any) -> None:
    run = smoke("bench.video")
    out, report = run["stdout"], run["result"]
    assert "| pieces |" in out and "| 1fps |" in out and "slideshow cuts:" in out
    assert set(report["ways"]) == {"pieces", "1fps"}
    for way in report["ways"].values():
        assert 0.0 <= way["recall"] <= 1.0 and way["passes_per_minute"] > 0
    assert 0.0 <= report["slideshow_cuts"]["precision"] <= 1.0


@_group("bench.tags")
def test_tags_smoke(smoke: Any) -> None:
    run = smoke("bench.tags")
    out, report = run["stdout"], run["result"]
    assert "| balanced | softmax_fixed | 0.070 |" in out and "| skewed | cosine |" in out
    for catalog in ("balanced", "skewed"):
        assert set(report[catalog]) >= {"cosine", "catalog_z", "softmax", "softmax_fixed"}
        assert all(0.0 <= r["f1"] <= 1.0 for r in report[catalog].values() if isinstance(r, dict))


@_group("bench.ocr")
def test_ocr_smoke(smoke: Any) -> None:
    run = smoke("bench.ocr")
    out, report = run["stdout"], run["result"]
    assert "| reader | tuned | photos P | photos R |" in out and "| rapidocr v6 |" in out
    # The engines are real even in a smoke run: the few pictures are read (bars under the
    # figures of the full run, docs/benchmarks.md); Tesseract's page mode finds little on photos.
    rapid, tesseract = report["runs"]["rapidocr v6"], report["runs"]["tesseract psm3"]
    assert rapid["photos"]["recall"] >= 0.75 and rapid["documents"]["recall"] >= 0.85
    assert tesseract["documents"]["recall"] >= 0.85
    assert report["runs"]["onnxtr"] == {"skipped": "models are downloaded at first use; no wheel ships them"}


@_group("bench.raw")
def test_raw_smoke(smoke: Any) -> None:
    run = smoke("bench.raw")
    rows = run["result"]["rows"]
    assert "| file | decode | MB | picture | ms | / JPEG twin |" in run["stdout"]
    assert [r["file"] for r in rows].count("dng, no preview") == 3 and all(r["ms"] > 0 for r in rows)


@_group("bench.models")
def test_models_smoke(smoke: Any) -> None:
    run = smoke("bench.models")
    rows = run["result"]["rows"]
    assert [row["model"] for row in rows] == ["pixseek-tiny"] * 2
    assert all(row["images_per_s"] > 0 and row["text_ms"] > 0 for row in rows)
    assert rows[0]["images_vs_base"] == 1.0
    assert re.search(r"^pixseek-tiny +[\d.]+M +64 ", run["stdout"], re.M)


@_group("bench.thumbnails.run")
def test_thumbnails_smoke(smoke: Any) -> None:
    out = smoke("bench.thumbnails.run")["stdout"]
    report = json.loads(out[: out.index("\nwritten to ")])
    assert report["images"] == 3
    assert report["thumbs_256_ms_per_image"] > 0 and report["ratio_256_768"] > 0


@_group("bench.curate")
def test_curate_smoke(smoke: Any) -> None:
    out = smoke("bench.curate")["stdout"]
    assert re.search(r"N=20: diverse [\d.]+, kcenter_greedy [\d.]+, random [\d.]+, kmeans_medoids", out), out
    assert "leaked_planted_pairs 0, leaked_linked_pairs 0" in out
    assert re.search(r"split +3,000 images", out), out
    assert re.search(r"map tsne +60 images .* 10-NN kept [\d.]+", out), out
