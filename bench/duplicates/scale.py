"""Time and peak memory of full duplicate detection over synthetic collections.

    python -m bench.duplicates.scale --n 100000 [--n 1000000] [--dim 512] [--memory-mb 1024]

Synthetic data, written to memory-mapped files in a temp dir before the clock starts:
random unit CLS vectors (float16 on disk), random hash codes, smooth random thumbnails,
and 1% of the images planted as copies of another: a window (crop from any side or
corner) turned by one of the 8 symmetries, 0-3 hash bits flipped, CLS cosine ~0.95. The
run reports whether the near pairs found are exactly the planted ones. Detection is the
same `find_matches` the service runs
(hash candidates with FAISS multi-index hashing, CLS kNN with IVF over PCA-64 vectors, tier rules) plus
the grouping; SQL reads and writes are not included. Each size runs in a fresh process so
that its peak RSS (`resource.getrusage`) is its own, and the data is written by another
one, so that its pages count only where detection reads them. Besides the peak RSS (which
counts the memory-mapped inputs detection reads: all codes and vectors, candidates'
thumbnails), the peak of the process's own memory (`RssAnon`, sampled every 0.1 s) is
reported: what detection itself allocates.

`--smoke`: 3,000 images of 64 dimensions with the exact limit at 1,000, so that the
large-collection searches (multi-index hashing, IVF) still run, in seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import add_smoke_flag
from pixseek.media.perceptual_hash import CODE_ROWS, DIHEDRAL, HASH_BYTES, THUMB, WINDOWS, box_matrix, turn
from pixseek.search.duplicates.grouping import star_groups
from pixseek.search.duplicates.matching import Rules
from pixseek.search.duplicates.pair_search import SearchLimits, find_matches

REPO = Path(__file__).resolve().parents[2]
CHUNK = 100_000
PLANTED = 0.01


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _window_thumb(thumb: np.ndarray, window: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """The picture a planted copy shows: window `window` of `thumb`, turned back by k, a little noise."""
    x0, y0, x1, y1 = WINDOWS[window]
    ax = box_matrix(np.array(x0), np.array(x1), THUMB, THUMB)
    ay = box_matrix(np.array(y0), np.array(y1), THUMB, THUMB)
    crop = ay @ thumb.astype(np.float64) @ ax.T
    # turn(copy, k) must show the window: the copy is the window turned by k's inverse.
    copy = turn(crop, {5: 6, 6: 5}.get(k, k))
    return np.clip(copy + rng.integers(-4, 5, copy.shape), 0, 255).astype(np.uint8)


def generate(folder: Path, n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, set]:
    """Memory-mapped (codes, thumbs, vectors) with planted copies; returns them and the planted pairs.

    Each planted copy is a window of another image (a crop from some side or corner, up to
    60% of each side), turned by one of the 8 symmetries: one of its turned hashes is the
    original's window hash with 0-3 bits flipped, its thumbnail the original's window.
    """
    rng = np.random.default_rng(seed)
    codes = np.lib.format.open_memmap(folder / "codes.npy", "w+", np.uint8, (n, CODE_ROWS, HASH_BYTES))
    thumbs = np.lib.format.open_memmap(folder / "thumbs.npy", "w+", np.uint8, (n, THUMB, THUMB))
    vectors = np.lib.format.open_memmap(folder / "vectors.npy", "w+", np.float16, (n, dim))
    # Smooth random thumbnails (4x4 blocks, upsampled): random pixels would make every crop flat.
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        codes[start:stop] = rng.integers(0, 256, (stop - start, CODE_ROWS, HASH_BYTES), dtype=np.uint8)
        blocks = rng.integers(0, 256, (stop - start, 8, 8), dtype=np.uint8)
        thumbs[start:stop] = blocks.repeat(THUMB // 8, axis=1).repeat(THUMB // 8, axis=2)
        vectors[start:stop] = _unit(rng, stop - start, dim)
    copies = int(n * PLANTED)
    src = rng.choice(n // 2, size=copies, replace=False)
    dst = n // 2 + rng.choice(n - n // 2, size=copies, replace=False)
    planted = set()
    for a, b in zip(src.tolist(), dst.tolist(), strict=True):
        window, k = int(rng.integers(0, len(WINDOWS))), int(rng.integers(0, DIHEDRAL))
        bits = np.unpackbits(codes[a, DIHEDRAL + window])
        bits[rng.choice(bits.size, size=int(rng.integers(0, 4)), replace=False)] ^= 1
        codes[b, k] = np.packbits(bits)
        thumbs[b] = _window_thumb(thumbs[a], window, k, rng)
        v = vectors[a].astype(np.float32) + 0.33 * _unit(rng, 1, dim)[0]
        vectors[b] = v / np.linalg.norm(v)
        planted.add((min(a, b), max(a, b)))
    for array in (codes, thumbs, vectors):
        array.flush()
    return codes, thumbs, vectors, planted


class Float32Rows:
    """A float16 memmap read as float32, one slice at a time (what FAISS is given)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.shape = data.shape

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, rows: Any) -> np.ndarray:
        return np.asarray(self.data[rows], dtype=np.float32)


