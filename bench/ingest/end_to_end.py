"""`python -m bench.ingest.end_to_end`: pixseek against clip-retrieval, command to command.

The same folder of real-size JPEGs, the same model and the same checkpoint file (random
weights saved once with seed 0, so both load it the way an offline user loads weights), each
tool started as a user starts it, in a fresh process, wall time from start to exit (imports,
model load and, for pixseek, the index published and the first conversion of its runtime):

- **pixseek** `pixseek ingest FOLDER --json` on a fresh data dir with the default settings
  (`PIXSEEK_RUNTIME=auto`, precision auto), and once more per `--variant` (default
  `PIXSEEK_RUNTIME=torch`; e.g. `--variant "centre patches:PIXSEEK_REGION_COVERAGE=centre"`);
- **clip-retrieval** (the named baseline) `clip-retrieval inference --input_format files`
  with `--clip_model open_clip:MODEL//CHECKPOINT`, batch 32, one preprocessing worker per
  core, image embeddings only. It installs from PyPI with `setuptools<81`; give its
  command with `--clip-retrieval` (e.g. from its own virtualenv), or it is looked up on PATH
  and reported as not installed when absent.

Printed per tool: time to searchable (pixseek: its ingest job published the index; clip-retrieval:
its embeddings written, no index built yet) and to fully enriched (pixseek: its enrich job done,
whole-picture patches, thumbnails and signatures made; `PIXSEEK_SEARCHABLE_FIRST=false` does it
all before publishing), both from the command's start, and pixseek's speed-up over clip-retrieval.
`--smoke`: 6 generated JPEGs and the tiny model, one pixseek run with the defaults only
(clip-retrieval cannot load pixseek's own architectures).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    OUT,
    TINY_MODEL,
    add_smoke_flag,
    machine,
    synthetic_photos,
    without_pixseek_settings,
    write_json,
)
from bench.ingest.dataset import build, default_source

ROOT = Path(__file__).resolve().parents[2]


def save_checkpoint(model_name: str, path: Path) -> None:
    """Random weights (seed 0) as an open_clip checkpoint file both tools can load."""
    import open_clip
    import torch

    from pixseek.model.encoder import MODEL_CONFIG_DIR

    open_clip.add_model_config(MODEL_CONFIG_DIR)
    torch.manual_seed(0)
    model, _, _ = open_clip.create_model_and_transforms(model_name, pretrained=None)
    torch.save(model.state_dict(), path)


def run_pixseek(
    folder: Path,
    data_dir: Path,
    model: str,
    checkpoint: Path,
    cache: Path,
    extra: dict[str, str],
    *,
    smoke: bool = False,
) -> dict[str, Any]:
    env = without_pixseek_settings(smoke)
    env.update(
        {
            "PIXSEEK_DATA_DIR": str(data_dir),
            "PIXSEEK_MODEL": model,
            "PIXSEEK_PRETRAINED": str(checkpoint),
            "PIXSEEK_DEVICE": "cpu",
            # Converted models (OpenVINO) are kept here, like downloaded weights: made once.
            "PIXSEEK_MODEL_CACHE_DIR": str(cache),
            **extra,
        }
    )
    started_at = datetime.now(UTC)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pixseek", "-v", "ingest", str(folder), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    summary = json.loads(done.stdout)
    lines = [line for line in done.stderr.splitlines() if "ingest.embedding" in line and "runtime=" in line]
    used = lines[0].split("runtime=", 1)[1].split(" patch_mode")[0] if lines else "unknown"
    stages = _stage_times(env, started_at)
    return {
        "seconds": seconds,
        "indexed": int(summary["indexed"]),
        "runtime": used,
        # Searchable: the ingest job published its index; enriched: its enrich job is done
        # (whole-picture patches, thumbnails, signatures). Both from the command's start.
        "searchable_seconds": stages.get("ingest", seconds),
        "enriched_seconds": stages.get("enrich", stages.get("ingest", seconds)),
    }


def _stage_times(env: dict[str, str], started_at: datetime) -> dict[str, float]:
    """Seconds from `started_at` to the end of the last ingest and enrich jobs of a data dir."""
    listed = subprocess.run(
        [sys.executable, "-m", "pixseek", "jobs", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    out: dict[str, float] = {}
    for job in json.loads(listed.stdout)["jobs"]:
        if job["finished_at"] and job["kind"] not in out:
            finished = datetime.fromisoformat(job["finished_at"])
            out[job["kind"]] = (finished - started_at).total_seconds()
    return out


def _ratio(base: float | None, seconds: float) -> str:
    return f"{base / seconds:.2f}" if base else "-"


def variant(text: str) -> tuple[str, dict[str, str]]:
    """`LABEL:NAME=VALUE,NAME=VALUE` as (label, environment)."""
    label, _, assignments = text.partition(":")
    pairs = [item.split("=", 1) for item in assignments.split(",") if item]
    if not label or not pairs or any(len(pair) != 2 or not pair[0].startswith("PIXSEEK_") for pair in pairs):
        raise argparse.ArgumentTypeError(f"{text!r}: expected LABEL:PIXSEEK_NAME=VALUE[,...]")
    return label, {name: value for name, value in pairs}


def folder_of(paths: list[Path], folder: Path) -> Path:
    """A folder holding copies of `paths`."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy(path, folder / path.name)
    return folder


