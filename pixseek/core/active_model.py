"""Which model generation a data dir serves, once `pixseek reindex` has switched it.

The switch is one file, `<data dir>/model.json`, replaced atomically (written beside, then
`os.replace`): every process sharing the data dir sees the old generation or the new one,
never a mixture. A data dir that was never switched has no such file and serves the
configured model from the folders it always used (`index/`, `patches/`).

Settings' model stays what the user asked for; `follow_switch` turns settings naming the
active model, or one it replaced, into settings for the active generation (its model and
the folder its files live in). Settings naming any other model are left alone: they ask
for an in-place re-index as before, and searching refuses them with a message.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

ACTIVE_MODEL_FILE = "model.json"


class ModelSettings(Protocol):
    """What a switch reads and rewrites of the settings (`Settings` has it; this module stays
    beneath `pixseek.core.settings`, which calls `follow_switch` when it is first read)."""

    data_dir: Path
    model: str
    pretrained: str
    space: str

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Self: ...


S = TypeVar("S", bound=ModelSettings)


@dataclass
class ActiveModel:
    """The record of the last switch: the model served, where its files are, what it replaced."""

    model: str
    pretrained: str
    space: str  # folder under the data dir holding `index/` and `patches/` ("" = the data dir)
    # Model key -> the folder of its generation; None once `--drop-old` removed it.
    replaces: dict[str, str | None] = field(default_factory=dict)
    switched_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def key(self) -> str:
        return f"{self.model}/{self.pretrained}"


def read_active_model(data_dir: Path) -> ActiveModel | None:
    """The data dir's switch record, or None when it was never switched."""
    try:
        data = json.loads((data_dir / ACTIVE_MODEL_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    known = set(ActiveModel.__dataclass_fields__)
    return ActiveModel(**{k: v for k, v in data.items() if k in known})


def write_active_model(data_dir: Path, record: ActiveModel) -> None:
    """Replace the switch record atomically: the switch itself."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".model.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(record), fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, data_dir / ACTIVE_MODEL_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def follow_switch(settings: S) -> S:
    """`settings` pointed at the generation the data dir serves (themselves when nothing changed).

    Cheap (one small file read): long-running processes call it per task or every few
    seconds to follow a switch made while they run.
    """
    record = read_active_model(settings.data_dir)
    if record is None:
        return settings
    update: dict[str, str] = {"space": record.space}
    configured = f"{settings.model}/{settings.pretrained}"
    if configured == record.key or configured in record.replaces:
        update |= {"model": record.model, "pretrained": record.pretrained}
    if all(getattr(settings, name) == value for name, value in update.items()):
        return settings
    return settings.model_copy(update=update)


def serving_model_keys(settings: ModelSettings) -> list[str]:
    """The model keys a catalog row may carry while `settings`' model serves it.

    Around a switch the catalog's `images.model` is updated just after `model.json`, and a
    process notices the switch up to a second late: the served and the switched models are
    then both valid labels (each image holds a vector of both until `--drop-old`).
    """
    key = f"{settings.model}/{settings.pretrained}"
    record = read_active_model(settings.data_dir)
    if record is None or (key != record.key and key not in record.replaces):
        return [key]
    return sorted({key, record.key, *record.replaces})
