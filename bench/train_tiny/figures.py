"""The tiny model's figures (docs/tiny-model.md, docs/regions.md), through the `pixseek` CLI.

    python -m bench.train_tiny.figures [--weights FILE]

Builds the held-out library (`pixseek.demo.library`), ingests it once per patch mode into
its own data dir with `PIXSEEK_MODEL=pixseek-scenes PIXSEEK_PRETRAINED=<weights>`, then:

- `pixseek eval` on all data dirs side by side: one-thing text queries, image queries
  (an original finds its retake), region pointing and box IoU >= 0.5 on two-thing scenes;
- two-thing captions: recall@1/5 over the `pairs` bucket, semantic and hybrid;
- `pixseek duplicates`: precision and recall of the `similar` tier on the retakes, per
  patch mode (the layout check reads the stored patch tokens), and by CLS cosine alone.

Raw JSON goes to bench/out/tiny_figures.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from bench.common import OUT, unset_pixseek_settings
from pixseek.cli import main as cli
from pixseek.core.settings import get_settings
from pixseek.demo.library import Library, build_library, eval_queries
from pixseek.model.bundled import MEASURED_PATCH_MODES, SCENES_MODEL, SCENES_WEIGHTS
from pixseek.model.patch_tokens import PATCH_MODES


def _pixseek(env: dict[str, str | None], *args: str) -> Any:
    """`pixseek ARGS --json` in this process (the model loads once), with `env` as its environment."""
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, [*args, "--json"], env=env, catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"pixseek {' '.join(args)} failed:\n{result.output[-2000:]}")
    return json.loads(result.stdout)


def _two_thing_recall(env: dict[str, str | None], library: Library, mode: str) -> dict[str, float]:
    bucket = os.path.realpath(library.folder("pairs"))
    at1 = at5 = 0
    for scene in library.pairs:
        a, b = scene.layout.things
        text = f"a {a.name} and a {b.name}"
        hits = _pixseek(env, "search", text, "--bucket", bucket, "-k", "5", "--mode", mode)["results"]
        keys = [h["key"] for h in hits]
        at1 += keys[:1] == [scene.key]
        at5 += scene.key in keys
    return {"recall@1": at1 / len(library.pairs), "recall@5": at5 / len(library.pairs)}


def _similar(env: dict[str, str | None], library: Library, *, layout: bool = True) -> dict[str, float]:
    """Precision and recall of the `similar` tier on the retakes, over a full detection run.

    `precision`/`recall` count the pairs a group links at the similar tier (keeper and a
    member of tier `similar`), as the tests of meaning do; `group_precision` counts every
    pair of images inside any group (near groups too). `layout=False` is the rule before
    the layout check: CLS cosine alone.
    """
    bucket = os.path.realpath(library.folder("retakes"))
    truth = {frozenset({(bucket, a.key), (bucket, b.key)}) for a, b in library.retakes}
    run_env = {**env, "PIXSEEK_DUPLICATES__SIMILAR_LAYOUT": None if layout else "-1"}
    groups = _pixseek(run_env, "duplicates", "--full", "--limit", "1000")["groups"]
    grouped: set[frozenset[tuple[str, str]]] = set()
    linked: set[frozenset[tuple[str, str]]] = set()
    for group in groups:
        members = [(i["bucket"], i["key"]) for i in group["images"]]
        grouped |= {frozenset(p) for p in itertools.combinations(members, 2)}
        linked |= {
            frozenset({members[0], (i["bucket"], i["key"])})
            for i in group["images"][1:]
            if i["tier"] == "similar"
        }
    return {
        "groups": len(groups),
        "near_groups": sum(g["kind"] == "near" for g in groups),
        "similar_pairs": len(linked),
        "precision": len(linked & truth) / len(linked) if linked else 1.0,
        "recall": len(linked & truth) / len(truth),
        "group_precision": len(grouped & truth) / len(grouped) if grouped else 1.0,
        "group_recall": len(grouped & truth) / len(truth),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=SCENES_WEIGHTS)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the library and data dirs here")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the default patch mode only, nothing written",
    )
    args = parser.parse_args(argv)
    modes = ("clearclip",) if args.smoke else PATCH_MODES
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp)
        library = build_library(root / "library")
        base = unset_pixseek_settings(args.smoke)
        base.update(PIXSEEK_MODEL=SCENES_MODEL, PIXSEEK_PRETRAINED=str(args.weights), PIXSEEK_DEVICE="cpu")
        envs = {}
        for mode in modes:
            env = {**base, "PIXSEEK_DATA_DIR": str(root / f"data-{mode}"), "PIXSEEK_PATCH_MODE": mode}
            for folder in ("single", "pairs", "retakes"):
                _pixseek(env, "ingest", str(library.folder(folder)))
            envs[mode] = env
        queries = root / "queries.jsonl"
        queries.write_text(
            "".join(json.dumps(q) + "\n" for q in eval_queries(library, region_scenes=len(library.pairs)))
        )
        dirs = [arg for mode in modes for arg in ("--data-dir", str(root / f"data-{mode}"))]
        evaluation = _pixseek(envs["clearclip"], "eval", str(queries), *dirs)
        default = envs["clearclip"]
        figures = {
            "eval": evaluation,
            "two_things_semantic": _two_thing_recall(default, library, "semantic"),
            "two_things_hybrid": _two_thing_recall(default, library, "hybrid"),
        }
        # The similar tier on the tokens each patch mode stored; "similar" is the model's
        # default mode (the data dir a user gets), "similar_cls_only" the rule before the
        # layout check (its figures do not depend on the patch mode).
        by_mode = {mode: _similar(envs[mode], library) for mode in modes}
        figures["similar_cls_only"] = _similar(envs[modes[0]], library, layout=False)
        figures["similar"] = by_mode.get(MEASURED_PATCH_MODES[SCENES_MODEL], by_mode[modes[0]])
        figures["similar_by_patch_mode"] = by_mode
    if not args.smoke:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "tiny_figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    for run in evaluation["runs"]:
        text, image, region = (run["kinds"][k] for k in ("text", "image", "region"))
        sys.stdout.write(
            f"{run['patch_mode']:10s} text r@1 {text['recall@1']:.3f} r@5 {text['recall@5']:.3f}"
            f"  image r@1 {image['recall@1']:.3f}"
            f"  region pointing {region['pointing']:.3f} box IoU>=0.5 {region['box_iou50']:.3f}\n"
        )
    for name in ("two_things_semantic", "two_things_hybrid", "similar_cls_only", "similar"):
        sys.stdout.write(f"{name}: {json.dumps(figures[name])}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
