"""Perceptual signatures of a picture, in numpy and PIL, and how two of them compare.

A signature holds, for each of a few centred crops of the picture (100%, 90%, 80%, 70% of
each side):

- `codes`: a 64-bit DCT hash (pHash: the 8x8 lowest frequencies of a 32x32 grey
  thumbnail, each bit "above the median"),
- `mirror`: the same hash of the mirrored crop, read off the same DCT (a horizontal
  mirror flips the sign of the odd horizontal frequencies),
- `thumbs`: the 16x16 grey thumbnail, for patch-level agreement.

Comparing two signatures takes the best alignment over crop pairs and mirroring: a crop
of a photo lines up with a smaller crop of the original, a mirrored copy with the mirror
hash. At that alignment the thumbnails are cut into 4x4 patches and each patch pair is
tested with a normalised correlation, which ignores brightness and contrast changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

VERSION = 1
SCALES = (1.0, 0.9, 0.8, 0.7)
HASH_BYTES = 8
THUMB = 16  # side of the stored thumbnail
GRID = 4  # patches per side of the thumbnail
_DCT_SIZE = 32
_LOW = 8
# A patch whose pixels vary less than this (L2 norm after removing the mean, grey levels)
# is flat: two flat patches agree, a flat and a textured one do not.
_FLAT_NORM = 8.0
_PATCH_NCC = 0.5
CODES_BYTES = len(SCALES) * 2 * HASH_BYTES

_POPCOUNT = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1).astype(np.uint8)


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    return np.cos(np.pi * (2 * i + 1) * k / (2 * n))


_DCT = _dct_matrix(_DCT_SIZE)
_ODD_COLUMNS = np.where(np.arange(_LOW) % 2 == 1, -1.0, 1.0)[None, :]


@dataclass(frozen=True)
class Signature:
    """The perceptual signature of one picture (see the module docstring)."""

    codes: np.ndarray  # (S, 8) uint8
    mirror: np.ndarray  # (S, 8) uint8
    thumbs: np.ndarray  # (S, 16, 16) uint8

    def codes_blob(self) -> bytes:
        return np.concatenate([self.codes, self.mirror], axis=0).tobytes()

    def thumbs_blob(self) -> bytes:
        return self.thumbs.tobytes()


def unpack_codes(blobs: np.ndarray) -> np.ndarray:
    """(N, CODES_BYTES) uint8 rows to (N, 2, S, 8): the codes, then the mirror codes."""
    return blobs.reshape(-1, 2, len(SCALES), HASH_BYTES)


def _bits(block: np.ndarray) -> np.ndarray:
    return np.packbits((block > np.median(block)).ravel())


def signature(img: Image.Image) -> Signature:
    """The signature of a decoded picture (any size; colour is ignored)."""
    grey = img.convert("L")
    w, h = grey.size
    codes, mirror, thumbs = [], [], []
    for scale in SCALES:
        cw, ch = w * scale, h * scale
        box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
        # BOX averages every source pixel: the thumbnail does not depend on the input size.
        small = np.asarray(
            grey.resize((_DCT_SIZE, _DCT_SIZE), Image.Resampling.BOX, box=box), dtype=np.float64
        )
        dct = _DCT @ small @ _DCT.T
        low = dct[:_LOW, :_LOW]
        codes.append(_bits(low))
        mirror.append(_bits(low * _ODD_COLUMNS))
        half = small.reshape(THUMB, 2, THUMB, 2).mean(axis=(1, 3))
        thumbs.append(np.clip(np.rint(half), 0, 255).astype(np.uint8))
    return Signature(codes=np.stack(codes), mirror=np.stack(mirror), thumbs=np.stack(thumbs))


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit differences between packed codes, over the last axis (broadcasting)."""
    return _POPCOUNT[np.bitwise_xor(a, b)].sum(axis=-1, dtype=np.int32)


@dataclass(frozen=True)
class PairScores:
    """How pairs of signatures compare at their best alignment (arrays of one entry per pair)."""

    distance: np.ndarray  # (P,) int32, best Hamming distance over crops and mirroring
    agreement: np.ndarray  # (P,) float32, fraction of patches that agree at that alignment
    scale_a: np.ndarray  # (P,) index into SCALES
    scale_b: np.ndarray
    mirrored: np.ndarray  # (P,) bool


def compare_many(
    codes_a: np.ndarray, thumbs_a: np.ndarray, codes_b: np.ndarray, thumbs_b: np.ndarray
) -> PairScores:
    """Compare P pairs of signatures given as arrays (codes (P, 2, S, 8), thumbs (P, S, 16, 16))."""
    n_scales = len(SCALES)
    plain = codes_a[:, 0][:, :, None, :]  # (P, S, 1, 8)
    flipped = codes_a[:, 1][:, :, None, :]
    target = codes_b[:, 0][:, None, :, :]  # (P, 1, S, 8)
    dist = np.stack([hamming(plain, target), hamming(flipped, target)], axis=1)  # (P, 2, S, S)
    flat = dist.reshape(len(dist), -1)
    best = flat.argmin(axis=1)
    mirrored, rest = np.divmod(best, n_scales * n_scales)
    scale_a, scale_b = np.divmod(rest, n_scales)
    rows = np.arange(len(dist))
    ta = thumbs_a[rows, scale_a].astype(np.float32)
    ta = np.where(mirrored.astype(bool)[:, None, None], ta[:, :, ::-1], ta)
    tb = thumbs_b[rows, scale_b].astype(np.float32)
    return PairScores(
        distance=flat[rows, best].astype(np.int32),
        agreement=patch_agreement(ta, tb),
        scale_a=scale_a,
        scale_b=scale_b,
        mirrored=mirrored.astype(bool),
    )


def _patches(thumbs: np.ndarray) -> np.ndarray:
    """(P, 16, 16) to (P, GRID*GRID, pixels per patch), each patch with its mean removed."""
    p = THUMB // GRID
    cut = thumbs.reshape(-1, GRID, p, GRID, p).swapaxes(2, 3).reshape(-1, GRID * GRID, p * p)
    return cut - cut.mean(axis=-1, keepdims=True)


def patch_agreement(thumbs_a: np.ndarray, thumbs_b: np.ndarray) -> np.ndarray:
    """Fraction of aligned 4x4-pixel patches whose normalised correlation is at least 0.5."""
    pa, pb = _patches(thumbs_a), _patches(thumbs_b)
    na, nb = np.linalg.norm(pa, axis=-1), np.linalg.norm(pb, axis=-1)
    ncc = (pa * pb).sum(axis=-1) / np.maximum(na * nb, 1e-6)
    both_flat = (na < _FLAT_NORM) & (nb < _FLAT_NORM)
    agree = np.where(both_flat, True, ncc >= _PATCH_NCC)
    return agree.mean(axis=-1).astype(np.float32)
