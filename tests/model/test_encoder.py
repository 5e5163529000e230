"""The encoder: unit CLS and patch embeddings on the patch grid, deterministic random weights."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch

from pixseek.core.errors import ConfigError
from pixseek.core.settings import Settings
from pixseek.model.encoder import MODEL_CONFIG_DIR, RANDOM_WEIGHTS_SEED, Encoder, get_encoder
from tests.support.images import pattern


def make_encoder(pretrained: str = "none") -> Encoder:
    return Encoder("pixseek-tiny", pretrained, device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return make_encoder()


@pytest.fixture(scope="module")
def pixels(encoder: Encoder) -> np.ndarray:
    images = [pattern(seed, (96, 64)) for seed in range(3)]
    return np.stack([encoder.preprocessor(img, img.size)[0] for img in images])


def test_tiny_model_shape(encoder: Encoder) -> None:
    assert encoder.image_size == 64
    assert encoder.grid == (4, 4)
    assert encoder.dim == 64
    assert encoder.model_id.key == "pixseek-tiny/none"
    assert encoder.random_weights


def test_cls_and_patches_are_unit_vectors_on_the_grid(encoder: Encoder, pixels: np.ndarray) -> None:
    out = encoder.encode_pixels(pixels)
    assert out.cls.shape == (3, 64) and out.cls.dtype == np.float32
    assert out.patches.shape == (3, 4, 4, 64) and out.patches.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(out.cls, axis=1), 1.0, atol=1e-5)
    norms = np.linalg.norm(out.patches.astype(np.float32), axis=-1)
    np.testing.assert_allclose(norms, 1.0, atol=2e-3)
    # Different images, different embeddings; different cells of one image, different patches.
    assert not np.allclose(out.cls[0], out.cls[1])
    assert not np.allclose(out.patches[0, 0, 0], out.patches[0, 3, 3])


def test_cls_is_open_clips_own_image_embedding(encoder: Encoder, pixels: np.ndarray) -> None:
    open_clip.add_model_config(MODEL_CONFIG_DIR)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_WEIGHTS_SEED)
        reference, _, _ = open_clip.create_model_and_transforms("pixseek-tiny", pretrained=None)
    with torch.inference_mode():
        expected = reference.eval().encode_image(torch.from_numpy(pixels), normalize=True).numpy()
    np.testing.assert_allclose(encoder.encode_pixels(pixels).cls, expected, atol=1e-5)


def test_patches_are_last_layer_tokens_through_final_norm_and_projection(
    encoder: Encoder, pixels: np.ndarray
) -> None:
    visual = encoder.model.visual
    captured: list[torch.Tensor] = []
    handle = visual.ln_post.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        out = encoder.encode_pixels(pixels[:1], "plain")
    finally:
        handle.remove()
    tokens = captured[0][0, 1:]  # drop the class token
    assert visual.proj is not None
    with torch.inference_mode():
        expected = torch.nn.functional.normalize(tokens @ visual.proj, dim=-1).reshape(4, 4, 64).numpy()
    np.testing.assert_allclose(out.patches[0].astype(np.float32), expected, atol=2e-3)


def test_two_encoders_get_the_same_random_weights(encoder: Encoder, pixels: np.ndarray) -> None:
    torch.manual_seed(12345)  # whatever the global RNG says
    other = make_encoder()
    np.testing.assert_array_equal(encoder.encode_pixels(pixels).cls, other.encode_pixels(pixels).cls)
    np.testing.assert_array_equal(encoder.encode_texts(["a dog"]), other.encode_texts(["a dog"]))


def test_building_an_encoder_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    make_encoder()
    assert torch.equal(torch.rand(3), expected)


def test_text_embeddings_are_unit_rows_in_the_image_space(encoder: Encoder) -> None:
    feats = encoder.encode_texts(["a dog", "a red car on a street", ""])
    assert feats.shape == (3, 64) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(feats[0], feats[1])


def test_random_weights_are_announced(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pixseek.model.encoder"):
        make_encoder()
    assert any("model.random_weights" in r.getMessage() for r in caplog.records)


def test_local_checkpoint_file_loads_offline(encoder: Encoder, pixels: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    torch.save(encoder.model.state_dict(), path)
    loaded = make_encoder(str(path))
    assert not loaded.random_weights
    assert loaded.model_id.key == f"pixseek-tiny/{path}"
    np.testing.assert_allclose(loaded.encode_pixels(pixels).cls, encoder.encode_pixels(pixels).cls, atol=1e-6)


def test_missing_checkpoint_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="checkpoint file not found"):
        make_encoder(str(tmp_path / "missing.pt"))


def test_unknown_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown model"):
        Encoder("no-such-model", "none", device="cpu")


def test_get_encoder_is_cached_per_settings(settings: Settings) -> None:
    assert get_encoder(settings) is get_encoder(settings)
    assert get_encoder(settings).precision == "fp32"


def test_bf16_on_cpu_agrees_with_fp32(encoder: Encoder, pixels: np.ndarray) -> None:
    bf16 = Encoder("pixseek-tiny", "none", device="cpu", precision="bf16")
    out = bf16.encode_pixels(pixels)
    assert out.cls.dtype == np.float32 and out.patches.dtype == np.float16
    cosine = (out.cls * encoder.encode_pixels(pixels).cls).sum(axis=1)
    assert cosine.min() > 0.98
    text = (bf16.encode_texts(["a dog"]) * encoder.encode_texts(["a dog"])).sum()
    assert text > 0.98


@pytest.mark.gpu
def test_cuda_fp16_agrees_with_cpu_fp32(encoder: Encoder, pixels: np.ndarray) -> None:
    gpu = Encoder("pixseek-tiny", "none", device="cuda", precision="auto")
    assert (gpu.device, gpu.precision) == ("cuda", "fp16")
    out = gpu.encode_pixels(pixels)
    assert out.cls.shape == (3, 64) and out.patches.shape == (3, 4, 4, 64)
    assert (out.cls * encoder.encode_pixels(pixels).cls).sum(axis=1).min() > 0.99
    assert (gpu.encode_texts(["a dog"]) * encoder.encode_texts(["a dog"])).sum() > 0.99


def test_cuda_without_a_gpu_is_a_config_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="no CUDA device"):
        Encoder("pixseek-tiny", "none", device="cuda")
