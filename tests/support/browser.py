"""The web UI's browser tests: the live site they drive and where their screenshots go."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pixseek.demo.scenes import SceneFile

SCREENSHOTS = Path(
    os.environ.get("PIXSEEK_SCREENSHOTS", Path(__file__).resolve().parents[1] / "api" / "web" / "screenshots")
)


@dataclass
class Site:
    url: str
    root: Path  # the folder the server may ingest from
    data_dir: Path
    scenes: list[SceneFile]
    ids: dict[str, int]  # key -> image id

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0)

    def caption(self, key: str) -> str:
        return next(s.caption for s in self.scenes if f"scenes/{s.key}" == key)


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
