"""`python -m bench.smoke --report FILE '{"bench.x": ["--smoke", ...], ...}'`: smoke runs in one process.

The suite runs every benchmark's `--smoke` mode as a user would, from the command line, but
a Python process that imports torch, open_clip and faiss takes seconds to start: this runs
several benchmarks one after the other in one process and writes, per benchmark, its exit
code, what it printed, what its `main` returned (when that is JSON) and the traceback of a
failure. One benchmark failing does not stop the others.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def run_one(module: str, args: list[str]) -> dict[str, Any]:
    """Run `module`'s main(args) with stdout captured; what happened, as JSON-ready values."""
    out = io.StringIO()
    started = time.perf_counter()
    code: int | None = 0
    result: Any = None
    error = None
    try:
        loaded = importlib.import_module(module)
        if not hasattr(loaded, "main"):
            loaded = importlib.import_module(f"{module}.__main__")
        with contextlib.redirect_stdout(out):
            result = loaded.main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        code = 1
        error = traceback.format_exc()
    if isinstance(result, int) and not isinstance(result, bool):
        code = result
    try:
        json.dumps(result)
    except (TypeError, ValueError):
        result = None
    return {
        "exit": code,
        "stdout": out.getvalue(),
        "result": result,
        "error": error,
        "seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("runs", help='JSON: {"module": [arguments], ...}, run in this order')
    parser.add_argument("--report", type=Path, required=True, help="where to write the JSON report")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (0: torch's default); the suite runs one per core",
    )
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    runs: dict[str, list[str]] = json.loads(args.runs)
    report = {}
    for module, module_args in runs.items():
        report[module] = run_one(module, list(module_args))
        done = report[module]
        print(f"{module}: exit {done['exit']} in {done['seconds']} s", file=sys.stderr)  # noqa: T201
    args.report.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0 if all(r["exit"] == 0 for r in report.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
