"""`python -m bench.toolbox`: what the toolbox doors cost: the Python client per call,
`pixseek export` and `pixseek import` per image.

- **Client overhead**: `GET /v1/images/{id}` through `pixseek.client.Client` (request
  building, retry policy, the reply parsed into `ImageInfo`) against the same call with a
  bare `httpx.Client`, on a live uvicorn serving the catalog below (loopback, one client).
- **Export**: a synthetic catalog of N images the size of ViT-B-32's (512-d vectors in
  SQL) written in clip-retrieval's layout; rows/s and bytes per image, scaled to 1M images
  linearly (the export streams one shard at a time, so per-row cost holds; the disk, not
  memory, is what grows).
- **Import**: M JPEGs (640x480) with embeddings in clip-retrieval's layout, imported for
  their bucket: each file is read, hashed and its header decoded (its size and EXIF), so
  rows/s is bound by the files' reads, as an ingest without the model.

- **Webhooks**: E events delivered to a loopback receiver that answers 500 to every other
  request (backoff 10 ms): all delivered, in order, each once, and a second pass (a
  restart) sends nothing again; deliveries/s and requests per delivery.

`--smoke`: 100 catalog rows, 6 files, 20 calls, 10 events.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import uvicorn
from sqlalchemy import insert

from bench.common import (
    add_smoke_flag,
    free_port,
    machine,
    output_dir,
    percentiles,
    say,
    synthetic_photos,
    write_json,
)
from pixseek.api.app import create_app
from pixseek.client import Client
from pixseek.core.db import dispose_engines, migrate, session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.events import record_event
from pixseek.index.catalog.images import Image, ImageStatus, ImageVector
from pixseek.index.exchange.export import export_catalog
from pixseek.index.webhooks import deliver_due
from pixseek.ingest.importing import import_embeddings
from pixseek.model.encoder import embed_dim
from pixseek.model.identity import ModelId

DIM = 512  # ViT-B-32
MILLION = 1_000_000
CHUNK = 5000
ROW = {"bucket": "/photos", "size": 200_000, "format": "JPEG", "width": 640, "height": 480}
ROW["status"] = ImageStatus.INDEXED


def _settings(data_dir: Path) -> Settings:
    values: dict[str, Any] = {
        "model": "ViT-B-32",
        "pretrained": "none",
        "broker_url": None,
        "preload_model": False,
    }
    return Settings(data_dir=data_dir, database_url=None, **values)


def build_catalog(settings: Settings, n: int) -> None:
    """n embedded images with vectors (no files): what export reads."""
    migrate(settings)
    rng = np.random.default_rng(0)
    model = ModelId.of(settings).key
    for start in range(0, n, CHUNK):
        ids = range(start + 1, min(n, start + CHUNK) + 1)
        vectors = rng.standard_normal((len(ids), DIM)).astype("<f4")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with session_scope(settings) as session:
            session.execute(
                insert(Image),
                [
                    {**ROW, "id": i, "key": f"2024/{i:07d}.jpg", "sha256": f"{i:064x}", "model": model}
                    for i in ids
                ],
            )
            session.execute(
                insert(ImageVector),
                [
                    {"image_id": i, "model": model, "dim": DIM, "sha256": f"{i:064x}", "vector": v.tobytes()}
                    for i, v in zip(ids, vectors, strict=True)
                ],
            )


def measure_export(root: Path, n: int) -> dict[str, Any]:
    settings = _settings(root / "catalog")
    build_catalog(settings, n)
    started = time.perf_counter()
    result = export_catalog(settings, root / "export", shard_size=max(1, n // 4))
    seconds = time.perf_counter() - started
    dispose_engines()
    return {
        "rows": n,
        "seconds": round(seconds, 3),
        "rows_per_s": round(n / seconds),
        "bytes_per_image": round(result.bytes / n, 1),
        "gb_at_1m": round(result.bytes / n * MILLION / 1e9, 2),
        "minutes_at_1m": round(seconds / n * MILLION / 60, 1),
    }


def measure_import(root: Path, m: int) -> tuple[dict[str, Any], Settings]:
    photos = synthetic_photos(root / "bucket", m)
    out = root / "clip-retrieval"
    (out / "img_emb").mkdir(parents=True)
    (out / "metadata").mkdir()
    vectors = np.random.default_rng(1).standard_normal((m, DIM)).astype(np.float32)
    np.save(out / "img_emb" / "img_emb_0.npy", vectors)
    pq.write_table(
        pa.table({"image_path": [str(p) for p in photos]}), out / "metadata" / "metadata_0.parquet"
    )
    settings = _settings(root / "imported")
    migrate(settings)
    embed_dim(settings.model)  # open_clip's import and config, once per process: not per row
    started = time.perf_counter()
    result = import_embeddings(settings, out, str(root / "bucket"), model_key=ModelId.of(settings).key)
    seconds = time.perf_counter() - started
    assert result.imported == m, result
    return {
        "rows": m,
        "seconds": round(seconds, 3),
        "rows_per_s": round(m / seconds),
        "minutes_at_1m": round(seconds / m * MILLION / 60, 1),
    }, settings


def measure_client(settings: Settings, calls: int) -> dict[str, Any]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    timings: dict[str, list[float]] = {"raw": [], "client": []}
    try:
        with httpx.Client(base_url=url) as raw, Client(url) as client:
            for _ in range(5):  # warm both connections
                raw.get("/v1/images/1").json()
                client.image(1)
            for _ in range(calls):
                started = time.perf_counter()
                raw.get("/v1/images/1").json()
                timings["raw"].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                client.image(1)
                timings["client"].append((time.perf_counter() - started) * 1000)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        dispose_engines()
    raw_p50, _ = percentiles(timings["raw"])
    client_p50, _ = percentiles(timings["client"])
    return {
        "calls": calls,
        "raw_p50_ms": round(raw_p50, 3),
        "client_p50_ms": round(client_p50, 3),
        "overhead_us": round((client_p50 - raw_p50) * 1000),
    }


def measure_webhooks(root: Path, events: int) -> dict[str, Any]:
    received: list[int] = []
    requests = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests[0] += 1
            ok = requests[0] % 2 == 0
            if ok:
                received.append(int(body["data"]["n"]))
            self.send_response(200 if ok else 500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    hooks = {
        "targets": [{"url": f"http://127.0.0.1:{port}/hook", "secret": "bench"}],
        "allowed_hosts": [f"127.0.0.1:{port}"],
        "backoff_seconds": 0.01,
    }
    settings = _settings(root / "webhooks").model_copy(update={"webhooks": Settings(webhooks=hooks).webhooks})  # type: ignore[arg-type]
    migrate(settings)
    with session_scope(settings) as session:
        for n in range(events):
            record_event(session, "job.finished", {"n": n})
    started = time.perf_counter()
    while len(received) < events and time.perf_counter() - started < 300:
        deliver_due(settings)
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    sent = requests[0]
    deliver_due(settings)  # a restart: nothing delivered goes again
    server.shutdown()
    dispose_engines()
    return {
        "events": events,
        "delivered": len(received),
        "in_order_once": received == list(range(events)),
        "requests": sent,
        "repeated_after_restart": requests[0] - sent,
        "deliveries_per_s": round(len(received) / seconds, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.toolbox", description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000, help="catalog rows exported (default 50,000)")
    parser.add_argument("--files", type=int, default=1000, help="files imported (default 1,000)")
    parser.add_argument("--calls", type=int, default=500, help="client calls timed (default 500)")
    parser.add_argument("--events", type=int, default=200, help="webhook events delivered (default 200)")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    rows, files, calls = (100, 6, 20) if args.smoke else (args.rows, args.files, args.calls)
    events = 10 if args.smoke else args.events
    with tempfile.TemporaryDirectory(prefix="pixseek-bench-toolbox-") as tmp, output_dir(args.smoke) as out:
        root = Path(tmp)
        exported = measure_export(root, rows)
        e = exported
        say(f"export  {rows:>7,} rows: {e['rows_per_s']:,} rows/s, {e['bytes_per_image']} B/image "
            f"(1M: {e['gb_at_1m']} GB, {e['minutes_at_1m']} min)\n")  # fmt: skip
        imported, settings = measure_import(root, files)
        i = imported
        say(f"import  {files:>7,} files: {i['rows_per_s']:,} rows/s (1M: {i['minutes_at_1m']} min)\n")
        client = measure_client(settings, calls)
        c = client
        say(f"client  {calls:>7,} calls: raw p50 {c['raw_p50_ms']} ms, client p50 {c['client_p50_ms']} ms "
            f"(+{c['overhead_us']} us)\n")  # fmt: skip
        hooks = measure_webhooks(root, events)
        h = hooks
        say(f"webhooks {events:>6,} events, receiver failing half: {h['delivered']} delivered, in order once "
            f"{h['in_order_once']}, {h['requests']} requests, {h['repeated_after_restart']} repeated "
            f"after a restart, {h['deliveries_per_s']}/s\n")  # fmt: skip
        result = {
            "machine": machine(),
            "export": exported,
            "import": imported,
            "client": client,
            "webhooks": hooks,
        }
        write_json("toolbox.json", result, out)
    return result


if __name__ == "__main__":
    main()
