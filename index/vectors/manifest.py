"""The manifests beside every saved index (CLS and patches): what built it, so a wrong model is refused.

Plain JSON and dataclasses, no FAISS: `pixseek status` reads them without loading an index.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from pixseek.core.errors import ModelMismatch
from pixseek.model.identity import ModelId

METRIC = "inner_product"  # on unit vectors: cosine similarity
MANIFEST_FILE = "manifest.json"  # in every generation folder, beside the index files
# The patch index's exact shape, below `patch_index_min_train` patches (see index/vectors/patch_index.py).
EXACT_TYPE = "IDMap2,SQfp16"


class PatchModeMismatch(ModelMismatch):
    """Patches made one way are being mixed with, or searched as, patches made another way."""

    code = "patch_mode_mismatch"


class ManifestFile:
    """JSON persistence shared by the manifests of dataclass shape (CLS and patch indexes)."""

    model: str
    pretrained: str

    @property
    def model_id(self) -> ModelId:
        return ModelId(self.model, self.pretrained)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)  # type: ignore[call-overload]

    @classmethod
    def read(cls, path: Path) -> Self:
        """Load a manifest, ignoring keys written by a newer version of pixseek."""
        data = json.loads(path.read_text(encoding="utf-8"))
        known = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Manifest(ManifestFile):
    model: str
    pretrained: str
    dim: int
    count: int
    generation: int
    index_type: str = "IDMap2,Flat"
    metric: str = METRIC
    built_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    params: dict[str, Any] = field(default_factory=dict)

    def check_model(self, model: ModelId) -> None:
        """Refuse to serve an index built by another model than the configured one."""
        if self.model_id != model:
            raise ModelMismatch(
                f"the index was built with {self.model_id} but pixseek is configured for "
                f"{model}; switch without downtime with `pixseek reindex --model {model.name} "
                f"--pretrained {model.pretrained}`, re-index with `pixseek ingest` under the new model, "
                f"or set PIXSEEK_MODEL={self.model} PIXSEEK_PRETRAINED={self.pretrained}"
            )


@dataclass
class PatchManifest(ManifestFile):
    model: str
    pretrained: str
    dim: int
    grid_h: int
    grid_w: int
    patch_mode: str
    image_size: int = 0  # the model's input side (0: an index from before it was recorded)
    count: int = 0  # patches
    images: int = 0
    generation: int = 0
    cls_generation: int | None = None  # the CLS index generation published alongside
    index_type: str = EXACT_TYPE
    trained_on: int = 0  # patches in the index when its quantisers were trained
    built_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    params: dict[str, Any] = field(default_factory=dict)
    # Patch ids are `image_id * cell_stride + cell`; 0 for indexes from before grids varied
    # per image, whose stride is the one grid's cell count.
    cell_stride: int = 0
    # Searchable images when it was built, by how their patches cover them: `whole` (tiles or
    # one full pass), `centre` (the centre square: older images, PIXSEEK_REGION_COVERAGE=centre,
    # or waiting for the enrich job), of which `pending` still wait for enrichment.
    coverage: dict[str, int] = field(default_factory=dict)

    @property
    def grid(self) -> tuple[int, int]:
        """The largest patch grid in the index (every image's, before grids varied per image)."""
        return (self.grid_h, self.grid_w)

    @property
    def stride(self) -> int:
        """Patch ids per image: `image_id * stride + cell`."""
        return self.cell_stride or self.grid_h * self.grid_w

    def check(self, model: ModelId, patch_mode: str) -> None:
        """Refuse a patch index built by another model or another patch mode."""
        if self.model_id != model:
            raise ModelMismatch(
                f"the patch index was built with {self.model_id}, pixseek is configured for "
                f"{model}; re-index under the new model"
            )
        if self.patch_mode != patch_mode:
            raise PatchModeMismatch(
                f"the patch index holds {self.patch_mode!r} patches but PIXSEEK_PATCH_MODE is "
                f"{patch_mode!r}; set PIXSEEK_PATCH_MODE={self.patch_mode} or re-ingest into a new data dir"
            )