class AnonPeak:
    """The peak of this process's anonymous resident memory (`RssAnon`), sampled in a thread.

    `ru_maxrss` also counts the pages of memory-mapped files that were read; this is the
    memory the process allocated itself. Linux only; 0 where /proc is missing.
    """

    def __init__(self, every_s: float = 0.1) -> None:
        self.peak_kb = 0
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now_kb() -> int:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, self.now_kb())
            self._stop.wait(self._every)

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, self.now_kb())


def write_data(folder: Path, n: int, dim: int) -> None:
    """`generate` into `folder`, with the planted pairs in planted.npy (run in its own process)."""
    *_arrays, planted = generate(folder, n, dim)
    np.save(folder / "planted.npy", np.array(sorted(planted), dtype=np.int64).reshape(-1, 2))


def run_one(n: int, dim: int, memory_mb: int, exact_limit: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pixseek-dup-scale-") as tmp:
        folder = Path(tmp)
        cmd = [sys.executable, "-m", "bench.duplicates.scale", "--write-data", tmp, "--n", str(n)]
        subprocess.run([*cmd, "--dim", str(dim)], cwd=REPO, check=True)
        codes, thumbs, vectors = (
            np.load(folder / f"{name}.npy", mmap_mode="r") for name in ("codes", "thumbs", "vectors")
        )
        planted = {(int(a), int(b)) for a, b in np.load(folder / "planted.npy")}
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        anon_before = AnonPeak.now_kb()
        rules = Rules(similar_threshold=0.9)  # as with pretrained weights: the CLS search runs
        limits = SearchLimits(knn=10, exact_limit=exact_limit, batch=max(256, memory_mb * 1024 // 64))
        with AnonPeak() as anon:
            started = time.perf_counter()
            matches = find_matches(codes, thumbs, rules, limits, vectors=Float32Rows(vectors))  # type: ignore[arg-type]
            matched = time.perf_counter()
            stars = star_groups(
                ((int(a), int(b), None) for a, b in matches.pairs[matches.kinds == "near"]), rank=lambda i: i
            )
            grouped = time.perf_counter()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        del codes, thumbs, vectors
    near = {(int(a), int(b)) for a, b in matches.pairs[matches.kinds == "near"]}
    return {
        "images": n,
        "dim": dim,
        "memory_mb_setting": memory_mb,
        "exact_limit": exact_limit,
        "scale_hash_distance": limits.scale_hash_distance,
        "planted_copies": len(planted),
        "near_pairs_found": len(near),
        "planted_found": len(near & planted),
        "unplanted_found": len(near - planted),
        "exactly_the_planted": near == planted,
        "similar_pairs_found": int((matches.kinds == "similar").sum()),
        "groups": len(stars),
        "match_s": round(matched - started, 1),
        "group_s": round(grouped - matched, 2),
        "total_s": round(grouped - started, 1),
        "peak_rss_mb": round(peak / 1024),
        "rss_before_detection_mb": round(rss_before / 1024),
        "peak_anon_mb": round(anon.peak_kb / 1024),
        "anon_before_detection_mb": round(anon_before / 1024),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.duplicates.scale")
    parser.add_argument("--n", type=int, action="append", help="collection size (repeatable)")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument(
        "--exact-limit", type=int, default=20_000, help="above this many images the searches are approximate"
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--write-data", type=Path, help=argparse.SUPPRESS)
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.dim, args.exact_limit = [3000], 64, 1000
    sizes = args.n or [100_000, 1_000_000]
    if args.write_data:
        write_data(args.write_data, sizes[0], args.dim)
        return 0
    if args.one:
        # The searches' log lines (counts, with times) go to stderr, which the parent passes on.
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        print(json.dumps(run_one(sizes[0], args.dim, args.memory_mb, args.exact_limit)))  # noqa: T201
        return 0
    for n in sizes:
        cmd = [
            sys.executable,
            "-m",
            "bench.duplicates.scale",
            "--one",
            "--n",
            str(n),
            "--dim",
            str(args.dim),
            "--memory-mb",
            str(args.memory_mb),
            "--exact-limit",
            str(args.exact_limit),
        ]
        out = subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.PIPE, text=True).stdout
        print(out.strip(), flush=True)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
