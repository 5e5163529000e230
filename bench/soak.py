"""`python -m bench.soak`: `pixseek serve` under load while ingests publish generations and detections run.

One `pixseek serve` (embedded mode, SQLite) over a catalog of generated photos. For the
whole run:

- **8 search clients** at full speed, each on its own keep-alive connection: text queries
  (semantic, 1 in 5 hybrid) drawn from a vocabulary of two-word phrases;
- **ingests**: every cycle a few new photos land in the bucket and `POST /v1/jobs` ingests it,
  so each cycle publishes a new index generation the server swaps in;
- **a duplicate detection** (`POST /v1/duplicates/detect`) every third cycle.

Reported: requests, throughput, p50/p99/max latency, every non-200 answer (there must be
none: a 5xx, a 429, a dropped connection all count as failed), the generation swaps seen
and the queries answered within a second of each, and the server's RSS (VmRSS of the
process) once warm and at the end, sampled every 30 s between. The API's rate limit is
lifted (8 clients at full speed from one address would meet it by design).

`--smoke`: the tiny model, 2 clients, 4 s. The real run: ViT-B-32 with random weights (what
encoding a query costs), `--minutes 30`, under `flock /work/bench.lock`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    TINY_MODEL,
    add_smoke_flag,
    free_port,
    machine,
    output_dir,
    percentiles,
    say,
    synthetic_photos,
    wait_until_answers,
    without_pixseek_settings,
    write_json,
)

ROOT = Path(__file__).resolve().parents[1]
WORDS = [
    *("red", "blue", "green", "yellow", "purple", "orange", "dark", "bright", "striped", "dotted"),
    *("square", "round", "small", "large", "sunset", "beach", "forest", "city", "street", "dog"),
    *("cat", "car", "tree", "house", "mountain", "river", "boat", "sky", "snow"),
]
RSS_EVERY_S = 30.0
REQUEST_TIMEOUT_S = 60.0


def rss_mib(pid: int) -> float:
    """Resident memory of a process (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Answer:
    at: float  # seconds since the load started
    ms: float
    status: int  # 0: no answer (connection refused, reset or timed out)


@dataclass
class Load:
    port: int
    stop: threading.Event = field(default_factory=threading.Event)
    answers: list[Answer] = field(default_factory=list)
    swaps: list[tuple[float, int]] = field(default_factory=list)  # (time, generation)
    rss: list[tuple[float, float]] = field(default_factory=list)  # (time, MiB)
    jobs: dict[str, int] = field(default_factory=dict)  # kind -> jobs done
    job_failures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def now(self) -> float:
        return time.perf_counter() - self.started


def _call(conn: http.client.HTTPConnection, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn.request(
        method,
        path,
        body=json.dumps(body) if body is not None else None,
        headers={"content-type": "application/json"},
    )
    response = conn.getresponse()
    payload = response.read()
    return response.status, json.loads(payload) if payload else None


def search_client(load: Load, seed: int) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", load.port, timeout=REQUEST_TIMEOUT_S)
    while not load.stop.is_set():
        text = f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
        if rng.random() < 0.2:
            path, body = "/v1/search", {"parts": [{"text": text}], "mode": "hybrid", "k": 10}
        else:
            path, body = "/v1/search/text", {"text": text, "k": 10}
        at = load.now()
        try:
            status, _ = _call(conn, "POST", path, body)
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", load.port, timeout=REQUEST_TIMEOUT_S)
        load.answers.append(Answer(at, (load.now() - at) * 1000, status))
    conn.close()


def _wait_job(conn: http.client.HTTPConnection, job_id: str, load: Load) -> str:
    while True:
        status, job = _call(conn, "GET", f"/v1/jobs/{job_id}")
        if status == 200 and job["status"] in ("done", "failed", "cancelled"):
            return str(job["status"])
        if load.stop.wait(0.5):
            return "stopped"


def writer(load: Load, bucket: Path, per_cycle: int, pid: int, index_dir: Path) -> None:
    """Ingest new photos every cycle (a generation each) and a detection every third cycle."""
    conn = http.client.HTTPConnection("127.0.0.1", load.port, timeout=REQUEST_TIMEOUT_S)
    cycle = 0
    while not load.stop.is_set():
        cycle += 1
        synthetic_photos(bucket / f"cycle{cycle:04d}", per_cycle, size=(320, 240), seed=1000 + cycle)
        kinds = [("ingest", "/v1/jobs", {"path": str(bucket)})]
        if cycle % 3 == 0:
            kinds.append(("duplicates", "/v1/duplicates/detect", {}))
        for kind, path, body in kinds:
            status, job = _call(conn, "POST", path, body)
            outcome = _wait_job(conn, job["job_id"], load) if status == 202 else f"HTTP {status}"
            if outcome == "done":
                load.jobs[kind] = load.jobs.get(kind, 0) + 1
            elif outcome != "stopped":
                load.job_failures.append(f"{kind}: {outcome} {job}")
    conn.close()


def watcher(load: Load, pid: int, index_dir: Path) -> None:
    """Generation swaps (current.json) as they happen, and the server's RSS every RSS_EVERY_S."""
    seen = None
    next_rss = 0.0
    while not load.stop.wait(0.1):
        try:
            generation = json.loads((index_dir / "current.json").read_text())["generation"]
        except (OSError, ValueError):
            generation = None
        if generation != seen and generation is not None:
            load.swaps.append((load.now(), int(generation)))
            seen = generation
        if load.now() >= next_rss:
            load.rss.append((load.now(), rss_mib(pid)))
            next_rss += RSS_EVERY_S


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the run (default 30)")
    parser.add_argument("--clients", type=int, default=8, help="search clients at full speed (default 8)")
    parser.add_argument(
        "--model", default="ViT-B-32", help="open_clip model, random weights (default ViT-B-32)"
    )
    parser.add_argument("--per-cycle", type=int, default=8, help="new photos per ingest (default 8)")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    seconds = 4.0 if args.smoke else args.minutes * 60
    clients = 2 if args.smoke else args.clients
    model = TINY_MODEL if args.smoke else args.model
    per_cycle = 2 if args.smoke else args.per_cycle
    with tempfile.TemporaryDirectory(prefix="pixseek-bench-soak-") as tmp, output_dir(args.smoke) as out:
        data, bucket = Path(tmp) / "data", Path(tmp) / "photos"
        env = without_pixseek_settings(args.smoke)
        env.update(
            {
                "PIXSEEK_DATA_DIR": str(data),
                "PIXSEEK_MODEL": model,
                "PIXSEEK_PRETRAINED": "none",
                "PIXSEEK_DEVICE": "cpu",
                "PIXSEEK_INGEST_ROOTS": json.dumps([str(bucket)]),
                "PIXSEEK_RATE_LIMIT_PER_SECOND": "1000000",
                "PIXSEEK_RATE_LIMIT_BURST": "1000000",
            }
        )
        synthetic_photos(bucket / "cycle0000", 4 if args.smoke else 64, size=(320, 240))
        subprocess.run(
            [sys.executable, "-m", "pixseek", "ingest", str(bucket), "--json"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        port = free_port()
        log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115 (closed below)
        server = subprocess.Popen(
            [sys.executable, "-m", "pixseek", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_answers(port, "/v1/ready", server, time.perf_counter(), timeout=600)
            load = Load(port)
            index_dir = data / "index"
            threads = [threading.Thread(target=search_client, args=(load, i)) for i in range(clients)]
            threads.append(
                threading.Thread(target=writer, args=(load, bucket, per_cycle, server.pid, index_dir))
            )
            threads.append(threading.Thread(target=watcher, args=(load, server.pid, index_dir)))
            for thread in threads:
                thread.start()
            load.stop.wait(seconds)
            load.stop.set()
            for thread in threads:
                thread.join()
            load.rss.append((load.now(), rss_mib(server.pid)))
        finally:
            server.terminate()
            server.wait(timeout=120)
            log.close()
    return report(load, args, model, clients, seconds, out)


def report(
    load: Load, args: argparse.Namespace, model: str, clients: int, seconds: float, out: Path
) -> dict[str, Any]:
    ok = [a.ms for a in load.answers if a.status == 200]
    failed = [a for a in load.answers if a.status != 200]
    p50, p99 = percentiles(ok) if ok else (0.0, 0.0)
    swaps = load.swaps[1:]  # the first is the generation served at start
    near_swaps = [a for a in load.answers if any(abs(a.at - t) <= 1.0 for t, _ in swaps)]
    result = {
        "machine": machine(),
        "model": model,
        "clients": clients,
        "seconds": round(seconds),
        "requests": len(load.answers),
        "per_second": round(len(load.answers) / seconds, 1),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "max_ms": round(max(ok), 1) if ok else 0.0,
        "failed": len(failed),
        "failed_by_status": {
            str(s): sum(1 for a in failed if a.status == s) for s in {a.status for a in failed}
        },
        "server_errors": sum(1 for a in failed if a.status >= 500),
        "generation_swaps": len(swaps),
        "queries_within_1s_of_a_swap": len(near_swaps),
        "failed_within_1s_of_a_swap": sum(1 for a in near_swaps if a.status != 200),
        "jobs_done": load.jobs,
        "job_failures": load.job_failures,
        "rss_mib_start": round(load.rss[0][1], 1),
        "rss_mib_end": round(load.rss[-1][1], 1),
        "rss_mib_max": round(max(m for _, m in load.rss), 1),
        "rss_mib_series": [(round(t), round(m, 1)) for t, m in load.rss],
        "command": "python -m bench.soak" + (" --smoke" if args.smoke else f" --minutes {args.minutes:g}"),
    }
    say(
        f"{result['machine']['cpu']}, {result['machine']['cores']} cores; {model} (random weights), "
        f"{clients} clients, {seconds:.0f} s\n"
        "| requests | per s | p50 ms | p99 ms | max ms | failed | 5xx | swaps | failed at a swap | "
        "ingests / detections | RSS start → end (max) MiB |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n"
        f"| {result['requests']} | {result['per_second']} | {result['p50_ms']} | {result['p99_ms']} | "
        f"{result['max_ms']} | {result['failed']} | {result['server_errors']} | "
        f"{result['generation_swaps']} | {result['failed_within_1s_of_a_swap']} | "
        f"{load.jobs.get('ingest', 0)} / {load.jobs.get('duplicates', 0)} | "
        f"{result['rss_mib_start']} → {result['rss_mib_end']} ({result['rss_mib_max']}) |\n"
    )
    write_json("soak.json", result, out)
    return result


if __name__ == "__main__":
    main()
