"""The patch-token variants against the unmodified model and against a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from open_clip.transformer import VisionTransformer

from pixseek.core.errors import ConfigError
from pixseek.model.encoder import Encoder
from pixseek.model.patch_tokens import PATCH_MODES, encode_with_patch_mode

WIDTH, HEADS, OUT = 16, 2, 12


def make_vit(layers: int = 2, seed: int = 0) -> VisionTransformer:
    torch.manual_seed(seed)
    vit = VisionTransformer(
        image_size=32, patch_size=8, width=WIDTH, layers=layers, heads=HEADS, mlp_ratio=2.0, output_dim=OUT
    ).eval()
    # Non-trivial norms and biases, so that a reference that forgot one would disagree.
    with torch.no_grad():
        for module in vit.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        for block in vit.transformer.resblocks:
            block.attn.in_proj_bias.uniform_(-0.3, 0.3)
            block.attn.out_proj.bias.uniform_(-0.3, 0.3)
    return vit


def pixels(seed: int = 1, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def reference(vit: VisionTransformer, x_last: np.ndarray, mode: str) -> np.ndarray:
    """The published recipes written out in numpy, from the input of the last block."""
    block = vit.transformer.resblocks[-1]
    p = {k: v.detach().double().numpy() for k, v in block.state_dict().items()}
    h = layer_norm(x_last, p["ln_1.weight"], p["ln_1.bias"], block.ln_1.eps)
    qkv = h @ p["attn.in_proj_weight"].T + p["attn.in_proj_bias"]
    q, k, v = np.split(qkv, 3, axis=-1)
    b, n, d = q.shape
    hd = d // HEADS

    def heads(t: np.ndarray) -> np.ndarray:
        return t.reshape(b, n, HEADS, hd).transpose(0, 2, 1, 3)

    q, k, v = heads(q), heads(k), heads(v)
    if mode == "maskclip":
        mixed = v
    elif mode == "clearclip":
        mixed = softmax(q @ q.transpose(0, 1, 3, 2) / np.sqrt(hd)) @ v
    else:
        mixed = (
            softmax(q @ q.transpose(0, 1, 3, 2) / np.sqrt(hd))
            + softmax(k @ k.transpose(0, 1, 3, 2) / np.sqrt(hd))
        ) @ v
    merged = mixed.transpose(0, 2, 1, 3).reshape(b, n, d)
    out = merged @ p["attn.out_proj.weight"].T + p["attn.out_proj.bias"]
    if mode == "sclip":
        out = x_last + out
    post = vit.ln_post
    normed = layer_norm(
        out, post.weight.detach().double().numpy(), post.bias.detach().double().numpy(), post.eps
    )
    result: np.ndarray = normed[:, 1:] @ vit.proj.detach().double().numpy()
    return result


def last_block_input(vit: VisionTransformer, px: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        x = vit._embeds(px)
        for block in vit.transformer.resblocks[:-1]:
            x = block(x)
    return x.double().numpy()


def test_plain_mode_reproduces_the_unmodified_model_exactly() -> None:
    vit = make_vit()
    px = pixels()
    with torch.no_grad():
        vit.output_tokens = True
        pooled_ref, tokens_ref = vit(px)
        pooled, patches = encode_with_patch_mode(vit, px, "plain")
    assert torch.equal(pooled, pooled_ref)
    assert torch.equal(patches, tokens_ref @ vit.proj)


@pytest.mark.parametrize("mode", ["maskclip", "clearclip", "sclip"])
def test_variant_matches_numpy_reference_and_keeps_cls(mode: str) -> None:
    vit = make_vit()
    px = pixels()
    with torch.no_grad():
        pooled_plain, _ = encode_with_patch_mode(vit, px, "plain")
        pooled, patches = encode_with_patch_mode(vit, px, mode)  # type: ignore[arg-type]
    assert patches.shape == (2, 16, OUT)
    assert torch.equal(pooled, pooled_plain)  # the CLS embedding never depends on the mode
    expected = reference(vit, last_block_input(vit, px), mode)
    np.testing.assert_allclose(patches.double().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_maskclip_with_identity_weights_is_the_normalised_input() -> None:
    # With identity projections and unit norms, MaskCLIP's path is LN_post(LN_1(x)) = LN(x),
    # which can be computed by hand from the input of the last block.
    vit = VisionTransformer(
        image_size=32, patch_size=8, width=WIDTH, layers=2, heads=HEADS, mlp_ratio=2.0, output_dim=WIDTH
    ).eval()
    block = vit.transformer.resblocks[-1]
    with torch.no_grad():
        block.attn.in_proj_weight.copy_(torch.cat([torch.eye(WIDTH)] * 3))
        block.attn.in_proj_bias.zero_()
        block.attn.out_proj.weight.copy_(torch.eye(WIDTH))
        block.attn.out_proj.bias.zero_()
        vit.proj.copy_(torch.eye(WIDTH))
        _, patches = encode_with_patch_mode(vit, pixels(), "maskclip")
    x = last_block_input(vit, pixels())[:, 1:]
    by_hand = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)
    np.testing.assert_allclose(patches.double().numpy(), by_hand, rtol=1e-3, atol=1e-3)


def test_maskclip_on_one_layer_keeps_each_token_to_its_own_patch() -> None:
    # With a single block there is no earlier mixing, and MaskCLIP's last block mixes none:
    # changing the pixels of one patch must change that patch's token and no other.
    vit = make_vit(layers=1)
    px = pixels(batch=1)
    changed = px.clone()
    changed[:, :, 8:16, 16:24] += 3.0  # cell (row 1, col 2) of the 4x4 grid
    with torch.no_grad():
        _, before = encode_with_patch_mode(vit, px, "maskclip")
        _, after = encode_with_patch_mode(vit, changed, "maskclip")
    moved = (after - before).abs().amax(-1)[0].reshape(4, 4)
    assert moved[1, 2] > 1e-3
    moved[1, 2] = 0
    assert float(moved.max()) == 0.0
    with torch.no_grad():
        _, mixed = encode_with_patch_mode(vit, changed, "clearclip")
        _, mixed_before = encode_with_patch_mode(vit, px, "clearclip")
    assert int(((mixed - mixed_before).abs().amax(-1) > 1e-6).sum()) > 1  # attention does mix


@pytest.mark.parametrize("mode", PATCH_MODES)
def test_encoder_gives_unit_patches_and_the_same_cls_in_every_mode(mode: str) -> None:
    enc = Encoder("pixseek-tiny", "none", device="cpu", precision="fp32")
    px = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    out = enc.encode_pixels(px, mode)  # type: ignore[arg-type]
    plain = enc.encode_pixels(px, "plain")
    assert out.patches.shape == (2, 4, 4, 64) and out.patches.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(out.patches.astype(np.float32), axis=-1), 1.0, atol=2e-3)
    np.testing.assert_array_equal(out.cls, plain.cls)


def test_unknown_patch_mode_is_refused() -> None:
    enc = Encoder("pixseek-tiny", "none", device="cpu", precision="fp32")
    with pytest.raises(ConfigError, match="unknown patch mode"):
        enc.encode_pixels(np.zeros((1, 3, 64, 64), np.float32), "best")  # type: ignore[arg-type]
