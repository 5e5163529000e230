"""`python -m bench.search`: search latency and recall at 10k, 100k and 1M vectors.

Per size: the index `index.factory` picks, built once and cached under bench/out/search/;
in-process single-query p50/p99 and recall@10 against exact search, on held-out queries
from the same distribution ("near") and on queries moved further off the data ("far");
exact search latency for comparison; memory per image (file, resident, mapped). Then HTTP:
a real `pixseek serve` on loopback over a catalog of the same size, text queries encoded
by ViT-B-32 (random weights) on every request, 1 and 8 concurrent clients.

`--smoke`: 2,000 vectors of the tiny model's 64 dimensions, in memory and over HTTP with a
burst of requests past the default rate limit (the server runs with the benchmark's own), in
a temp dir, to check that it still runs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from sqlalchemy import insert

from bench.common import (
    TINY_MODEL,
    add_smoke_flag,
    free_port,
    machine,
    output_dir,
    percentiles,
    say,
    wait_until_answers,
    write_json,
)
from bench.search.data import cached
from pixseek.core.db import dispose_engines, ensure_schema, session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageStatus
from pixseek.index.vectors.factory import (
    _top_k_exact,
    build_index,
    mmap_flags,
    recall_at_k,
    single_query_threads,
)
from pixseek.index.vectors.manifest import Manifest
from pixseek.index.vectors.store import IndexStore

DIM = 512
K = 10
N_QUERIES = 500
MODEL = "ViT-B-32"
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Setup:
    """What a run measures with, and the folder that caches its vectors, indexes and catalogs."""

    folder: Path
    model: str = MODEL
    dim: int = DIM
    queries: int = N_QUERIES


PRIVATE_PROBE = """
import sys, faiss, numpy as np
from pixseek.index.vectors.factory import mmap_flags, single_query_threads
import json
def anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
params = json.loads(sys.argv[2])
before = anon()
index = faiss.read_index(sys.argv[1], mmap_flags(params) if sys.argv[3] == "1" else 0)
single_query_threads()
q = np.random.default_rng(0).standard_normal((200, index.d)).astype("float32")
for i in range(200):
    index.search(q[i : i + 1], 10)
