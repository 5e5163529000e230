"""The bundled checkpoint: small, loadable the way a user loads a local checkpoint, and meaningful."""

from __future__ import annotations

import numpy as np
import torch

from pixseek.core.settings import Settings
from pixseek.demo.scenes import Layout, Thing, render
from pixseek.model.bundled import SCENES_MODEL, SCENES_WEIGHTS
from pixseek.model.encoder import Encoder, get_encoder

MAX_BYTES = 5 * 1024 * 1024


def test_the_checkpoint_is_small_fp16_and_loads_as_given(meaning: Settings) -> None:
    assert SCENES_WEIGHTS.stat().st_size <= MAX_BYTES
    state = torch.load(SCENES_WEIGHTS, map_location="cpu", weights_only=True)
    assert {t.dtype for t in state.values()} == {torch.float16}
    # PIXSEEK_MODEL / PIXSEEK_PRETRAINED=<file>: the encoder holds exactly the file's weights.
    encoder = get_encoder(meaning)
    assert (encoder.model_name, encoder.pretrained) == (SCENES_MODEL, str(SCENES_WEIGHTS))
    assert not encoder.random_weights
    loaded = encoder.model.state_dict()
    assert set(loaded) == set(state)
    for name, tensor in state.items():
        assert torch.equal(loaded[name].to(torch.float16), tensor), name


def test_text_and_image_towers_agree_on_what_a_picture_shows() -> None:
    encoder = Encoder(SCENES_MODEL, str(SCENES_WEIGHTS), device="cpu", precision="fp32")
    # Two colours, two shapes each: neither colour nor shape alone tells them apart.
    kinds = [("red", "circle"), ("red", "square"), ("blue", "circle"), ("blue", "square")]
    pictures = [
        render(Layout((Thing(shape, colour, "big", (0.3, 0.3, 0.68, 0.68)),), "noise", 7), 160)
        for colour, shape in kinds
    ]
    pixels = np.stack([encoder.preprocessor(p, p.size)[0] for p in pictures])
    images = encoder.encode_pixels(pixels).cls
    texts = encoder.encode_texts([f"a photo of a {colour} {shape}." for colour, shape in kinds])
    assert (texts @ images.T).argmax(axis=1).tolist() == [0, 1, 2, 3]
