"""An uploaded picture embedded as ingest would embed it: its CLS vector and its patch grid.

The upload check (check.py) compares a picture that is not in the collection with those
that are. Its `similar` tier checks layout on patch tokens (layout.py) against the grids
ingest stored, so the upload's grid is made the same way: the same model, patch mode and
coverage (tiles over the whole picture by default, or the centre square), from a decode
as large as ingest's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixseek.core.settings import Settings
from pixseek.index.patch_sync import effective_patch_mode, store_patch_mode
from pixseek.media.decode import decode_image
from pixseek.model.encoder import Encoder
from pixseek.model.patch_tokens import check_patch_mode
from pixseek.model.tiling import Coverage


@dataclass(frozen=True)
class UploadEmbedding:
    cls: np.ndarray  # (D,) float32, unit
    patches: np.ndarray  # (rows, cols, D) float16 unit vectors, as the patch store holds them


def embed_upload(settings: Settings, encoder: Encoder, data: bytes) -> UploadEmbedding:
    """The CLS vector and patch grid of `data` (raises UnsupportedImage when it does not decode)."""
    coverage = Coverage.of(settings, encoder.image_size, encoder.grid[0])
    # The stored tokens' mode first: they are what the upload is compared with (a setting
    # that differs from the store is refused by ingest, not by a read-only check).
    patch_mode = check_patch_mode(store_patch_mode(settings.patch_dir) or effective_patch_mode(settings))
    decoded = decode_image(
        data,
        max_pixels=settings.max_image_pixels,
        draft_size=encoder.image_size * max(2, coverage.tiles if coverage.whole else 1),
    )
    pixels, _ = encoder.preprocessor(decoded.image, (decoded.width, decoded.height))
    if not coverage.whole:
        encoded = encoder.encode_pixels(pixels[None], patch_mode)
        return UploadEmbedding(cls=encoded.cls[0], patches=encoded.patches[0])
    # As ingest: the centre pass gives the CLS vector only, the whole picture the patches.
    cls = encoder.encode_pixels(pixels[None], "plain").cls[0]
    layout = coverage.layout(decoded.width, decoded.height)
    inputs = encoder.preprocessor.whole_inputs(decoded.image, layout, coverage.method)
    return UploadEmbedding(cls=cls, patches=encoder.encode_whole(inputs, layout, coverage.method, patch_mode))
