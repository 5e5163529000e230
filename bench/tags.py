"""`python -m bench.tags`: which rule turns tag scores into tags, measured on scenes with known tags.

The bundled tiny model (`pixseek-scenes`) embeds held-out generated scenes; the vocabulary is
their colours and shapes (`pixseek/demo/tags.py`), so every scene's true tags are known.
Three rules, each scored by precision, recall and F1 over all (scene, tag) pairs, with its
threshold tuned for the best F1 on half the scenes and measured on the other half:

- baseline `cosine`: one global threshold on the cosine similarity to each category's text
  embedding;
- `catalog_z`: per category, the cosine as a z-score against the catalog's own distribution
  (that category's mean and deviation over every image);
- `softmax` (pixseek's rule, `ingest/tagging.py`): the probability of the category among the
  vocabulary at the model's logit scale; `softmax_fixed` is the same rule at the threshold the
  scene vocabulary ships with (`pixseek/demo/tags.py`, chosen on other scenes).

Each runs on a balanced catalog and on a skewed one (every scene with something red, plus
one in ten of the others): a rule that leans on the catalog's distribution suffers there.

`--smoke`: 40 scenes, seconds; figures mean nothing.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from bench.common import add_smoke_flag, machine, output_dir, say, write_json
from pixseek.demo.scenes import random_layout, render
from pixseek.demo.tags import SCENE_THRESHOLD, scene_tags, scene_vocabulary
from pixseek.index.catalog.vocabulary import Vocabulary, load_vocabulary
from pixseek.model.bundled import SCENES_MODEL, SCENES_WEIGHTS
from pixseek.model.encoder import Encoder

SEED = 4_242


def _vocabulary(folder: Any) -> Vocabulary:
    import json

    path = folder / "tags.json"
    path.write_text(json.dumps(scene_vocabulary()), encoding="utf-8")
    return load_vocabulary(path)


def _prompt_matrix(encoder: Encoder, vocabulary: Vocabulary) -> np.ndarray:
    rows = []
    for category in vocabulary.categories:
        mean = encoder.encode_texts(category.texts()).astype(np.float64).mean(axis=0)
        rows.append(mean / np.linalg.norm(mean))
    return np.stack(rows)


def prf(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Micro precision, recall, F1, and the worst category's F1."""
    tp, fp, fn = (pred & truth).sum(0), (pred & ~truth).sum(0), (~pred & truth).sum(0)
    p = float(tp.sum() / max((tp + fp).sum(), 1))
    r = float(tp.sum() / max((tp + fn).sum(), 1))
    per = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-12), "worst_f1": float(per.min())}


def _best(score: np.ndarray, truth: np.ndarray, grid: np.ndarray) -> tuple[float, dict[str, float]]:
    results = [(float(g), prf(score >= g, truth)) for g in grid]
    return max(results, key=lambda r: r[1]["f1"])


def _scores(sims: np.ndarray, scale: float) -> dict[str, np.ndarray]:
    logits = scale * sims
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    z = (sims - sims.mean(0)) / np.maximum(sims.std(0), 1e-9)  # against this catalog's distribution
    return {"cosine": sims, "catalog_z": z, "softmax": probs}


GRIDS = {
    "cosine": np.linspace(0.0, 1.0, 201),
    "catalog_z": np.linspace(-2, 4, 121),
    "softmax": np.linspace(0.005, 0.5, 100),
}


def evaluate(sims: np.ndarray, truth: np.ndarray, scale: float, tune: np.ndarray) -> dict[str, Any]:
    """Each rule with its threshold tuned on the scenes `tune` selects, measured on the others;
    and pixseek's softmax rule at the vocabulary's fixed threshold."""
    scores = _scores(sims, scale)
    test = ~tune
    out: dict[str, Any] = {}
    for rule, score in scores.items():
        threshold, _ = _best(score[tune], truth[tune], GRIDS[rule])
        out[rule] = {**prf(score[test] >= threshold, truth[test]), "threshold": threshold}
    fixed = scores["softmax"][test] >= SCENE_THRESHOLD
    out["softmax_fixed"] = {**prf(fixed, truth[test]), "threshold": SCENE_THRESHOLD}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=600, help="held-out scenes")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    count = 40 if args.smoke else args.scenes
    encoder = Encoder(SCENES_MODEL, str(SCENES_WEIGHTS), device="cpu", precision="fp32")
    rng = np.random.default_rng(SEED)
    layouts = [random_layout(rng) for _ in range(count)]
    pixels = []
    for layout in layouts:
        img = render(layout, 160)
        pixels.append(encoder.preprocessor(img, img.size)[0])
    images = np.concatenate(
        [encoder.encode_pixels(np.stack(pixels[i : i + 64])).cls for i in range(0, count, 64)]
    ).astype(np.float64)
    with output_dir(args.smoke, "tags") as folder:
        vocabulary = _vocabulary(folder)
        prompts = _prompt_matrix(encoder, vocabulary)
        truth = np.array([[n in scene_tags(layout) for n in vocabulary.names] for layout in layouts])
        sims = images @ prompts.T
        red = truth[:, vocabulary.names.index("red")]
        skewed = red | (np.arange(count) % 10 == 0)
        tune = np.arange(count) % 2 == 0  # thresholds tuned on even scenes, measured on odd ones
        report: dict[str, Any] = {
            "machine": machine(),
            "scenes": count,
            "tags": vocabulary.names,
            "logit_scale": encoder.logit_scale,
            "balanced": evaluate(sims, truth, encoder.logit_scale, tune),
            "skewed": {
                "red_share": float(red[skewed].mean()),
                **evaluate(sims[skewed], truth[skewed], encoder.logit_scale, tune[skewed]),
            },
        }
        write_json("tags.json", report, folder)
    say(f"# tags on {count} held-out scenes, {machine()['cpu']}\n")
    say("| catalog | rule | threshold | precision | recall | F1 | worst tag F1 | F1 / cosine |\n")
    say("|---|---|---|---|---|---|---|---|\n")
    for catalog in ("balanced", "skewed"):
        rows = report[catalog]
        for rule in ("cosine", "catalog_z", "softmax", "softmax_fixed"):
            r = rows[rule]
            ratio = r["f1"] / max(rows["cosine"]["f1"], 1e-12)
            say(
                f"| {catalog} | {rule} | {r['threshold']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} "
                f"| {r['f1']:.3f} | {r['worst_f1']:.2f} | {ratio:.2f} |\n"
            )
    return report


if __name__ == "__main__":
    main()
