"""Patch tokens that localise: training-free variants of the last ViT block (open_clip).

CLIP's last-layer patch tokens say little about *where* a concept is: the residual stream
and the MLP of the last block carry mostly global information, and query-key attention in
that block lets every patch attend to the same few "global" tokens. Three published fixes
change only the last block, on the patch path, with no training:

- `maskclip` (Zhou et al., ECCV 2022): take the value embedding of each token through the
  attention's output projection; no attention mixing, no residual, no MLP.
- `clearclip` (Lan et al., ECCV 2024): query-query self-attention, then the output
  projection; the residual and the MLP of the last block are dropped.
- `sclip` (Wang et al., 2023): correlative self-attention, softmax(q q^T) + softmax(k k^T),
  added to the residual; the MLP of the last block is dropped.
- `plain`: the tokens exactly as the unmodified model gives them.

Whatever the mode, the pooled CLS embedding is the unmodified model's: the last block runs
once as usual for it, and once more in the chosen variant for the patches only. The extra
cost is one attention layer over the tokens of a batch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

import torch
import torch.nn.functional as F
from torch import nn

from pixseek.core.errors import ConfigError

if TYPE_CHECKING:
    from open_clip.transformer import VisionTransformer

PatchMode = Literal["clearclip", "maskclip", "sclip", "plain"]
PATCH_MODES: tuple[str, ...] = get_args(PatchMode)
DEFAULT_PATCH_MODE: PatchMode = "clearclip"


def check_patch_mode(mode: str) -> PatchMode:
    if mode not in PATCH_MODES:
        raise ConfigError(f"unknown patch mode {mode!r}; choose one of {', '.join(PATCH_MODES)}")
    return cast(PatchMode, mode)


def _qkv(attn: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """q, k, v as (B, heads, L, head_dim) from either attention module open_clip uses."""
    # Imported here, like the encoder does: open_clip takes seconds to import.
    from open_clip.transformer import Attention

    if isinstance(attn, nn.MultiheadAttention):
        if not attn._qkv_same_embed_dim or attn.in_proj_weight is None:
            raise ConfigError("patch modes need an attention with one packed q/k/v projection")
        heads = int(attn.num_heads)
    elif isinstance(attn, Attention):
        # Scaled-cosine attention and per-head scales change what q.k means; refuse them
        # rather than compute something that only looks like the published method.
        if attn.logit_scale is not None or attn.head_scale is not None:
            raise ConfigError("patch modes do not support scaled-cosine or head-scaled attention")
        heads = int(attn.num_heads)
    else:
        raise ConfigError(f"unsupported attention module {type(attn).__name__}")
    weight = attn.in_proj_weight.to(x.dtype)
    bias = attn.in_proj_bias.to(x.dtype) if attn.in_proj_bias is not None else None
    q, k, v = F.linear(x, weight, bias).chunk(3, dim=-1)
    b, n, d = q.shape

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(b, n, heads, d // heads).transpose(1, 2)

    q, k, v = split(q), split(k), split(v)
    if isinstance(attn, Attention):
        q, k = attn.ln_q(q), attn.ln_k(k)
    return q, k, v, heads


def _out_proj(attn: Any, heads_out: torch.Tensor) -> torch.Tensor:
    """Merge heads (B, heads, L, hd) -> (B, L, D) and apply the attention's output projection."""
    from open_clip.transformer import Attention

    b, h, n, hd = heads_out.shape
    merged = heads_out.transpose(1, 2).reshape(b, n, h * hd)
    if isinstance(attn, Attention):
        merged = attn.ln_inner(merged)
    out_proj = attn.out_proj
    weight = out_proj.weight.to(merged.dtype)
    bias = out_proj.bias.to(merged.dtype) if out_proj.bias is not None else None
    return F.linear(merged, weight, bias)


