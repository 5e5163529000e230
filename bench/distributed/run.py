"""Ingest throughput: embedded mode vs 1 and 2 `pixseek worker` processes (Redis + PostgreSQL).

    python -m bench.distributed.run --images 256 --model ViT-B-32

Each mode ingests the same generated folder into a fresh database and data dir. Throughput
is images / (job finished - job created) from the job's own SQL timestamps, so process and
model start-up are excluded everywhere: the embedded run loads the model before the job
starts, workers load theirs before they report ready. Embedded mode runs first and last;
ratios are against the mean of its two runs. Random weights (`pretrained none`)
cost exactly what trained ones do. Results go to bench/out/distributed.json.

`--smoke`: 8 images, the tiny model and one real worker (Redis and PostgreSQL still
needed), to check that it still runs; nothing is written under bench/out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import redis

from bench.common import OUT, TINY_MODEL, add_smoke_flag, synthetic_photos, without_pixseek_settings
from pixseek.core.db import migrate, session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.jobs import job_progress
from pixseek.ingest import dispatch
from pixseek.ingest.run import run_ingest
from pixseek.model.encoder import get_encoder

REPO_ROOT = Path(__file__).resolve().parents[2]

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def job_seconds(settings: Settings, job_id: str) -> tuple[float, int]:
    with session_scope(settings) as session:
        progress = job_progress(session, job_id)
    assert progress.status == "done", progress
    assert progress.created_at is not None and progress.finished_at is not None
    return (progress.finished_at - progress.created_at).total_seconds(), progress.indexed


def base_env(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    env = without_pixseek_settings(args.smoke)
    env.update(
        {
            "PIXSEEK_MODEL": args.model,
            "PIXSEEK_PRETRAINED": "none",
            "PIXSEEK_DEVICE": args.device,
            "PIXSEEK_BATCH_SIZE": str(args.batch_size),
            "PIXSEEK_TASK_BATCH_SIZE": str(args.task_batch_size),
            "PIXSEEK_DATA_DIR": str(data_dir),
        }
    )
    return env


def settings_from(env: dict[str, str]) -> Settings:
    values = {k[len("PIXSEEK_") :].lower(): v for k, v in env.items() if k.startswith("PIXSEEK_")}
    return Settings(**values)  # type: ignore[arg-type]


def run_embedded(args: argparse.Namespace, folder: Path, work: Path, name: str) -> dict[str, float]:
    env = base_env(args, work / name)
    settings = settings_from(env)
    get_encoder(settings)  # model load is not part of the job
    job_id = run_ingest(settings, str(folder))
    seconds, indexed = job_seconds(settings, job_id)
    return {"workers": 0, "seconds": seconds, "images": indexed, "images_per_s": indexed / seconds}


def run_distributed(args: argparse.Namespace, folder: Path, work: Path, n_workers: int) -> dict[str, float]:
    name = f"pixseek_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = base_env(args, work / f"workers{n_workers}")
    cores = os.cpu_count() or 1
    env.update(
        {
            "PIXSEEK_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
            "PIXSEEK_BROKER_URL": args.broker,
            "PIXSEEK_QUEUE": f"pixseek-bench-{uuid.uuid4().hex[:8]}",
            # The cores are shared between the workers rather than oversubscribed.
            "PIXSEEK_TORCH_THREADS": str(max(1, cores // n_workers)),
            "PIXSEEK_DECODE_WORKERS": str(max(1, cores // n_workers)),
        }
    )
    settings = settings_from(env)
    migrate(settings)
    logs = [open(work / f"worker{n_workers}-{i}.log", "wb") for i in range(n_workers)]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pixseek", "worker", "--pool", "solo", "--hostname", f"bench{i}-{name}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for i, log in enumerate(logs)
    ]
    try:
        for i in range(n_workers):
            path = work / f"worker{n_workers}-{i}.log"
            while " ready." not in path.read_text(errors="replace"):
                if procs[i].poll() is not None:
                    raise RuntimeError(path.read_text())
                time.sleep(0.5)
        plan = dispatch.start_job(settings, str(folder))
        dispatch.wait_for_job(settings, plan.job_id, poll_seconds=0.25)
        seconds, indexed = job_seconds(settings, plan.job_id)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        for log in logs:
            log.close()
        from pixseek.core.db import dispose_engines

        dispose_engines()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        queue = env["PIXSEEK_QUEUE"]
        redis.Redis.from_url(args.broker).delete(
            queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
        )
    return {"workers": n_workers, "seconds": seconds, "images": indexed, "images_per_s": indexed / seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--task-batch-size", type=int, default=32)
    parser.add_argument("--workers", default="1,2", help="Worker counts to measure, comma-separated.")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.images, args.model, args.workers = 8, TINY_MODEL, "1"
        args.batch_size = args.task_batch_size = 4

    with tempfile.TemporaryDirectory(prefix="pixseek-bench-") as tmp:
        work = Path(tmp)
        folder = work / "bucket"
        synthetic_photos(folder, args.images)
        results = [run_embedded(args, folder, work, "embedded-first")]
        for n in (int(x) for x in args.workers.split(",")):
            results.append(run_distributed(args, folder, work, n))
        # Embedded again at the end: the spread of the two runs shows the machine's noise.
        results.append(run_embedded(args, folder, work, "embedded-last"))
    embedded = [r["images_per_s"] for r in results if r["workers"] == 0]
    base = sum(embedded) / len(embedded)
    report = {
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "model": f"{args.model} (random weights)",
        "device": args.device,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "images": args.images,
        "results": [{**r, "vs_embedded": r["images_per_s"] / base} for r in results],
    }
    if not args.smoke:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "distributed.json").write_text(json.dumps(report, indent=2))
    lines = ["| mode | images | seconds | images/s | vs embedded (mean) |", "|---|---|---|---|---|"]
    for r in report["results"]:  # type: ignore[union-attr]
        n = r["workers"]
        mode = "embedded (SQLite, in-process)" if n == 0 else f"{n} worker(s), Redis + PostgreSQL"
        lines.append(
            f"| {mode} | {r['images']} | {r['seconds']:.1f} | {r['images_per_s']:.1f} "
            f"| {r['vs_embedded']:.2f}x |"
        )
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
