"""`python -m bench.startup`: wall time of light `pixseek` commands, warm page cache.

Each command runs in a fresh interpreter (`python -m pixseek ...` from this checkout, or
from `--checkout DIR` to compare another version, on an empty data dir, no broker), once
to warm the page cache and then `--runs` times; the median wall and CPU time are reported
with the CPU they ran on. `--smoke` runs `--help` and `--version` once each, no warm-up.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import add_smoke_flag, cpu_info, write_json

ROOT = Path(__file__).resolve().parents[1]
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("--version",),
    ("status", "--json"),
    ("jobs", "--json"),
)


def light_env(data_dir: Path) -> dict[str, str]:
    """The caller's environment without PIXSEEK_ settings, on an empty data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXSEEK_")}
    env["PIXSEEK_DATA_DIR"] = str(data_dir)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(
    args: tuple[str, ...], env: dict[str, str], runs: int, checkout: Path, warm_up: bool = True
) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds per run of `python -m pixseek ARGS`, after an untimed warm-up run.

    CPU time (user + system) moves less than wall time when other processes load the machine.
    """
    argv = [sys.executable, "-m", "pixseek", *args]
    wall, cpu = [], []
    for i in range(-1 if warm_up else 0, runs):  # run -1 only warms the page cache
        start, cpu_start = time.perf_counter(), _children_cpu()
        subprocess.run(argv, cwd=checkout, env=env, check=True, capture_output=True)
        if i >= 0:
            wall.append(time.perf_counter() - start)
            cpu.append(_children_cpu() - cpu_start)
    return wall, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (default 5)")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the pixseek checkout to run")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    runs = 1 if args.smoke else args.runs
    commands = COMMANDS[:2] if args.smoke else COMMANDS
    cpu, _ = cpu_info()
    say = sys.stdout.write
    with tempfile.TemporaryDirectory(prefix="pixseek-bench-startup-") as tmp:
        env = light_env(Path(tmp) / "data")
        say(f"{args.checkout}: ")
        warm = "" if args.smoke else " after a warm-up run"
        say(f"{cpu}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; median of {runs} runs{warm}\n")
        medians: dict[str, dict[str, float]] = {}
        for command in commands:
            wall, cpu_s = time_command(command, env, runs, args.checkout, warm_up=not args.smoke)
            name = "pixseek " + " ".join(command)
            medians[name] = {"wall_s": statistics.median(wall), "cpu_s": statistics.median(cpu_s)}
            say(
                f"{name:<24} wall {medians[name]['wall_s']:6.3f} s, cpu {medians[name]['cpu_s']:6.3f} s"
                f"  (wall runs: {', '.join(f'{s:.3f}' for s in wall)})\n"
            )
        result = {
            "checkout": str(args.checkout),
            "cpu": cpu,
            "cores": os.cpu_count(),
            "runs": runs,
            "median": medians,
        }
        path = write_json("startup.json", result, folder=Path(tmp) if args.smoke else None)
        say(f"written to {path}\n")


if __name__ == "__main__":
    main()
