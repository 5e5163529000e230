"""pixseek's fast preprocessing (JPEG draft decode, box resize, LUT normalise) against
open_clip's own eval transform: on real photos the embeddings must stay within the bound
that docs/performance.md states."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from pixseek.media.decode import decode_image
from pixseek.model.encoder import Encoder
from pixseek.model.preprocess import Preprocessor
from tests.support.datasets import shared_dataset

# Documented in docs/performance.md: the worst photo measured 0.996, the mean 0.9998.
MIN_COSINE = 0.99


def _photos() -> list[Path]:
    return sorted(shared_dataset("coco-mini-train").glob("*.jpg"))[:12]


def _jpeg(img: Image.Image, long_side: int) -> bytes:
    scale = long_side / max(img.size)
    resized = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    resized.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.slow
def test_fast_preprocess_embeddings_match_open_clip_transform() -> None:
    photos = _photos()
    import open_clip

    encoder = Encoder("ViT-B-32", "none", device="cpu", precision="fp32")
    _, _, reference = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    ours, theirs = [], []
    for i, path in enumerate(photos):
        with Image.open(path) as im:
            data = _jpeg(im.convert("RGB"), (640, 1280, 2000)[i % 3])
        decoded = decode_image(data, max_pixels=10**9, draft_size=encoder.image_size * 2)
        ours.append(encoder.preprocessor(decoded.image, (decoded.width, decoded.height))[0])
        theirs.append(reference(Image.open(io.BytesIO(data))).numpy())
    a = encoder.encode_pixels(np.stack(ours)).cls
    b = encoder.encode_pixels(np.stack(theirs)).cls
    cosines = (a * b).sum(axis=1)
    assert cosines.min() >= MIN_COSINE, cosines
    # The bound means something only if different photos are further apart than that.
    between = b @ b.T
    assert np.median(between[~np.eye(len(b), dtype=bool)]) < 0.95


def test_box_resize_matches_resize_then_crop() -> None:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (300, 500, 3), dtype=np.uint8))
    img = noise.filter(ImageFilter.GaussianBlur(2))
    pre = Preprocessor(image_size=64, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    fast, geometry = pre(img, img.size)
    nw = int(64 * 500 / 300)
    full = img.resize((nw, 64), Image.Resampling.BICUBIC)
    left = round((nw - 64) / 2.0)
    expected = np.asarray(full.crop((left, 0, left + 64, 64)), dtype=np.float32).transpose(2, 0, 1) / 255.0
    expected = (expected - 0.5) / 0.25
    # Within two 8-bit levels: the two paths round to uint8 at slightly different points.
    assert np.abs(fast - expected).max() <= 2 / 255 / 0.25 + 1e-6
    assert fast.dtype == np.float32 and fast.shape == (3, 64, 64) and fast.flags.c_contiguous
    assert geometry.left == pytest.approx(left * 500 / nw)


def test_lut_normalisation_is_exact() -> None:
    img = Image.fromarray(np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3))
    pre = Preprocessor(image_size=64, mean=(0.48, 0.45, 0.40), std=(0.26, 0.26, 0.27))
    out, _ = pre(img, img.size)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    expected = ((arr - np.array(pre.mean, np.float32)) / np.array(pre.std, np.float32)).transpose(2, 0, 1)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert torch.from_numpy(out).is_contiguous()
