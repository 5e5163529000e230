"""The `similar` tier's layout threshold: chosen on a tuning library, measured on the held-out one.

    python -m bench.train_tiny.similar [--weights FILE] [--tuning-seed N] [--tuning-retakes N]

Two generated libraries (`pixseek.demo.library`), each ingested with the bundled tiny model
(`PIXSEEK_MODEL=pixseek-scenes`, its default patch mode) into its own data dir:

- tuning: another seed than the tests', 40 retake scenes (more confusable pairs than the
  held-out library's 12);
- held-out: the library of the tests of meaning (`tests/meaning`), never looked at while
  choosing.

On each, `pixseek duplicates --full` runs once by CLS cosine alone
(`PIXSEEK_DUPLICATES__SIMILAR_LAYOUT=-1`) and once per layout threshold. The threshold with
the best F1 of the similar links on the tuning library is reported, with the held-out
figures at that threshold and at the default. Links are (keeper, member of tier similar)
pairs, as the tests count them. Raw JSON goes to bench/out/similar_layout.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import OUT, add_smoke_flag, cpu_info, unset_pixseek_settings
from bench.train_tiny.figures import _pixseek
from pixseek.core.settings import DuplicateSettings
from pixseek.demo.library import SEED, Library, build_library
from pixseek.model.bundled import SCENES_MODEL, SCENES_WEIGHTS

THRESHOLDS = (0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9)
TUNING_SEED = 777
TUNING_RETAKES = 40


def _ingest(
    root: Path, library: Library, weights: Path, folders: tuple[str, ...], smoke: bool
) -> dict[str, str | None]:
    env = unset_pixseek_settings(smoke)
    env.update(
        PIXSEEK_MODEL=SCENES_MODEL,
        PIXSEEK_PRETRAINED=str(weights),
        PIXSEEK_DEVICE="cpu",
        PIXSEEK_DATA_DIR=str(root / "data"),
    )
    for folder in folders:
        _pixseek(env, "ingest", str(library.folder(folder)))
    return env


def _links(env: dict[str, str | None], library: Library, layout: float) -> dict[str, float]:
    """Precision, recall and F1 of the similar links with the layout threshold `layout`."""
    bucket = os.path.realpath(library.folder("retakes"))
    truth = {frozenset({(bucket, a.key), (bucket, b.key)}) for a, b in library.retakes}
    run_env = {**env, "PIXSEEK_DUPLICATES__SIMILAR_LAYOUT": str(layout)}
    groups = _pixseek(run_env, "duplicates", "--full", "--limit", "1000")["groups"]
    linked = {
        frozenset({(g["images"][0]["bucket"], g["images"][0]["key"]), (i["bucket"], i["key"])})
        for g in groups
        for i in g["images"][1:]
        if i["tier"] == "similar"
    }
    hits = len(linked & truth)
    precision = hits / len(linked) if linked else 1.0
    recall = hits / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"layout": layout, "links": len(linked), "precision": precision, "recall": recall, "f1": f1}


def _sweep(
    env: dict[str, str | None], library: Library, thresholds: tuple[float, ...]
) -> list[dict[str, float]]:
    return [_links(env, library, t) for t in (-1.0, *thresholds)]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=SCENES_WEIGHTS)
    parser.add_argument("--tuning-seed", type=int, default=TUNING_SEED)
    parser.add_argument("--tuning-retakes", type=int, default=TUNING_RETAKES)
    add_smoke_flag(parser)  # two retake scenes per library, the retakes folder only, two thresholds
    args = parser.parse_args(argv)
    if args.tuning_seed == SEED:
        parser.error("the tuning library must differ from the held-out one (another seed)")
    folders = ("retakes",) if args.smoke else ("single", "pairs", "retakes")
    thresholds = (0.7, 0.8) if args.smoke else THRESHOLDS
    default = DuplicateSettings().similar_layout
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tuning = build_library(
            root / "tuning" / "library",
            seed=args.tuning_seed,
            retakes=2 if args.smoke else args.tuning_retakes,
        )
        held_out = build_library(root / "held-out" / "library", **({"retakes": 2} if args.smoke else {}))
        tuning_env = _ingest(root / "tuning", tuning, args.weights, folders, args.smoke)
        held_env = _ingest(root / "held-out", held_out, args.weights, folders, args.smoke)
        tuned = _sweep(tuning_env, tuning, thresholds)
        chosen = max(tuned[1:], key=lambda r: (r["f1"], r["precision"]))["layout"]
        report_at = sorted({chosen, default})
        held = [_links(held_env, held_out, -1.0)] + [_links(held_env, held_out, t) for t in report_at]
    report = {
        "cpu": cpu_info()[0],
        "load_average": os.getloadavg(),
        "tuning": {"seed": args.tuning_seed, "retakes": len(tuning.retakes), "sweep": tuned},
        "chosen": chosen,
        "default": default,
        "held_out": {"seed": SEED, "retakes": len(held_out.retakes), "runs": held},
    }
    if not args.smoke:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "similar_layout.json").write_text(json.dumps(report, indent=2) + "\n")
    out = sys.stdout
    out.write(
        "| library | layout threshold | links | precision | recall | F1 |\n|---|---:|---:|---:|---:|---:|\n"
    )
    for name, rows in (("tuning", tuned), ("held-out", held)):
        for r in rows:
            label = "off (CLS alone)" if r["layout"] < -0.5 else f"{r['layout']:.2f}"
            figures = f"{r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f}"
            out.write(f"| {name} | {label} | {r['links']} | {figures} |\n")
    out.write(f"chosen on the tuning library: {chosen:.2f} (default {default:.2f})\n")
    return report


if __name__ == "__main__":
    main()
