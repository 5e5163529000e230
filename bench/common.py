"""Helpers shared by the benchmarks: output folder, smoke runs, machine description, percentiles.

Every benchmark takes `--smoke`: a handful of images or vectors and the tiny test model
(`pixseek-tiny`, random weights) in a temp dir, so that it runs in seconds and
tests/bench/test_smoke.py can check on every test run that it still works. Smoke figures
mean nothing and nothing is written under bench/out.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pixseek.core.cpu import cpu_info, has_bf16_instructions

OUT = Path(__file__).resolve().parent / "out"
TINY_MODEL = "pixseek-tiny"  # pixseek/model/configs/pixseek-tiny.json: 64 dims, 64 px input
SMOKE_HELP = "a few seconds on a handful of inputs with the tiny model, in a temp dir (figures mean nothing)"


# What a smoke run keeps of the caller's PIXSEEK_ settings: the suite runs torch in its
# processes, and a smoke run checks that a benchmark works, not what converting costs.
SMOKE_KEEPS = ("PIXSEEK_RUNTIME",)


def without_pixseek_settings(smoke: bool) -> dict[str, str]:
    """This process's environment without PIXSEEK_ settings, so a benchmark measures the defaults
    (a smoke run keeps SMOKE_KEEPS)."""
    keep = SMOKE_KEEPS if smoke else ()
    return {k: v for k, v in os.environ.items() if not k.startswith("PIXSEEK_") or k in keep}


def unset_pixseek_settings(smoke: bool) -> dict[str, str | None]:
    """The same for click's CliRunner: every PIXSEEK_ setting to unset (None), but SMOKE_KEEPS."""
    keep = SMOKE_KEEPS if smoke else ()
    return {k: None for k in os.environ if k.startswith("PIXSEEK_") and k not in keep}


def say(text: str) -> None:
    """Write to stdout as it is now (looked up per call: `bench.smoke` redirects it per benchmark)."""
    sys.stdout.write(text)


def add_smoke_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)


@contextmanager
def output_dir(smoke: bool, name: str = "") -> Iterator[Path]:
    """bench/out (or a folder in it) for a real run; a temp dir, removed afterwards, for a smoke run."""
    if not smoke:
        folder = OUT / name
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="pixseek-bench-smoke-") as tmp:
        yield Path(tmp)


def synthetic_photos(folder: Path, n: int, size: tuple[int, int] = (640, 480), seed: int = 0) -> list[Path]:
    """`n` distinct JPEGs of smooth colour blocks: decodable photos for runs without a dataset."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        blocks = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
        path = folder / f"img{i:05d}.jpg"
        Image.fromarray(blocks, "RGB").resize(size, Image.Resampling.BILINEAR).save(path, quality=90)
        paths.append(path)
    return paths


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model, flags = cpu_info()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import torch

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "bf16_native": has_bf16_instructions(flags),
        "avx512": "avx512f" in flags,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def percentiles(ms: list[float]) -> tuple[float, float]:
    arr = np.asarray(ms, dtype=np.float64)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def write_json(name: str, data: dict[str, Any], folder: Path | None = None) -> Path:
    """Write a report to `folder` (default bench/out; smoke runs pass their temp dir)."""
    folder = folder or OUT
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return path


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for a `pixseek serve` to bind)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answers(
    port: int,
    path: str,
    server: subprocess.Popen[bytes],
    start: float,
    timeout: float,
    interval: float = 0.05,
) -> float:
    """Poll `GET path` on a `pixseek serve` until it answers 200; seconds since `start` then.

    Raises:
        RuntimeError: the server exited, or `timeout` seconds passed since `start`.
    """
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
        except OSError:
            status = None
        if status == 200:
            return time.perf_counter() - start
        if server.poll() is not None or time.perf_counter() - start > timeout:
            raise RuntimeError(f"pixseek serve never answered {path} with 200")
        time.sleep(interval)
