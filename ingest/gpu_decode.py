"""JPEG decoding and preprocessing on a CUDA device (nvJPEG through torchvision).

On a GPU the CPU is what limits ingest (clip-retrieval reports ViT-B/32 on an A100 bound
by image resizing): decoding, resizing and normalising on the device leaves the CPU only
reading files. This reproduces `Preprocessor`'s geometry (resize the short side to the
model input with bicubic antialiasing, centre crop, normalise) on CUDA tensors.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


def gpu_jpeg_available() -> bool:
    """True when torchvision can decode JPEGs on a CUDA device here."""
    if not torch.cuda.is_available():
        return False
    try:
        from torchvision.io import decode_jpeg  # noqa: F401
    except ImportError:
        return False
    return True


def preprocess_jpegs_cuda(
    jpegs: list[bytes],
    image_size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    device: str = "cuda",
) -> torch.Tensor:
    """Model input (B, 3, S, S) float32 on `device` for a batch of JPEG files.

    Args:
        jpegs: whole JPEG files (other formats go through the CPU decoder).
        image_size: the model's square input side S.
        mean, std: the model's normalisation, per RGB channel.
        device: the CUDA device to decode on.

    Raises:
        RuntimeError: a file nvJPEG cannot decode (progressive or CMYK JPEGs on older
            drivers); callers fall back to the CPU path for that batch.
    """
    from torchvision.io import ImageReadMode, decode_jpeg

    # torch.frombuffer needs a writable buffer, hence the bytearray copy of each file.
    raw = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in jpegs]
    decoded = decode_jpeg(raw, mode=ImageReadMode.RGB, device=device, apply_exif_orientation=True)
    images = decoded if isinstance(decoded, list) else [decoded]
    m = torch.tensor(mean, device=device, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, device=device, dtype=torch.float32).view(3, 1, 1)
    out = torch.empty((len(images), 3, image_size, image_size), device=device, dtype=torch.float32)
    for i, img in enumerate(images):
        _, h, w = img.shape
        # Same rounding as torchvision.transforms.Resize(S) and Preprocessor.
        nw, nh = (image_size, int(image_size * h / w)) if w <= h else (int(image_size * w / h), image_size)
        resized = torch.nn.functional.interpolate(
            img[None].float(), size=(nh, nw), mode="bicubic", antialias=True, align_corners=False
        )[0]
        left = round((nw - image_size) / 2.0)
        top = round((nh - image_size) / 2.0)
        crop = resized[:, top : top + image_size, left : left + image_size].clamp_(0, 255)
        out[i] = (crop / 255.0 - m) / s
    return out