print(anon() - before)
"""


def private_bytes(path: Path, params: dict[str, Any], mmap: bool) -> int:
    """Private (anonymous) memory a fresh process holds after loading and searching the index.

    Measured in a child process: in this one, freed numpy buffers would be reused and
    hide the index's own allocation. Mapped index pages are page cache, not private.
    """
    out = subprocess.run(
        [sys.executable, "-c", PRIVATE_PROBE, str(path), json.dumps(params), "1" if mmap else "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def text_encoding(model: str, repeats: int, runtime: str, cache_dir: Path) -> dict[str, Any]:
    """In-process text tower latency at batch 1 (what every uncached query pays), and at 8."""
    from pixseek.model.encoder import Encoder

    encoder = Encoder(
        model, "none", device="cpu", precision="auto", runtime=runtime, runtime_cache_dir=cache_dir
    )
    runtime_now, precision_now = encoder.text_runtime_label.split()
    out: dict[str, Any] = {"runtime": runtime_now, "precision": precision_now}
    short_text = encoder._short_text
    # All 77 positions only on torch: the converted graphs are the trimmed one.
    for short in (True, False) if runtime == "torch" else (True,):
        encoder._short_text = short_text if short else None
        encoder.encode_texts(["warm up"])
        ms = []
        for i in range(repeats):
            t0 = time.perf_counter()
            encoder.encode_texts([f"photo {i} of a street at night"])
            ms.append((time.perf_counter() - t0) * 1000)
        p50, p99 = percentiles(ms)
        out["short_forward" if short else "full_77_tokens"] = {
            "p50_ms": round(p50, 1),
            "p99_ms": round(p99, 1),
        }
    encoder._short_text = short_text
    ms = []
    for i in range(max(1, repeats // 4)):
        t0 = time.perf_counter()
        encoder.encode_texts([f"photo {i}-{j} of a street at night" for j in range(8)])
        ms.append((time.perf_counter() - t0) * 1000)
    out["batch_8_p50_ms"] = round(percentiles(ms)[0], 1)
    return out


def queries_for(n: int, base: np.ndarray, held_out: np.ndarray) -> dict[str, np.ndarray]:
    """Held-out images of the same collection, and the same moved further off (cosine ~0.7)."""
    rng = np.random.default_rng(n + 7)
    noise = rng.standard_normal(held_out.shape).astype(np.float32)
    far = held_out + noise * np.float32(1.0 / np.sqrt(held_out.shape[1]))
    faiss.normalize_L2(far)
    return {"near": np.ascontiguousarray(held_out), "far": far}


def load_or_build(n: int, base: np.ndarray, folder: Path) -> tuple[Path, dict[str, Any]]:
    """The cached index file for size `n` and its params (built on first use)."""
    path, meta = folder / f"index-{n}.faiss", folder / f"index-{n}.json"
    if path.exists() and meta.exists():
        return path, json.loads(meta.read_text(encoding="utf-8"))
    start = time.perf_counter()
    index, params = build_index(base, np.arange(1, n + 1, dtype=np.int64))
    params["build_s"] = round(time.perf_counter() - start, 1)
    faiss.write_index(index, str(path))
    meta.write_text(json.dumps(params), encoding="utf-8")
    return path, params


def timed_search(
    index: faiss.Index, queries: np.ndarray, cpu_ms: list[float] | None = None
) -> tuple[list[float], np.ndarray]:
    """Wall milliseconds per single-query search (as the service issues them), and the ids.

    `cpu_ms`, when given, receives this thread's CPU time per query: the work itself, which
    other processes on a busy machine do not inflate the way they inflate wall time.
    """
    single_query_threads()  # as LoadedIndex.search does for one query
    ms: list[float] = []
    found = np.empty((len(queries), K), dtype=np.int64)
    for i in range(len(queries)):
        q = queries[i : i + 1]
        c0 = time.thread_time()
        t0 = time.perf_counter()
        _, ids = index.search(q, K)
        ms.append((time.perf_counter() - t0) * 1000)
        if cpu_ms is not None:
            cpu_ms.append((time.thread_time() - c0) * 1000)
        found[i] = ids[0]
    return ms, found


def inprocess(n: int, setup: Setup) -> dict[str, Any]:
    data = cached(setup.folder / f"vectors-{n}.npy", n + setup.queries, setup.dim, seed=n)
    base = data[:n]
    queries = queries_for(n, base, np.array(data[n:], dtype=np.float32))
    path, params = load_or_build(n, base, setup.folder)
    result: dict[str, Any] = {"n": n, "index": params.get("description", "IDMap2,Flat"), "params": params}
    truth = {name: _top_k_exact(base, q, K) + 1 for name, q in queries.items()}  # ids are positions + 1
    for mode in ("memory", "mmap"):
        index = faiss.read_index(str(path), mmap_flags(params) if mode == "mmap" else 0)
        if params.get("kind") == "ivf":
            faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
        timed_search(index, queries["near"][:20])  # warm-up: page in the mapped file
        for name, q in queries.items():
            cpu: list[float] = []
            ms, found = timed_search(index, q, cpu)
            p50, p99 = percentiles(ms)
            cpu50, cpu99 = percentiles(cpu)
            result[f"{mode}_{name}"] = {
                "p50_ms": round(p50, 3),
                "p99_ms": round(p99, 3),
                "cpu_p50_ms": round(cpu50, 3),
                "cpu_p99_ms": round(cpu99, 3),
                "recall_at_10": round(recall_at_k(found, truth[name]), 4),
            }
        result[f"{mode}_private_bytes_per_image"] = round(private_bytes(path, params, mode == "mmap") / n, 1)
        del index
    result["file_bytes_per_image"] = round(path.stat().st_size / n, 1)
    # Exact search for comparison: FAISS's flat index over the same vectors, in memory.
    exact = faiss.IndexFlatIP(setup.dim)
    exact.add(np.ascontiguousarray(base, dtype=np.float32))
    ms, _ = timed_search(exact, queries["near"][:50])
    del exact
    result["exact_p50_ms"], result["exact_p99_ms"] = (round(v, 2) for v in percentiles(ms))
    return result


def prepare_catalog(n: int, index_path: Path, params: dict[str, Any], setup: Setup) -> Path:
    """A data dir with `n` indexed catalog rows (ids 1..n) and the cached index published."""
    data_dir = setup.folder / f"serve-{n}"
    marker = data_dir / ".complete"
    if marker.exists():
        return data_dir
    settings = Settings(data_dir=data_dir, model=setup.model, pretrained="none", device="cpu")
    ensure_schema(settings)
    model_id = f"{setup.model}/none"
    step = 50_000
    for start in range(1, n + 1, step):
        rows = [
            {"id": i, "bucket": "bench", "key": f"{i:08d}.jpg", "status": ImageStatus.INDEXED}
            | {"model": model_id}
            for i in range(start, min(n, start + step - 1) + 1)
        ]
        with session_scope(settings) as session:
            session.execute(insert(Image), rows)
    store = IndexStore(settings.index_dir)
    index = faiss.read_index(str(index_path))
    manifest = Manifest(
        model=setup.model,
        pretrained="none",
        dim=setup.dim,
        count=0,
        generation=0,
        index_type=str(params.get("description", "IDMap2,Flat")),
        params={k: v for k, v in params.items() if k != "build_s"},
    )
    with store.lock():
        store.publish(index, manifest)
    dispose_engines()
    marker.touch()
    return data_dir


def post(conn: http.client.HTTPConnection, text: str) -> float:
    body = json.dumps({"text": text, "k": K})
    t0 = time.perf_counter()
    conn.request("POST", "/v1/search/text", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = response.read()
    elapsed = (time.perf_counter() - t0) * 1000
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {payload[:200]!r}")
    return elapsed


def run_clients(port: int, clients: int, per_client: int, tag: str, repeat: bool = False) -> list[float]:
    """Latencies of `clients` threads each sending `per_client` text queries back to back."""
    results: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []

    def client(c: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            for i in range(per_client):
                # Distinct texts: every request pays for text encoding (no cache hit)...
                text = "a photo of a red bicycle" if repeat else f"{tag} photo {c}-{i} of a street at night"
                results[c].append(post(conn, text))
        except BaseException as exc:  # reported after the threads join
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [ms for r in results for ms in r]


def http_bench(n: int, data_dir: Path, requests: int, model: str) -> dict[str, Any]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "PIXSEEK_DATA_DIR": str(data_dir),
            "PIXSEEK_MODEL": model,
            "PIXSEEK_PRETRAINED": "none",
            "PIXSEEK_DEVICE": "cpu",
            "PIXSEEK_AUTO_MIGRATE": "true",
            # The benchmark's own limits: on a fast CPU one client alone runs past the default
            # 50 requests/s, and a 429 is not a latency (the smoke run sends a burst past them).
            "PIXSEEK_RATE_LIMIT_PER_SECOND": "1000000",
            "PIXSEEK_RATE_LIMIT_BURST": "1000000",
        }
    )
    env.pop("PIXSEEK_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "pixseek", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_answers(port, "/v1/health", server, time.perf_counter(), timeout=180, interval=0.5)
        run_clients(port, 1, 5, "warmup")  # loads the model and the index
        out: dict[str, Any] = {"n": n}
        for clients in (1, 8):
            ms = run_clients(port, clients, max(1, requests // clients), f"c{clients}")
            p50, p99 = percentiles(ms)
            out[f"clients_{clients}"] = {"p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "n": len(ms)}
        ms = run_clients(port, 1, min(50, requests), "repeat", repeat=True)
        p50, p99 = percentiles(ms)
        out["clients_1_cached_text"] = {"p50_ms": round(p50, 1), "p99_ms": round(p99, 1)}
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated collection sizes")
    parser.add_argument("--http-sizes", default="10000,1000000", help="sizes served over HTTP ('' for none)")
    parser.add_argument("--requests", type=int, default=200, help="HTTP requests per client setting")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        # 240 requests back to back: past the API's default rate limit (a burst of 100, then 50/s), so a
        # server started without the benchmark's own limits fails the smoke run with a 429.
        args.sizes, args.http_sizes, args.requests = "2000", "2000", 240
    with output_dir(args.smoke) as out:
        setup = Setup(out / "search", TINY_MODEL, 64, 20) if args.smoke else Setup(out / "search")
        setup.folder.mkdir(parents=True, exist_ok=True)
        run(args, argv, setup, out)


def run(args: argparse.Namespace, argv: list[str] | None, setup: Setup, out: Path) -> None:
    """Every size in memory, then the HTTP sizes over a real server; the report goes to `out`."""
    sizes = [int(s) for s in args.sizes.split(",") if s]
    http_sizes = [int(s) for s in args.http_sizes.split(",") if s]
    report: dict[str, Any] = {
        "command": "python -m bench.search " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "faiss": faiss.__version__,
        "inprocess": [],
        "http": [],
    }
    for n in sizes:
        r = inprocess(n, setup)
        report["inprocess"].append(r)
        m, f = r["memory_near"], r["memory_far"]
        say(
            f"{n:>9,} {r['index']:<16} near p50 {m['p50_ms']:.2f} ms p99 {m['p99_ms']:.2f} ms "
            f"(cpu p99 {m['cpu_p99_ms']:.2f}) "
            f"recall@10 {m['recall_at_10']:.3f} | far p99 {f['p99_ms']:.2f} ms "
            f"recall {f['recall_at_10']:.3f} | "
            f"mmap p99 {r['mmap_near']['p99_ms']:.2f} ms | exact p50 {r['exact_p50_ms']:.1f} ms | "
            f"{r['file_bytes_per_image']:.0f} B/image on disk, "
            f"private {r['memory_private_bytes_per_image']:.0f} "
            f"(mapped: {r['mmap_private_bytes_per_image']:.0f})\n"
        )
        write_json("search.json", report, out)
    if http_sizes:
        # The baseline is torch, beside OpenVINO, in the precision `auto` picks for this CPU.
        # The smoke run stays on torch: it runs inside the test suite's process, which keeps
        # OpenVINO's thread pools out (tests/model/test_openvino_runtime.py).
        runtimes = ("torch",) if args.smoke else ("torch", "auto")
        cache = setup.folder / "runtime-cache"
        report["text_encoding"] = texts = {
            runtime: text_encoding(setup.model, 5 if args.smoke else 40, runtime, cache)
            for runtime in runtimes
        }
        for runtime, text in texts.items():
            say(
                f"text tower ({runtime}: {text['runtime']} {text['precision']}), batch 1: "
                f"p50 {text['short_forward']['p50_ms']:.1f} ms; batch 8: {text['batch_8_p50_ms']:.1f} ms\n"
            )
        say(f"(torch, all 77 positions: {texts['torch']['full_77_tokens']['p50_ms']:.1f} ms)\n")
    for n in http_sizes:
        path = setup.folder / f"index-{n}.faiss"
        if not path.exists():
            say(f"no index for {n}: include it in --sizes\n")
            continue
        params = json.loads((setup.folder / f"index-{n}.json").read_text(encoding="utf-8"))
        data_dir = prepare_catalog(n, path, params, setup)
        h = http_bench(n, data_dir, args.requests, setup.model)
        report["http"].append(h)
        say(
            f"HTTP {n:>9,}: 1 client p50 {h['clients_1']['p50_ms']:.1f} ms "
            f"p99 {h['clients_1']['p99_ms']:.1f} ms; "
            f"8 clients p50 {h['clients_8']['p50_ms']:.1f} ms p99 {h['clients_8']['p99_ms']:.1f} ms; "
            f"repeated text p50 {h['clients_1_cached_text']['p50_ms']:.1f} ms\n"
        )
        write_json("search.json", report, out)
    say(f"written to {out / 'search.json'}\n")


if __name__ == "__main__":
    main()
