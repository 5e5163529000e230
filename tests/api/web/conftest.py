"""A live `pixseek serve` (uvicorn in a subprocess, the bundled tiny model) over a small
generated library, and a headless Chromium driven by Playwright: one of each per module.

The library is ingested and checked for duplicates through the server's own API, so the
test process never loads the model. Screenshots go to `$PIXSEEK_SCREENSHOTS`, else
`tests/api/web/screenshots/` (not committed).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from pixseek.demo.scenes import SceneFile, random_layout, render, write_scenes
from pixseek.demo.videos import slideshow_frames, write_video
from pixseek.model.bundled import SCENES_MODEL, SCENES_WEIGHTS
from tests.support.browser import Site
from tests.support.live_server import ingest_and_detect, serve
from tests.support.raw_files import camera_exif
from tests.support.services import service_missing
from tests.support.text_images import BOLD

CHROMIUM = Path(os.environ.get("PIXSEEK_CHROMIUM", "/usr/bin/chromium"))
LISBON = (38.7139, -9.1394)


def _library(root: Path) -> list[SceneFile]:
    """20 scenes with caption sidecars, an exact copy and a re-encoded copy (duplicates), and a
    folder of 4 more scenes left for the ingest page to ingest."""
    rng = np.random.default_rng(13)
    scenes = write_scenes(
        root / "library" / "scenes",
        [random_layout(rng, things=int(rng.integers(1, 3))) for _ in range(20)],
        sidecars=True,
    )
    copies = root / "library" / "copies"
    copies.mkdir()
    shutil.copy(root / "library" / "scenes" / scenes[0].key, copies / "copy-of-first.png")
    with Image.open(root / "library" / "scenes" / scenes[1].key) as picture:
        picture.convert("RGB").resize((120, 120)).save(copies / "second-smaller.jpg", quality=90)
    write_scenes(root / "later", [random_layout(rng, things=1) for _ in range(4)], prefix="later")
    _phone_photo(root / "library" / "phone" / "lisbon_sign.jpg")
    _video(root / "library" / "videos" / "moment.webm", rng)
    return scenes


def _video(path: Path, rng: np.random.Generator) -> None:
    """A 6 s WebM (VP9, which every Chromium plays): a yellow star, then from 3 s a purple cross."""
    pictures = [
        render(random_layout(rng, kinds=[kind]), 160) for kind in (("yellow", "star"), ("purple", "cross"))
    ]
    frames, _ = slideshow_frames(pictures, 3.0, 0.0, 8)
    path.parent.mkdir(parents=True)
    write_video(path, frames, 8, codec="libvpx-vp9")


def _phone_photo(path: Path) -> None:
    """A photo as a phone takes it: a sign with a word, and EXIF with the camera and a position in Lisbon."""
    img = Image.new("RGB", (480, 360), (70, 110, 150))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 250, 480, 360), fill=(90, 80, 60))
    draw.rounded_rectangle((120, 120, 370, 190), radius=8, fill=(20, 60, 140))
    draw.text((140, 132), "LIGHTHOUSE", font=ImageFont.truetype(str(BOLD), 36), fill=(255, 255, 255))
    path.parent.mkdir(parents=True)
    img.save(path, quality=92, exif=camera_exif(gps=LISBON).tobytes())


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("playwright is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        service_missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The server, its library ingested and duplicates detected through its API."""
    base = tmp_path_factory.mktemp("web")
    root = base / "photos"
    scenes = _library(root)
    data_dir = base / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PIXSEEK_")},
        "PIXSEEK_MODEL": SCENES_MODEL,
        "PIXSEEK_PRETRAINED": str(SCENES_WEIGHTS),
        "PIXSEEK_DEVICE": "cpu",
        "PIXSEEK_PRECISION": "fp32",
        "PIXSEEK_RUNTIME": "torch",  # OpenVINO is checked on its own (tests/model/test_openvino_runtime.py)
        "PIXSEEK_BATCH_SIZE": "16",
        "PIXSEEK_DECODE_WORKERS": "2",
        "PIXSEEK_TORCH_THREADS": "1",
        "PIXSEEK_DATA_DIR": str(data_dir),
        "PIXSEEK_INGEST_ROOTS": json.dumps([str(root)]),
        "PIXSEEK_OCR__ENABLED": "true",
    }
    with serve(env, base / "serve.log") as client:
        ingest_and_detect(client, root / "library")
        everything = client.post("/v1/search", json={"parts": [{"text": "scene"}], "limit": 100})
        ids = {hit["key"]: hit["id"] for hit in everything.json()["results"]}
        yield Site(url=str(client.base_url).rstrip("/"), root=root, data_dir=data_dir, scenes=scenes, ids=ids)


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(base_url=site.url, viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == [], f"script errors on the page: {errors}"
