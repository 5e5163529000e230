"""CLIP's text tower run on the tokens up to the longest end-of-text only.

The text tower is causal and pools the end-of-text token, so the padding after it cannot
change the result: running 77 positions for a 10-token query is ~7x the work for the same
vector (equal up to float rounding, checked in the tests). One module does it, so torch and
the OpenVINO conversion (`openvino_tower.load_text_tower`) run the same graph.
"""

from __future__ import annotations

from typing import Any

import torch


def supports_short_text(model: torch.nn.Module) -> bool:
    """True for CLIP text towers with a causal mask and end-of-text (argmax) pooling."""
    import open_clip

    mask = getattr(model, "attn_mask", None)
    if not isinstance(model, open_clip.CLIP) or model.text_pool_type != "argmax" or mask is None:
        return False
    size = mask.shape[-1]
    causal = torch.triu(torch.ones(size, size, dtype=torch.bool, device=mask.device), diagonal=1)
    return bool(torch.equal(torch.isinf(mask), causal))


def trim(tokens: torch.Tensor) -> torch.Tensor:
    """The tokens up to the batch's longest end-of-text (the largest token id), inclusive."""
    length = int(tokens.argmax(dim=-1).max()) + 1
    return tokens[:, :length]


class ShortText(torch.nn.Module):
    """`CLIP.encode_text` for trimmed tokens (B, L), L <= the context length.

    It holds the CLIP model's own text modules (shared, not copied), so casting or moving
    the model moves it too.
    """

    # open_clip is untyped: its CLIP's parts are whatever the model config built.
    token_embedding: Any
    positional_embedding: Any
    transformer: Any
    ln_final: Any
    text_projection: Any
    attn_mask: Any

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.token_embedding = model.token_embedding
        self.positional_embedding = model.positional_embedding
        self.transformer = model.transformer
        self.ln_final = model.ln_final
        self.text_projection = model.text_projection
        self.register_buffer("attn_mask", model.attn_mask, persistent=False)
        self.vocab_size = int(model.vocab_size)
        self.context_length = int(model.context_length)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        last = tokens.argmax(dim=-1)  # the end-of-text token has the largest id
        cast_dtype = self.transformer.get_cast_dtype()
        x = self.token_embedding(tokens).to(cast_dtype)
        x = x + self.positional_embedding[:length].to(cast_dtype)
        x = self.transformer(x, attn_mask=self.attn_mask[:length, :length])
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), last]
        projection = self.text_projection
        if projection is None:
            return x
        return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
