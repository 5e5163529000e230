"""Our preprocessing reproduces open_clip's eval transform, and knows where its crop sits."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
from PIL import Image

from pixseek.model.encoder import MODEL_CONFIG_DIR, Encoder
from pixseek.model.preprocess import Preprocessor
from tests.support.images import pattern


@pytest.fixture(scope="module")
def open_clip_eval_transform() -> object:
    open_clip.add_model_config(MODEL_CONFIG_DIR)
    _, _, transform = open_clip.create_model_and_transforms("pixseek-tiny", pretrained=None)
    return transform


@pytest.fixture(scope="module")
def preprocessor() -> Preprocessor:
    """The preprocessor the encoder builds from the model's own config."""
    return Encoder("pixseek-tiny", "none", device="cpu", precision="fp32").preprocessor


@pytest.mark.parametrize("size", [(96, 64), (64, 96), (123, 57), (1000, 301), (31, 200), (64, 64), (30, 20)])
def test_matches_open_clip_eval_transform(
    open_clip_eval_transform: object, preprocessor: Preprocessor, size: tuple[int, int]
) -> None:
    img = pattern(3, size)
    expected = open_clip_eval_transform(img).numpy()  # type: ignore[operator]
    pixels, _ = preprocessor(img, size)
    assert pixels.dtype == np.float32
    assert pixels.shape == (3, 64, 64)
    assert pixels.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(pixels, expected, atol=1e-5)


def test_smooth_photo_like_image_matches_too(
    open_clip_eval_transform: object, preprocessor: Preprocessor
) -> None:
    yy, xx = np.mgrid[0:173, 0:311]
    arr = np.stack([(xx * 0.8) % 256, (yy * 1.3) % 256, (xx + yy) % 256], axis=-1).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    expected = open_clip_eval_transform(img).numpy()  # type: ignore[operator]
    np.testing.assert_allclose(preprocessor(img, img.size)[0], expected, atol=1e-5)


def test_geometry_locates_the_centre_crop_in_displayed_pixels(preprocessor: Preprocessor) -> None:
    _, geometry = preprocessor(pattern(1, (200, 100)), (200, 100))
    assert geometry.scale == pytest.approx(64 / 100)
    assert geometry.left == pytest.approx(50.0)
    assert geometry.top == pytest.approx(0.0)
    assert geometry.size == pytest.approx(100.0)


def test_geometry_is_in_full_resolution_for_a_reduced_decode(preprocessor: Preprocessor) -> None:
    full = preprocessor(pattern(1, (400, 200)), (400, 200))[1]
    reduced = preprocessor(pattern(1, (200, 100)), (400, 200))[1]
    assert reduced.scale == pytest.approx(full.scale)
    assert reduced.left == pytest.approx(full.left)
    assert reduced.size == pytest.approx(full.size) == 200.0
