"""`python -m bench.serve_start`: from `pixseek serve` starting to its first answered text query.

A catalog of a few generated photos is ingested once; then `pixseek serve` starts twice in a
fresh interpreter each, and a client does what a load balancer and a first user do:

- **preload** (the default, `PIXSEEK_PRELOAD_MODEL=true`): poll `/v1/health`, then
  `/v1/ready` until 200 (the model and index load in the background), then one text query;
- **lazy** (the baseline: how `serve` behaved before, `PIXSEEK_PRELOAD_MODEL=false`): ready
  at once, so the first text query pays for loading the model and the index.

Reported per mode: seconds from process start to health, to ready, to the first answer, and
the first query's own latency (what the first user waits). `--smoke` uses the tiny random
model and the preload mode only; the full run ViT-B-32 with random weights (the model's
size is what loading costs).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    TINY_MODEL,
    add_smoke_flag,
    cpu_info,
    free_port,
    synthetic_photos,
    wait_until_answers,
    without_pixseek_settings,
    write_json,
)

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300.0


def _request(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> int | None:
    """The status of one request, or None while nothing listens."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        payload = json.dumps(body) if body is not None else None
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return None


def time_first_query(env: dict[str, str], preload: bool) -> dict[str, float]:
    """Seconds from `pixseek serve` starting to health, ready and the first answered query."""
    port = free_port()
    run_env = {**env, "PIXSEEK_PRELOAD_MODEL": "true" if preload else "false"}
    start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "pixseek", "serve", "--port", str(port)],
        cwd=ROOT,
        env=run_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        health = wait_until_answers(port, "/v1/health", server, start, TIMEOUT_S)
        ready = wait_until_answers(port, "/v1/ready", server, start, TIMEOUT_S)
        asked = time.perf_counter()
        status = _request(port, "POST", "/v1/search/text", {"text": "a red circle", "k": 5})
        answered = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"the first query answered {status}")
        return {
            "health_s": round(health, 3),
            "ready_s": round(ready, 3),
            "first_answer_s": round(answered - start, 3),
            "first_query_ms": round(1000 * (answered - asked), 1),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.serve_start", description=__doc__)
    parser.add_argument(
        "--model", default="ViT-B-32", help="open_clip model, random weights (default ViT-B-32)"
    )
    parser.add_argument("--runs", type=int, default=3, help="starts per mode, alternating (default 3)")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    model = TINY_MODEL if args.smoke else args.model
    runs = 1 if args.smoke else args.runs
    cpu, _ = cpu_info()
    say = sys.stdout.write
    with tempfile.TemporaryDirectory(prefix="pixseek-bench-serve-") as tmp:
        env = without_pixseek_settings(args.smoke)
        env.update(
            {
                "PIXSEEK_DATA_DIR": str(Path(tmp) / "data"),
                "PIXSEEK_MODEL": model,
                "PIXSEEK_PRETRAINED": "none",
                "PIXSEEK_DEVICE": "cpu",
            }
        )
        photos = Path(tmp) / "photos"
        synthetic_photos(photos, 4 if args.smoke else 32, size=(320, 240))
        subprocess.run(
            [sys.executable, "-m", "pixseek", "ingest", str(photos), "--json"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        say(f"{cpu}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {model}, random weights\n")
        modes = ("preload",) if args.smoke else ("preload", "lazy")  # smoke: does it start and answer
        results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        for _ in range(runs):
            for mode in modes:  # alternating: a load spike hits both
                results[mode].append(time_first_query(env, preload=mode == "preload"))
        say(
            "| mode | to health s | to ready s | to first answer s | first query ms |\n"
            "|---|---:|---:|---:|---:|\n"
        )
        medians: dict[str, dict[str, float]] = {}
        for mode, rows in results.items():
            medians[mode] = {key: sorted(row[key] for row in rows)[len(rows) // 2] for key in rows[0]}
            m = medians[mode]
            say(
                f"| {mode} | {m['health_s']:.2f} | {m['ready_s']:.2f} | {m['first_answer_s']:.2f} "
                f"| {m['first_query_ms']:.0f} |\n"
            )
        if "lazy" in medians:
            ratio = medians["lazy"]["first_query_ms"] / max(medians["preload"]["first_query_ms"], 0.1)
            say(f"first query: lazy / preload = {ratio:.1f}x (median of {runs} starts each)\n")
        report = {"cpu": cpu, "model": model, "runs": runs, "median": medians, "all": results}
        path = write_json("serve_start.json", report, folder=Path(tmp) if args.smoke else None)
        say(f"written to {path}\n")
        return report


if __name__ == "__main__":
    main()
