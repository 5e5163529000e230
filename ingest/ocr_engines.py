"""The OCR engines the OCR job can run: RapidOCR (PP-OCR, scene text) and Tesseract (pages).

`PIXSEEK_OCR__ENGINE` picks one; both return words with boxes in the image's own pixels
and a confidence from 0 to 100. Chosen by measurement (`python -m bench.ocr`,
docs/benchmarks.md): RapidOCR's PP-OCRv6 detector and recogniser read words on
photographs (signs, captions) that Tesseract's page layout analysis does not find, and
documents as well; Tesseract stays for its language packs (Arabic, Cyrillic, Devanagari,
Korean, ...), which the PP-OCRv6 model does not read.

RapidOCR's models (`rapidocr` package: PP-OCRv6 small detector and multilingual
recogniser, PP-OCR's mobile angle classifier; about 32 MB) ship inside its wheel and run on
ONNX Runtime; they are loaded once per process from the installed package, never downloaded.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

import numpy as np
from PIL import Image as PILImage

from pixseek.core.errors import ConfigError
from pixseek.core.settings import OcrSettings
from pixseek.index.catalog.ocr import Word

log = logging.getLogger(__name__)

UPSCALE_BELOW = 1000  # Tesseract: images whose longest side is shorter are read at twice their size
RAPIDOCR_MODEL = "PP-OCRv6"
# Confidence floors (0-100) where PIXSEEK_OCR__MIN_CONFIDENCE is unset: RapidOCR's from the
# tuning half of bench/ocr.py (every floor up to its own 0.5 scored the same), Tesseract's
# from its documents benchmark (docs/benchmarks.md).
RAPIDOCR_FLOOR = 50.0
TESSERACT_FLOOR = 60.0


class OcrEngine(Protocol):
    name: str

    def label(self) -> str:
        """What the catalog records as having read an image (a change reads every image again)."""

    def check(self) -> None:
        """Raise ConfigError unless the engine can run here as configured."""

    def read(self, image: PILImage.Image) -> list[Word]:
        """The words in `image`, in reading order, boxes in its pixels.

        Raises:
            TimeoutError: the engine ran longer than its time limit.
        """


def _scaled(image: PILImage.Image, scale: float) -> PILImage.Image:
    if scale == 1.0:
        return image
    width, height = image.size
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, PILImage.Resampling.LANCZOS)


def _box(points: Any, scale: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The upright box around a quadrilateral, in the original image's pixels."""
    xs = [float(p[0]) / scale for p in points]
    ys = [float(p[1]) / scale for p in points]
    return (
        max(0, int(min(xs))),
        max(0, int(min(ys))),
        min(width, round(max(xs))),
        min(height, round(max(ys))),
    )


class TesseractEngine:
    """Tesseract through pytesseract, on the picture turned grey (small ones read at twice their size)."""

    name = "tesseract"

    def __init__(self, ocr: OcrSettings) -> None:
        self.ocr = ocr

    def label(self) -> str:
        psm = self.ocr.tesseract_psm
        return self.ocr.languages if psm == 3 else f"{self.ocr.languages} psm{psm}"

    def check(self) -> None:
        import pytesseract

        try:
            available = set(pytesseract.get_languages(config=""))
        except (pytesseract.TesseractNotFoundError, OSError) as exc:
            raise ConfigError(
                "OCR with Tesseract needs it installed (Debian: apt-get install tesseract-ocr), "
                "or PIXSEEK_OCR__ENGINE=rapidocr, or OCR off (PIXSEEK_OCR__ENABLED=false)"
            ) from exc
        missing = [lang for lang in self.ocr.languages.split("+") if lang not in available]
        if missing:
            raise ConfigError(
                f"Tesseract has no language pack for {', '.join(missing)} "
                f"(Debian: apt-get install {' '.join('tesseract-ocr-' + m.lower() for m in missing)})"
            )

    def read(self, image: PILImage.Image) -> list[Word]:
        import pytesseract

        ocr = self.ocr
        width, height = image.size
        longest = max(width, height)
        scale = min(ocr.max_side / longest, 2.0 if longest < UPSCALE_BELOW else 1.0)
        gray = _scaled(image.convert("L"), scale)
        try:
            data = pytesseract.image_to_data(
                gray,
                lang=ocr.languages,
                config=f"--psm {ocr.tesseract_psm}",
                timeout=ocr.timeout_seconds,
                output_type=pytesseract.Output.DICT,
            )
        except RuntimeError as exc:  # pytesseract's timeout
            if "timeout" in str(exc).lower():
                raise TimeoutError(f"Tesseract took longer than {ocr.timeout_seconds:g} s") from exc
            raise
        floor = ocr.min_confidence if ocr.min_confidence is not None else TESSERACT_FLOOR
        words: list[Word] = []
        for i, text in enumerate(data["text"]):
            text = str(text).strip()
            confidence = float(data["conf"][i])
            if not text or confidence < floor:
                continue
            left, top = data["left"][i], data["top"][i]
            corners = [(left, top), (left + data["width"][i], top + data["height"][i])]
            words.append(Word(text, _box(corners, scale, width, height), round(confidence, 1)))
        return words