def _self_attention(a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(a a^T / sqrt(d)) v, per head."""
    scale = 1.0 / math.sqrt(a.shape[-1])
    weights = torch.softmax((a @ a.transpose(-1, -2)) * scale, dim=-1)
    return weights @ v


def last_block_variant(block: Any, x: torch.Tensor, mode: PatchMode) -> torch.Tensor:
    """The last residual block's output under `mode` (not `plain`), for (B, L, D) tokens.

    Computed in float32: it is one layer, and softmax over raw q.q products in fp16 would
    overflow on large activations.
    """
    x = x.float()
    ln_1 = block.ln_1
    h = F.layer_norm(x, ln_1.normalized_shape, ln_1.weight.float(), ln_1.bias.float(), ln_1.eps)
    attn = block.attn
    q, k, v, _ = _qkv(attn, h)
    if mode == "maskclip":
        mixed = v
    elif mode == "clearclip":
        mixed = _self_attention(q, v)
    elif mode == "sclip":
        mixed = _self_attention(q, v) + _self_attention(k, v)
    else:
        raise ValueError(f"no last-block variant for mode {mode!r}")
    out = _out_proj(attn, mixed)
    # Custom blocks normalise the attention output, and LayerScale rescales it per channel.
    ln_attn = getattr(block, "ln_attn", None)
    if ln_attn is not None and not isinstance(ln_attn, nn.Identity):
        out = F.layer_norm(
            out, ln_attn.normalized_shape, ln_attn.weight.float(), ln_attn.bias.float(), ln_attn.eps
        )
    if not isinstance(block.ls_1, nn.Identity):
        out = out * block.ls_1.gamma.float()
    # SCLIP keeps the residual stream; MaskCLIP and ClearCLIP drop it (it carries mostly
    # global content and is what blurs the map). None keeps the MLP.
    return x + out if mode == "sclip" else out


def _embeds(visual: VisionTransformer, pixels: torch.Tensor) -> torch.Tensor:
    """`visual._embeds`, for inputs of any size: position embeddings resized to the input's grid.

    At the model's own input size this is `visual._embeds` exactly. For another grid the
    patch position embeddings are interpolated bicubically (as ViTs are fine-tuned at
    higher resolutions); the class token's stays as it is.
    """
    if tuple(pixels.shape[-2:]) == tuple(visual.image_size):
        return visual._embeds(pixels)
    x = visual.conv1(pixels)
    b, width, gh, gw = x.shape
    x = x.reshape(b, width, gh * gw).permute(0, 2, 1)
    cls_token = visual.class_embedding.to(x.dtype).reshape(1, 1, width).expand(b, 1, width)
    x = torch.cat([cls_token, x], dim=1)
    pos = visual.positional_embedding.to(x.dtype)
    own_h, own_w = visual.grid_size
    grid = pos[1:].reshape(1, own_h, own_w, width).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(gh * gw, width).to(x.dtype)
    x = x + torch.cat([pos[:1], grid], dim=0)
    x = visual.patch_dropout(x)
    result: torch.Tensor = visual.ln_pre(x)
    return result


def encode_with_patch_mode(
    visual: VisionTransformer, pixels: torch.Tensor, mode: PatchMode
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled CLS embedding and projected patch tokens of an open_clip ViT.

    Args:
        visual: the model's vision tower (`model.visual`), a VisionTransformer with a class
            token and no attentional pooler.
        pixels: (B, 3, H, W) preprocessed images, in the tower's dtype and device; at the
            model's input size (S, S) or, with interpolated position embeddings, any
            multiple of the patch size.
        mode: `plain`, `maskclip`, `clearclip` or `sclip` (see the module docstring).

    Returns:
        `(pooled, patches)`: pooled (B, D_out) exactly as `visual(pixels)` gives it, and
        patches (B, grid_h * grid_w, D_out) in row-major cell order, projected into the
        joint image-text space but not normalised.

    Raises:
        ConfigError: the tower's last block uses an attention this module cannot rewrite.
    """
    transformer = visual.transformer
    if not transformer.batch_first:
        raise ConfigError("patch modes need a batch-first vision transformer (open_clip >= 2.24)")
    # The same steps as VisionTransformer.forward, with the input of the last block kept.
    x = _embeds(visual, pixels)
    blocks = list(transformer.resblocks)
    for block in blocks[:-1]:
        x = block(x)
    last: Any = blocks[-1]
    pooled, tokens = visual._pool(last(x))
    proj = visual.proj
    if proj is not None:
        pooled = pooled @ proj
    if mode == "plain":
        return pooled, (tokens @ proj if proj is not None else tokens)
    variant = last_block_variant(last, x, mode)
    ln_post: Any = visual.ln_post
    normed = F.layer_norm(
        variant, ln_post.normalized_shape, ln_post.weight.float(), ln_post.bias.float(), ln_post.eps
    )
    patches = normed[:, 1:]
    if proj is not None:
        patches = patches @ proj.float()
    return pooled, patches
