"""The model that ships with pixseek: a tiny CLIP trained on generated scenes (docs/tiny-model.md).

It knows only coloured shapes ("a red circle left of a blue square"), but it knows them, so
the demo and the tests of meaning get real results offline. It loads like any local
checkpoint: `PIXSEEK_MODEL=pixseek-scenes PIXSEEK_PRETRAINED=<SCENES_WEIGHTS>`.
"""

from __future__ import annotations

from pathlib import Path

SCENES_MODEL = "pixseek-scenes"
SCENES_WEIGHTS = Path(__file__).resolve().parent / "weights" / "pixseek-scenes.pt"

# How each model's patch tokens localise best, where measured (docs/regions.md): with the
# bundled scenes model MaskCLIP boxes the named thing at IoU >= 0.5 in 0.80 of held-out
# two-thing scenes and ClearCLIP in 0.66. Any other model gets ClearCLIP, the best of the
# three on the published open-vocabulary segmentation benchmarks with pretrained CLIPs.
MEASURED_PATCH_MODES: dict[str, str] = {SCENES_MODEL: "maskclip"}
PUBLISHED_BEST_PATCH_MODE = "clearclip"


def recommended_patch_mode(model: str) -> str:
    """The patch mode a new data dir uses for `model` when `PIXSEEK_PATCH_MODE` is not set."""
    return MEASURED_PATCH_MODES.get(model, PUBLISHED_BEST_PATCH_MODE)
