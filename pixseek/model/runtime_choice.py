"""Which runtime and precision run each tower on this CPU: asked of the CPU once per model.

CPUs differ more than any rule of thumb: on one AVX-512 BF16 Xeon bf16 ran at 0.55x fp32,
on a Zen 4 EPYC at 2.9x; ONNX Runtime's int8 was the fastest tower on one and failed the
quality gate on another (docs/benchmarks.md, "Runtimes"). So with `PIXSEEK_RUNTIME=auto` and
`PIXSEEK_PRECISION=auto` on the CPU, the first process that loads a model probes: every
candidate this CPU can run (torch fp32, bf16 where the CPU has bf16 instructions, OpenVINO
fp32 and bf16, ONNX Runtime int8) is converted, must pass the quality gate against torch
fp32 (`conversion.py`), and is timed on the same inputs, interleaved; the fastest that
passed wins, separately for the image tower (a batch, what ingest runs) and the text tower
(one query, what a search waits for). The answer is kept in the model cache dir
(`runtime-choice.json`, keyed by the CPU, the model, its weights and the library versions),
with the conversions themselves: made once per machine and model, shared by every data dir
and every worker (a lock makes the others wait for the first).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pixseek.core.cpu import cpu_key, has_bf16_instructions
from pixseek.core.errors import ConfigError
from pixseek.core.locks import file_lock

log = logging.getLogger(__name__)

CHOICE_FILE = "runtime-choice.json"
ROUNDS = 3  # timed calls per candidate, interleaved; the median counts
# A candidate must beat the simplest one by this much to be worth its conversion: within it,
# timings on a shared machine do not separate them.
MIN_GAIN = 1.05

Runner = Callable[[Any], Any]
Factory = Callable[[], Runner | None]  # None: converted, but it failed the quality gate


@dataclass(frozen=True)
class TowerChoice:
    """What runs one tower: `torch fp32`, `openvino bf16`, `onnxruntime int8`, ..."""

    runtime: str
    precision: str

    @property
    def label(self) -> str:
        return f"{self.runtime} {self.precision}"


TORCH_FP32 = TowerChoice("torch", "fp32")


def candidates(
    *, openvino: bool, onnxruntime: bool, flags: frozenset[str] | None = None
) -> list[TowerChoice]:
    """What this CPU may run, simplest first (torch fp32, the reference, always)."""
    bf16 = has_bf16_instructions(flags)
    out = [TORCH_FP32]
    if bf16:
        out.append(TowerChoice("torch", "bf16"))
    if openvino:
        out.append(TowerChoice("openvino", "fp32"))
        if bf16:
            out.append(TowerChoice("openvino", "bf16"))
    if onnxruntime:
        out.append(TowerChoice("onnxruntime", "int8"))
    return out


def probe(factories: dict[TowerChoice, Factory], inputs: Any, rounds: int = ROUNDS) -> dict[str, Any]:
    """Build every candidate, time those that passed their gate on `inputs`; the fastest wins.

    Returns the choice and, per candidate, its calls per second or why it was left out.
    """
    runners: dict[TowerChoice, Runner] = {}
    figures: dict[str, Any] = {}
    for choice, factory in factories.items():
        try:
            runner = factory()
            if runner is not None:
                runner(inputs)  # warm-up: kernels chosen, memory allocated
        except ConfigError as exc:  # no such library, or the conversion itself failed
            figures[choice.label] = {"left_out": exc.detail}
            continue
        except Exception as exc:  # a runtime that cannot run the graph it was given
            if choice == TORCH_FP32:
                raise
            figures[choice.label] = {"left_out": f"{type(exc).__name__}: {str(exc)[:300]}"}
            continue
        if runner is None:
            figures[choice.label] = {"left_out": "failed the quality gate against torch fp32"}
            continue
        runners[choice] = runner
    seconds: dict[TowerChoice, list[float]] = {choice: [] for choice in runners}
    for _ in range(rounds):
        for choice, runner in runners.items():
            start = time.perf_counter()
            runner(inputs)
            seconds[choice].append(time.perf_counter() - start)
    rate = {choice: 1.0 / max(statistics.median(times), 1e-9) for choice, times in seconds.items()}
    for choice, per_second in rate.items():
        figures[choice.label] = {"calls_per_s": round(per_second, 3)}
    base = rate.get(TORCH_FP32, 0.0)
    best = max(rate, key=lambda c: rate[c]) if rate else TORCH_FP32
    if best != TORCH_FP32 and base and rate[best] < MIN_GAIN * base:
        best = TORCH_FP32
    return {"choice": asdict(best), "figures": figures}


def _choice_key(model_name: str, weights: str, part: str) -> str:
    import importlib.metadata as md

    versions = []
    for package in ("torch", "openvino", "onnxruntime"):
        try:
            versions.append(f"{package}={md.version(package)}")
        except md.PackageNotFoundError:
            versions.append(f"{package}=none")
    return f"{cpu_key()} | {model_name} | {weights} | {part} | {' '.join(versions)}"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def choose(
    cache_dir: Path,
    *,
    model_name: str,
    weights: str,
    part: str,
    factories: dict[TowerChoice, Factory],
    inputs: Any,
) -> TowerChoice:
    """The recorded choice for this CPU, model and tower part, probing first if there is none.

    One process probes (under a lock in `cache_dir`); the others wait and read its answer.
    """
    key = _choice_key(model_name, weights, part)
    path = cache_dir / CHOICE_FILE
    with file_lock(cache_dir / ".runtime-choice.lock"):
        known = _read(path)
        entry = known.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("choice"), dict):
            return TowerChoice(**entry["choice"])
        log.info(
            "model.runtime_probe part=%s model=%s: once per machine and model (%s)",
            part,
            model_name,
            ", ".join(c.label for c in factories),
        )
        result = probe(factories, inputs)
        choice = TowerChoice(**result["choice"])
        log.info("model.runtime_chosen part=%s choice=%s figures=%s", part, choice.label, result["figures"])
        known[key] = {**result, "probed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        _write(path, known)
    return choice


def _write(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".runtime-choice-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache: the choice still holds for this process
        log.warning("model.runtime_choice_not_kept path=%s: %s", path, exc)


def recorded_choices(cache_dir: Path) -> dict[str, Any]:
    """Everything probed on this machine (for `pixseek status` and the runtimes benchmark)."""
    return _read(cache_dir / CHOICE_FILE)


def chosen_here(cache_dir: Path, model_name: str, weights: str) -> dict[str, str]:
    """The runtimes chosen on this CPU for this model, by tower part (`image`, `text`); only
    what was probed, and with these library versions."""
    out = {}
    for part in ("image", "text"):
        entry = recorded_choices(cache_dir).get(_choice_key(model_name, weights, part))
        if isinstance(entry, dict) and isinstance(entry.get("choice"), dict):
            out[part] = TowerChoice(**entry["choice"]).label
    return out
