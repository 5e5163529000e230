"""The model that ships with pixseek: a tiny CLIP trained on generated scenes (docs/tiny-model.md).

It knows only coloured shapes ("a red circle left of a blue square"), but it knows them, so
the demo and the tests of meaning get real results offline. It loads like any local
checkpoint: `PIXSEEK_MODEL=pixseek-scenes PIXSEEK_PRETRAINED=<SCENES_WEIGHTS>`.
"""

from __future__ import annotations

from pathlib import Path

SCENES_MODEL = "pixseek-scenes"
SCENES_WEIGHTS = Path(__file__).resolve().parent / "weights" / "pixseek-scenes.pt"
