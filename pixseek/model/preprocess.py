"""Image to model input, the way open_clip's eval transform does it, with the geometry kept.

open_clip's transform (resize the shortest side with bicubic, centre crop, normalise) is
reproduced here on PIL and numpy so that the crop box is known: region search maps patch
cells back to pixels of the original image with it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pixseek.model.tiling import WholeLayout


@dataclass(frozen=True)
class Geometry:
    """Where the model input sits in the displayed image: a square crop at `scale`."""

    scale: float  # model pixels per displayed pixel
    left: float  # crop offset in displayed pixels
    top: float
    size: float  # side of the square crop, in displayed pixels

    @classmethod
    def of(cls, width: int, height: int, image_size: int) -> Geometry:
        """Where the model's square input sits in a `width` x `height` displayed image."""
        crop = center_crop(width, height, image_size)
        scale = crop.width / width
        return cls(scale=scale, left=crop.left / scale, top=crop.top / scale, size=image_size / scale)


@dataclass(frozen=True)
class CropBox:
    """open_clip's eval resize and centre crop: the resized size and the crop's offset in it."""

    width: int
    height: int
    left: int
    top: int


def centre_draft_side(image_size: int) -> int:
    """The shortest side a JPEG draft decode keeps for the centre crop: 1.5x the model's input.

    CLS cosine 0.9997 to open_clip's full decode and transform on COCO photos (as at 2x) for
    15% less decode and preprocess time; at 1x it fell to 0.995. Ingest and an uploaded query
    image both decode this way, so a photo queried against itself scores 1.0.
    """
    return image_size * 3 // 2


def center_crop(width: int, height: int, image_size: int) -> CropBox:
    """Resize the shortest side to `image_size`, then crop the centred square: the one crop geometry.

    Same rounding as torchvision's `Resize(s)` on a PIL image and `CenterCrop(s)`, which
    open_clip's eval transform chains.
    """
    s = image_size
    if width <= height:
        nw, nh = s, int(s * height / width)
    else:
        nw, nh = int(s * width / height), s
    return CropBox(width=nw, height=nh, left=round((nw - s) / 2.0), top=round((nh - s) / 2.0))


@dataclass(frozen=True)
class Preprocessor:
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @functools.cached_property
    def _lut(self) -> np.ndarray:
        """(3, 256) float32: the normalised value of every 8-bit level, per channel."""
        levels = np.arange(256, dtype=np.float32) * np.float32(1.0 / 255.0)
        mean = np.asarray(self.mean, dtype=np.float32)[:, None]
        std = np.asarray(self.std, dtype=np.float32)[:, None]
        return np.ascontiguousarray((levels[None, :] - mean) / std)

    def __call__(self, img: Image.Image, full_size: tuple[int, int]) -> tuple[np.ndarray, Geometry]:
        """A float32 CHW array for the model and its geometry in `full_size` pixels.

        `img` may be smaller than `full_size` (a JPEG decoded in draft mode); the
        geometry is always given in the full displayed resolution.
        """
        w, h = img.size
        s = self.image_size
        crop = center_crop(w, h, s)
        nw, nh, left, top = crop.width, crop.height, crop.left, crop.top
        if nw < w and nh < h:
            # Downscaling: resample only the source box that lands in the crop. The sampling
            # grid and the bicubic filter (whose support may reach outside the box) are the
            # same as resize-then-crop, but the discarded margins are never computed, which
            # halves the resize time for 4:3 photos. (Upscaling small images does not give
            # the same pixels this way, and costs little, so it takes the plain path.)
            sx, sy = w / nw, h / nh
            box = (left * sx, top * sy, (left + s) * sx, (top + s) * sy)
            img = img.resize((s, s), Image.Resampling.BICUBIC, box=box)
        else:
            if (nw, nh) != (w, h):
                img = img.resize((nw, nh), Image.Resampling.BICUBIC)
            img = img.crop((left, top, left + s, top + s))
        # Normalise through a per-channel lookup table: one gather per value instead of a
        # float conversion, a subtraction and a division over the whole array.
        chw = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
        lut = self._lut
        arr = np.stack([lut[c][chw[c]] for c in range(3)])
        # The geometry in full displayed pixels, from the full size (a draft decode may have
        # rounded the decoded size; the difference stays under one model pixel).
        return arr, Geometry.of(full_size[0], full_size[1], s)

    def whole(self, img: Image.Image, layout: WholeLayout) -> np.ndarray:
        """The whole picture resized to `layout`'s grid: a float32 (3, rows*patch, cols*patch) array.

        Bicubic, like the centre crop; every pixel of the picture lands in some cell.
        """
        resized = img.resize(layout.resized, Image.Resampling.BICUBIC)
        chw = np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1)
        lut = self._lut
        return np.stack([lut[c][chw[c]] for c in range(3)])

    def tiles(self, img: Image.Image, layout: WholeLayout) -> np.ndarray:
        """(tiles, 3, S, S) model inputs: the tiles of `layout` cut from `whole(img, layout)`."""
        arr = self.whole(img, layout)
        s, p = self.image_size, layout.patch
        return np.stack([arr[:, r * p : r * p + s, c * p : c * p + s] for r, c in layout.tiles])

    def whole_inputs(self, img: Image.Image, layout: WholeLayout, method: str) -> np.ndarray:
        """The model inputs of patches over the whole picture by `method`: `tiles` or `full`."""
        return self.tiles(img, layout) if method == "tiles" else self.whole(img, layout)