def run_clip_retrieval(command: str, folder: Path, out: Path, model: str, checkpoint: Path) -> dict[str, Any]:
    start = time.perf_counter()
    subprocess.run(
        [
            command,
            "inference",
            "--input_dataset",
            str(folder),
            "--output_folder",
            str(out),
            "--input_format",
            "files",
            "--clip_model",
            f"open_clip:{model}/{checkpoint}",
            "--enable_text",
            "False",
            "--enable_metadata",
            "False",
            "--batch_size",
            "32",
            "--num_prepro_workers",
            str(os.cpu_count() or 1),
        ],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    import numpy as np

    count = sum(len(np.load(p, mmap_mode="r")) for p in (out / "img_emb").glob("*.npy"))
    return {"seconds": seconds, "indexed": count, "runtime": "torch fp32"}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest.end_to_end", description=__doc__)
    parser.add_argument("--images", type=int, default=560)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument(
        "--clip-retrieval", default=None, help="the clip-retrieval command (default: on PATH)"
    )
    parser.add_argument("--source", type=Path, default=None, help="folder of source JPEGs")
    parser.add_argument("--rounds", type=int, choices=[1, 2], default=2, help="2: A B C, then C B A")
    parser.add_argument(
        "--variant",
        type=variant,
        action="append",
        help="pixseek with other settings, as LABEL:NAME=VALUE[,NAME=VALUE] (repeatable; "
        "default: 'runtime torch:PIXSEEK_RUNTIME=torch')",
    )
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    command = args.clip_retrieval or (None if args.smoke else shutil.which("clip-retrieval"))
    say = sys.stdout.write
    with tempfile.TemporaryDirectory(prefix="pixseek-bench-e2e-") as tmp:
        work = Path(tmp)
        if args.smoke:
            args.model, args.rounds = TINY_MODEL, 1
            paths = synthetic_photos(work / "images", 6)
            folder = work / "images"
        else:
            folder = OUT / "ingest-images"
            paths = build(folder, args.images, args.source or default_source())
        checkpoint = work / f"{args.model}-random.pt"
        save_checkpoint(args.model, checkpoint)
        info = machine()
        say(f"{info['cpu']}, {info['cores']} cores, load {os.getloadavg()[0]:.1f}; ")
        say(f"{len(paths)} JPEGs, {args.model} (random weights from one checkpoint file)\n")
        cache = work / "model-cache"
        # Untimed: the first use of a runtime converts the model into the cache (once per
        # model and machine, like a weights download); timed here on its own.
        if not args.smoke:  # a smoke run checks the commands, not the first conversion's time
            first = run_pixseek(
                folder_of(paths[:4], work / "first"),
                work / "data-first",
                args.model,
                checkpoint,
                cache,
                {},
            )
            say(
                f"first use (converts the image tower for {first['runtime']}): "
                f"{first['seconds']:.1f} s for 4 images\n"
            )
        variants = args.variant or [("runtime torch", {"PIXSEEK_RUNTIME": "torch"})]
        tools: dict[str, Any] = {
            "pixseek": lambda i: run_pixseek(
                folder, work / f"data-{i}", args.model, checkpoint, cache, {}, smoke=args.smoke
            )
        }
        for label, extra in [] if args.smoke else variants:
            tools[f"pixseek, {label}"] = lambda i, label=label, extra=extra: run_pixseek(
                folder, work / f"data-{label}-{i}".replace(" ", "-"), args.model, checkpoint, cache, extra
            )
        if command:
            tools["clip-retrieval"] = lambda i: run_clip_retrieval(
                command, folder, work / f"cr-{i}", args.model, checkpoint
            )
        order = list(tools)
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in order}
        for i, name in enumerate([*order, *reversed(order)] if args.rounds == 2 else order):
            samples[name].append(tools[name](i))  # A B C C B A: a load change hits all alike
        runs = {
            name: {
                **rows[0],
                "seconds": sum(r["seconds"] for r in rows) / len(rows),
                "all_seconds": [r["seconds"] for r in rows],
            }
            for name, rows in samples.items()
        }
        for name, rows in samples.items():
            for stage in ("searchable_seconds", "enriched_seconds"):
                if stage in rows[0]:
                    runs[name][stage] = sum(r[stage] for r in rows) / len(rows)
        base = runs.get("clip-retrieval", {}).get("seconds")
        say(
            "| tool | runtime | images | searchable, s | x clip-retrieval | fully enriched, s "
            "| x clip-retrieval | start to exit, s |\n|---|---|---:|---:|---:|---:|---:|---:|\n"
        )
        for name, run in runs.items():
            run["images_per_s"] = run["indexed"] / run["seconds"]
            searchable = run.get("searchable_seconds", run["seconds"])
            enriched = run.get("enriched_seconds", run["seconds"])
            say(
                f"| {name} | {run['runtime']} | {run['indexed']} | {searchable:.1f} "
                f"| {_ratio(base, searchable)} | {enriched:.1f} | {_ratio(base, enriched)} "
                f"| {run['seconds']:.1f} |\n"
            )
        report: dict[str, Any] = {"machine": info, "model": args.model, "images": len(paths), "runs": runs}
        if "clip-retrieval" in runs:
            pix = runs["pixseek"]
            report["pixseek_over_clip_retrieval"] = {
                "searchable": base / pix["searchable_seconds"],
                "enriched": base / pix["enriched_seconds"],
            }
            say(
                f"pixseek: searchable {base / pix['searchable_seconds']:.2f}x clip-retrieval (target >= 8), "
                f"fully enriched {base / pix['enriched_seconds']:.2f}x (target >= 4)\n"
            )
        else:
            say("clip-retrieval: not installed (give --clip-retrieval CMD); pixseek alone measured\n")
        say(f"written to {write_json('end_to_end.json', report, work if args.smoke else None)}\n")
        return report


if __name__ == "__main__":
    main()
