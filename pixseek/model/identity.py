"""Which model made a vector: the one value every layer compares (catalog rows, manifests, caches).

Kept free of torch so that the index writer and the API can read and compare it without
loading a model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol


class _ModelSettings(Protocol):
    model: str
    pretrained: str


@dataclass(frozen=True, order=True)
class ModelId:
    """An open_clip architecture and the weights loaded into it (a pretrained tag, a path or `none`)."""

    name: str
    pretrained: str

    @classmethod
    def of(cls, settings: _ModelSettings) -> ModelId:
        """The model a process is configured for (`PIXSEEK_MODEL`, `PIXSEEK_PRETRAINED`)."""
        return cls(settings.model, settings.pretrained)

    @property
    def key(self) -> str:
        """The form stored in SQL (`images.model`, `image_vectors.model`): `name/pretrained`."""
        return f"{self.name}/{self.pretrained}"

    def __str__(self) -> str:
        return self.key


def weights_id(pretrained: str) -> str:
    """What identifies the weights: a tag as is, a local file by path, size and mtime."""
    if os.path.isfile(pretrained):
        st = os.stat(pretrained)
        return f"{os.path.abspath(pretrained)}:{st.st_size}:{st.st_mtime_ns}"
    return pretrained