_rapid_lock = threading.Lock()
_rapid_cache: dict[tuple[Any, ...], Any] = {}


class RapidOcrEngine:
    """PP-OCR's text detector, angle classifier and recogniser through RapidOCR on ONNX Runtime.

    Each detected line is recognised, then cut into words with their own boxes (RapidOCR's
    word boxes from the recogniser's character positions).
    """

    name = "rapidocr"

    def __init__(self, ocr: OcrSettings) -> None:
        self.ocr = ocr

    def label(self) -> str:
        return f"rapidocr:{RAPIDOCR_MODEL}"

    def _params(self) -> dict[str, Any]:
        return {
            "Global.log_level": "error",
            "Global.max_side_len": self.ocr.max_side,
            "Global.use_cls": self.ocr.rapidocr_angle,
            "Det.limit_type": "max",
            "Det.limit_side_len": self.ocr.detect_side,
        }

    def _engine(self) -> Any:
        key = tuple(sorted(self._params().items()))
        with _rapid_lock:
            if key not in _rapid_cache:
                try:
                    from rapidocr import RapidOCR
                except ImportError as exc:
                    raise ConfigError(
                        "OCR with RapidOCR needs the rapidocr package (pip install rapidocr), or "
                        "PIXSEEK_OCR__ENGINE=tesseract"
                    ) from exc
                _rapid_cache[key] = RapidOCR(params=self._params())
            return _rapid_cache[key]

    def check(self) -> None:
        self._engine()

    def read(self, image: PILImage.Image) -> list[Word]:
        ocr = self.ocr
        width, height = image.size
        rgb = image.convert("RGB")
        bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
        engine = self._engine()
        with _rapid_lock:  # one ONNX session per process, used by one image at a time
            result = engine(bgr, return_word_box=True)
        floor = (ocr.min_confidence if ocr.min_confidence is not None else RAPIDOCR_FLOOR) / 100
        words: list[Word] = []
        for text, confidence, points in _word_triples(result.word_results):
            if text.strip() and confidence >= floor:
                words.append(Word(text.strip(), _box(points, 1.0, width, height), round(confidence * 100, 1)))
        return _split_spaces(words)


def _is_triple(item: Any) -> bool:
    return (
        isinstance(item, tuple | list) and len(item) == 3 and isinstance(item[0], str) and item[2] is not None
    )


def _word_triples(lines: Any) -> list[tuple[str, float, Any]]:
    """(text, confidence, corner points) of each word in RapidOCR's `word_results`: a tuple of
    lines of word triples, or a bare `("", 1.0, None)` for a picture without text."""
    out: list[tuple[str, float, Any]] = []
    for line in lines or ():
        for item in [line] if _is_triple(line) else line if isinstance(line, tuple | list) else ():
            if _is_triple(item):
                out.append((str(item[0]), float(item[1]), item[2]))
    return out


def _split_spaces(words: list[Word]) -> list[Word]:
    """Cut a "word" holding spaces (a script without word boxes) into words, boxes shared by length."""
    out: list[Word] = []
    for word in words:
        parts = word.text.split()
        if len(parts) <= 1:
            out.append(word)
            continue
        left, top, right, bottom = word.box
        total = sum(len(p) for p in parts) + len(parts) - 1
        x = float(left)
        for part in parts:
            span = (right - left) * len(part) / total
            out.append(Word(part, (round(x), top, round(x + span), bottom), word.confidence))
            x += span + (right - left) / total
    return out


def engine_for(ocr: OcrSettings) -> OcrEngine:
    """The engine `ocr.engine` names, configured by `ocr`."""
    if ocr.engine == "tesseract":
        return TesseractEngine(ocr)
    return RapidOcrEngine(ocr)
