"""An uploaded picture embedded as ingest would embed it: its CLS vector and its patch grids.

The upload check (check.py) compares a picture that is not in the collection with those
that are. Its `similar` tier checks layout on patch tokens (layout.py) against the grids
ingest stored, so the upload's grid is made the same way: the same model, the store's patch
mode, and the coverage of the stored grid it is compared with (a grid over the whole
picture, or over the centred square for images ingested before whole-picture patches or
with `PIXSEEK_REGION_COVERAGE=centre`: `Image.patch_layout`). A whole-picture grid costs the
model a pass per tile, so it is made only when a stored grid of that kind is compared.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pixseek.core.settings import Settings
from pixseek.index.vectors.patch_sync import effective_patch_mode, store_patch_mode
from pixseek.media.decode import decode_image
from pixseek.model.encoder import Encoder
from pixseek.model.patch_tokens import check_patch_mode
from pixseek.model.tiling import CENTRE, Coverage


class UploadEmbedding:
    """One decoded upload: its CLS vector at once, its patch grids when asked."""

    def __init__(self, settings: Settings, encoder: Encoder, data: bytes) -> None:
        """Decodes `data` and runs the centre pass (raises UnsupportedImage when it does not decode)."""
        self.encoder = encoder
        self.coverage = Coverage.of(settings, encoder.image_size, encoder.grid[0])
        # The stored tokens' mode first: they are what the upload is compared with (a setting
        # that differs from the store is refused by ingest, not by a read-only check).
        mode = store_patch_mode(settings.patch_dir) or effective_patch_mode(settings)
        self.patch_mode = check_patch_mode(mode)
        self.decoded = decode_image(
            data,
            max_pixels=settings.max_image_pixels,
            draft_size=encoder.image_size * max(2, self.coverage.tiles if self.coverage.whole else 1),
        )
        pixels, _ = encoder.preprocessor(self.decoded.image, (self.decoded.width, self.decoded.height))
        encoded = encoder.encode_pixels(pixels[None], self.patch_mode)
        self.cls: np.ndarray = encoded.cls[0]  # (D,) float32, unit
        self._grids: dict[str, np.ndarray] = {CENTRE: encoded.patches[0]}  # by patch layout

    def grid(self, patch_layout: str | None) -> np.ndarray:
        """The upload's (rows, cols, D) grid laid out as a stored grid of `patch_layout` is
        (`centre`, or None from before the column: the centred square; `tiles`, `full`: the
        whole picture, made by that method)."""
        method = patch_layout or CENTRE
        if method not in self._grids:
            coverage = dataclasses.replace(self.coverage, method=method)
            image = self.decoded.image
            layout = coverage.layout(self.decoded.width, self.decoded.height)
            inputs = self.encoder.preprocessor.whole_inputs(image, layout, method)
            self._grids[method] = self.encoder.encode_whole(inputs, layout, method, self.patch_mode)
        return self._grids[method]
