"""The manifest beside every saved index: what built it, so a wrong model is refused."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from pixseek.core.errors import ModelMismatch
from pixseek.model.identity import ModelId

METRIC = "inner_product"  # on unit vectors: cosine similarity


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
                f"{model}; re-index with `pixseek ingest` under the new model "
                f"or set PIXSEEK_MODEL={self.model} PIXSEEK_PRETRAINED={self.pretrained}"
            )
