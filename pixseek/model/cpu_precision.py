"""Whether bf16 pays on this CPU: measured once per CPU, not read off its flags.

A CPU that lists bf16 instructions does not always run bf16 faster than fp32. Measured
with ViT-B/32's image tower (docs/benchmarks.md, "Runtimes"): on an Intel Xeon with AMX,
OpenVINO in bf16 ran 5.8x torch fp32; on an AMD EPYC with AVX-512 BF16 (no AMX) bf16
weights ran 2.4x fp32; on an Intel Xeon with AVX-512 BF16 and no AMX, bf16 ran 0.55-0.66x
fp32 in both torch and OpenVINO. So precision `auto` asks the CPU: the transformer's own
product (a 768 -> 3,072 linear layer over a batch of tokens) in fp32 and in bf16,
interleaved, the median of a few rounds each. bf16 is picked when it is at least
`MIN_SPEEDUP` times as fast. The probe takes about a second; its answer is kept per CPU
(model name and flags) in a small JSON file under the cache dir, so a CPU is asked once.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from pixseek.core.cpu import cpu_info, cpu_key, has_bf16_instructions

log = logging.getLogger(__name__)

MIN_SPEEDUP = 1.2
CACHE_FILE = "cpu-precision.json"

_memo: dict[str, bool] = {}


def bf16_speedup(rounds: int = 5) -> float:
    """How many times as fast bf16 runs the probe product as fp32 here (median of `rounds`)."""
    tokens = torch.randn(512, 768)
    weight = torch.randn(3072, 768)
    inputs = {torch.float32: (tokens, weight), torch.bfloat16: (tokens.bfloat16(), weight.bfloat16())}
    seconds: dict[torch.dtype, list[float]] = {dtype: [] for dtype in inputs}
    with torch.inference_mode():
        for x, w in inputs.values():  # warm-up: kernels chosen, pages touched
            torch.nn.functional.linear(x, w)
        for _ in range(rounds):
            for dtype, (x, w) in inputs.items():
                start = time.perf_counter()
                for _ in range(4):
                    torch.nn.functional.linear(x, w)
                seconds[dtype].append(time.perf_counter() - start)
    return statistics.median(seconds[torch.float32]) / statistics.median(seconds[torch.bfloat16])


def _read(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def bf16_pays(cache_dir: Path | None = None) -> bool:
    """True when this CPU runs bf16 at least MIN_SPEEDUP times as fast as fp32 (see module doc).

    A CPU without bf16 instructions is not probed. The answer is kept in memory and, with a
    `cache_dir`, in `cache_dir/cpu-precision.json` for later processes.
    """
    if not has_bf16_instructions(cpu_info()[1]):
        return False
    key = cpu_key()
    if key in _memo:
        return _memo[key]
    path = cache_dir / CACHE_FILE if cache_dir is not None else None
    known = _read(path) if path is not None else {}
    entry = known.get(key)
    if isinstance(entry, dict) and isinstance(entry.get("bf16"), bool):
        _memo[key] = bool(entry["bf16"])
        return _memo[key]
    speedup = bf16_speedup()
    pays = speedup >= MIN_SPEEDUP
    choice = "bf16" if pays else "fp32"
    log.info("model.precision_probe cpu=%r bf16_speedup=%.2f choice=%s", key, speedup, choice)
    _memo[key] = pays
    if path is not None:
        known[key] = {"bf16": pays, "speedup": round(speedup, 3), "min_speedup": MIN_SPEEDUP}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cpu-precision-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(known, fh, indent=2, sort_keys=True)
            os.replace(tmp, path)
        except OSError as exc:  # a read-only cache dir: the answer still holds for this process
            log.warning("model.precision_probe_not_kept path=%s: %s", path, exc)
    return pays
