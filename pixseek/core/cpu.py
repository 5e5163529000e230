"""What the CPU is: its model name and feature flags, read once from /proc/cpuinfo.

Used where a choice depends on the CPU (precision `auto`, pixseek/model/cpu_precision.py)
and by the benchmarks to name the machine their figures come from. No torch here: commands
that only describe the machine stay light.
"""

from __future__ import annotations

import functools

# Instructions that compute bfloat16: AMX tiles, AVX-512 BF16. Listing them does not make
# bf16 faster than fp32 (cpu_precision.py measures that).
BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


@functools.cache
def cpu_info() -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first CPU; ("unknown", empty) where /proc/cpuinfo is absent."""
    name, flags = "unknown", frozenset[str]()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("model name") and name == "unknown":
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = frozenset(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return name, flags


def has_bf16_instructions(flags: frozenset[str] | None = None) -> bool:
    """True when the CPU (or `flags`) lists bfloat16 instructions."""
    return bool(BF16_FLAGS & (cpu_info()[1] if flags is None else flags))


# The flags that decide what runs fastest: a choice measured on one CPU holds for another
# with the same model name and these.
KEY_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx512_vnni", "avx2")


def cpu_key() -> str:
    """This CPU for choices measured on it: its model name and the flags that matter."""
    name, flags = cpu_info()
    return f"{name} [{' '.join(f for f in KEY_FLAGS if f in flags)}]"
