"""Every benchmark still runs: each one's `--smoke` mode, in this process (issue 15).

A smoke run takes seconds (a handful of images or vectors, the tiny model, a temp dir), so
a refactor that breaks a benchmark fails here rather than on the day someone measures.
Its figures mean nothing; the checks are on the report's shape, and on bench/out being
left alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.common import OUT
from pixseek.index.vectors.factory import RECALL_TARGET

ROOT = Path(__file__).resolve().parents[1]

# Benchmarks with a smoke test below, by module.
SMOKED = {
    "bench.ingest",
    "bench.ingest.precision",
    "bench.ingest.runtimes",
    "bench.ingest.end_to_end",
    "bench.search",
    "bench.duplicates",
    "bench.duplicates.scale",
    "bench.regions.localisation",
    "bench.regions.patch_index",
    "bench.regions.region_query",
    "bench.regions.coverage",
    "bench.distributed.run",
    "bench.startup",
    "bench.serve_start",
    "bench.models",
    "bench.search_filters.run",
    "bench.train_tiny",
    "bench.train_tiny.figures",
    "bench.train_tiny.similar",
    "bench.tags",
    "bench.ocr",
    "bench.thumbnails.run",
}
# Benchmarks whose owners are rewriting them now; each gets its smoke test here with its
# `--smoke` mode (the guard below fails once the mode exists and the test does not).
WITHOUT_SMOKE_YET: dict[str, str] = {}


def _bench_modules() -> set[str]:
    """Every module under bench/ that a user runs (`python -m ...`): those defining main()."""
    found = set()
    for path in (ROOT / "bench").rglob("*.py"):
        if "out" in path.relative_to(ROOT / "bench").parts or "def main(" not in path.read_text("utf-8"):
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found.add(name.removesuffix(".__main__"))
    return found


def test_every_benchmark_has_a_smoke_test() -> None:
    modules = _bench_modules()
    assert modules - SMOKED - set(WITHOUT_SMOKE_YET) == set(), "a benchmark without a smoke test"
    assert SMOKED - modules == set(), "a smoke test for a benchmark that is gone"
    for name in WITHOUT_SMOKE_YET.keys() & modules:
        source = (ROOT / Path(*name.split("."))).with_suffix(".py").read_text("utf-8")
        assert "--smoke" not in source and "add_smoke_flag" not in source, f"{name} has --smoke: test it here"


@pytest.fixture(autouse=True)
def bench_out_untouched() -> Iterator[None]:
    """A smoke run writes only to temp dirs: bench/out (the real figures) must not change."""

    def listing() -> dict[str, int]:
        return {str(p): p.stat().st_mtime_ns for p in OUT.rglob("*")} if OUT.exists() else {}

    before = listing()
    yield
    assert listing() == before


def test_ingest_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.ingest.__main__ import main

    # torch: OpenVINO's thread pools stay out of the suite's process (tests/ingest/test_openvino_runtime.py).
    main(["--smoke", "--runtime", "torch"])
    out = capsys.readouterr().out
    busy = re.search(r"\(a\) pixseek ingest: [\d.]+ img/s, model busy (\d+)%", out)
    assert busy and int(busy.group(1)) > 0, out  # the timing wrapper saw the encoder run
    assert "(b) open_clip README loop" in out and "(c1) model only at batch 1" in out


def test_ingest_precision_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.ingest.precision import main

    main(["--smoke"])
    out = capsys.readouterr().out
    for variant in ("fp32", "bf16_weights", "bf16_autocast", "fp32_channels_last"):
        assert re.search(rf"^{variant} +[\d.]+ img/s", out, re.M), out


def test_search_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.search.__main__ import main

    main(["--smoke"])
    out = capsys.readouterr().out
    assert "2,000 IDMap2,Flat" in out and "recall@10 1.000" in out  # exact index: exact answers
    assert re.search(r"HTTP +2,000: 1 client p50 [\d.]+ ms", out), out  # a real `pixseek serve` answered


def test_duplicates_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.duplicates.__main__ import main

    assert main(["--smoke", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["photos"] == {"tuning": 2, "held_out": 2} and report["images"]["held_out"] == 32
    assert set(report["pixseek"]) == set(report["phash"]) and "all edits" in report["pixseek"]
    assert {"crop_corner", "crop_side", "rot90", "rot270", "flip", "exact"} <= set(report["pixseek"])
    assert set(report["tuned"]) == {"pixseek", "phash_threshold"}


def test_duplicates_scale_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.duplicates.scale import main

    assert main(["--smoke"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 3000 and report["exact_limit"] < report["images"]  # the approximate path
    # The planted copies are within 3 bits, which multi-index hashing finds for sure.
    assert report["exactly_the_planted"] and report["planted_found"] == report["planted_copies"]


def test_regions_localisation_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.regions.localisation import main
    from pixseek.model.patch_tokens import PATCH_MODES

    assert main(["--smoke"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "pixseek-tiny"
    assert set(report["results"]) == set(PATCH_MODES)
    assert all(r["pairs"] == 3 for r in report["results"].values())


def test_regions_region_query_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.regions.region_query import main

    assert main(["--smoke", "--patch-modes", "clearclip"]) == 0
    out = capsys.readouterr().out
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


def test_regions_coverage_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.regions.coverage import SETTINGS, main

    assert main(["--smoke"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out[: out.index("\nwritten to ")])
    results = report["results"]["clearclip"]
    assert report["model"] == "pixseek-tiny" and report["scenes"] == 18
    assert set(results["per_image"]) == set(SETTINGS)
    # Every setting is scored for edge and centre things of both sizes.
    assert len(results["accuracy"]) == len(SETTINGS) * 4
    centre, tiles = results["per_image"]["centre"], results["per_image"]["tiles t1"]
    assert centre["cells_by_aspect"] == {"4:3": 16, "16:9": 16, "3:1": 16}  # the tiny model's 4x4 crop
    assert tiles["cells_by_aspect"]["3:1"] > tiles["cells_by_aspect"]["4:3"] > 16


def test_regions_patch_index_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.regions.patch_index import main

    main(["--smoke"])
    report = json.loads(capsys.readouterr().out)
    assert report["index_type"].startswith("IVF") and report["patches"] == 300 * 16
    assert 0.0 <= report["region_search_top1_is_exact"] <= 1.0 and len(report["sweep"]) == 1


@pytest.mark.services
def test_distributed_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    """Real workers on Redis and PostgreSQL, tiny: one worker, eight images."""
    from tests.distributed.services import postgres_available, redis_available
    from tests.services_needed import service_missing

    if not (postgres_available() and redis_available()):
        service_missing("bench.distributed needs PostgreSQL and Redis on 127.0.0.1")
    from bench.distributed.run import main

    main(["--smoke"])
    out = capsys.readouterr().out
    assert re.search(r"^\| 1 worker\(s\), Redis \+ PostgreSQL \| 8 \|", out, re.M), out
    assert len(re.findall(r"^\| embedded \(SQLite, in-process\) \| 8 \|", out, re.M)) == 2, out


def test_startup_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.startup import COMMANDS, main

    main(["--smoke"])
    out = capsys.readouterr().out
    for command in COMMANDS[:2]:
        assert re.search(rf"^pixseek {re.escape(' '.join(command))} +wall +[\d.]+ s", out, re.M), out


def test_runtimes_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.ingest.runtimes import main

    report = main(["--smoke"])
    out = capsys.readouterr().out
    assert "| onnxruntime fp32 |" in out and "| onnxruntime int8 |" in out, out
    # The exported graph computes what torch computes: the fp32 export agrees to rounding.
    assert report["runtimes"]["onnxruntime fp32"]["cls_cosine_min"] >= 0.9999, report


def test_end_to_end_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.ingest.end_to_end import main

    report = main(["--smoke"])
    out = capsys.readouterr().out
    # pixseek indexes every picture from the checkpoint file, started as a user would, and
    # says which runtime embedded them.
    assert [run["indexed"] for run in report["runs"].values()] == [6], report
    assert report["runs"]["pixseek"]["runtime"].split()[0] in {"torch", "openvino"}, report
    assert "| pixseek |" in out and "clip-retrieval: not installed" in out, out


def test_serve_start_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.serve_start import main

    report = main(["--smoke"])
    out = capsys.readouterr().out
    assert "| preload |" in out, out
    times = report["median"]["preload"]
    assert times["health_s"] <= times["ready_s"] <= times["first_answer_s"], times


def test_search_filters_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.search_filters import run

    # The run itself asserts that SearchService.search returns what its production path returns.
    result = run.main(["--smoke"])
    out = capsys.readouterr().out
    assert "| 50.0% | 10,000 | above |" in out and "| region | 10.0% |" in out
    assert [row["below_exact_max"] for row in result["random"]] == [True, False, False, False]
    assert all(row["production"]["recall"] >= RECALL_TARGET for row in result["random"])
    assert all(row["now"]["recall_min"] >= RECALL_TARGET for row in result["index_only"])


def test_train_tiny_smoke() -> None:
    from bench.train_tiny.__main__ import main

    assert main(["--smoke"]) == 0


def test_train_tiny_figures_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.train_tiny.figures import main

    assert main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "clearclip" in out and "text r@1" in out and "similar:" in out


def test_train_tiny_similar_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.train_tiny.similar import main
    from pixseek.core.settings import DuplicateSettings

    report = main(["--smoke"])
    out = capsys.readouterr().out
    default = f"| held-out | {DuplicateSettings().similar_layout:.2f} |"  # always reported
    assert "| tuning | off (CLS alone) |" in out and default in out
    assert report["chosen"] in (0.7, 0.8)
    assert report["tuning"]["retakes"] == report["held_out"]["retakes"] == 2
    assert all(0.0 <= r["precision"] <= 1.0 for r in report["tuning"]["sweep"] + report["held_out"]["runs"])


def test_tags_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import tags

    report = tags.main(["--smoke"])
    out = capsys.readouterr().out
    assert "| balanced | softmax_fixed | 0.070 |" in out and "| skewed | cosine |" in out
    for catalog in ("balanced", "skewed"):
        assert set(report[catalog]) >= {"cosine", "catalog_z", "softmax", "softmax_fixed"}
        assert all(0.0 <= r["f1"] <= 1.0 for r in report[catalog].values() if isinstance(r, dict))


def test_ocr_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import ocr

    report = ocr.main(["--smoke"])
    out = capsys.readouterr().out
    assert "| reader | precision | recall |" in out and "| pixseek |" in out
    # Tesseract is real even in a smoke run: the few pictures are read (bars under the
    # figures of the full run, docs/benchmarks.md).
    assert report["runs"]["pixseek"]["recall"] >= 0.85 and report["runs"]["pixseek"]["precision"] >= 0.85


def test_models_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import models

    result = models.main(["--smoke"])
    rows = result["rows"]
    assert [row["model"] for row in rows] == ["pixseek-tiny"] * 2
    assert all(row["images_per_s"] > 0 and row["text_ms"] > 0 for row in rows)
    assert rows[0]["images_vs_base"] == 1.0
    assert re.search(r"^pixseek-tiny +[\d.]+M +64 ", capsys.readouterr().out, re.M)


def test_thumbnails_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.thumbnails.run import main

    assert main(["--smoke"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out[: out.index("\nwritten to ")])
    assert report["images"] == 3
    assert report["thumbs_256_ms_per_image"] > 0 and report["ratio_256_768"] > 0
