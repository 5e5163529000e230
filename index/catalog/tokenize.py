"""Words out of file names, paths and captions, the same way at ingest and at query time.

`IMG_0042.JPG` gives `img 0042 42 jpg`, `beachSunset2019.png` gives `beach sunset 2019 png`,
`summer-trip/day 2` gives `summer trip day 2`. The text backends (FTS5, PostgreSQL
tsvector) only ever see these lowercase tokens, separated by spaces, so both backends
match exactly the same words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Runs of letters or digits; everything else (/ _ - . spaces, punctuation) separates words.
_CHUNK = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TOKENS = 4096


def _strip_marks(text: str) -> str:
    """Without diacritics, so `Café` and `cafe` are the same word (case is kept)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def _split_chunk(chunk: str) -> list[str]:
    """Split a run of letters and digits at camelCase and letter/digit boundaries.

    `beachSunset2019` -> beach, Sunset, 2019; `HTTPServer` -> HTTP, Server.
    """
    pieces: list[str] = []
    start = 0
    for i in range(1, len(chunk)):
        prev, cur = chunk[i - 1], chunk[i]
        nxt = chunk[i + 1] if i + 1 < len(chunk) else ""
        if (
            prev.isdigit() != cur.isdigit()
            or (prev.islower() and cur.isupper())
            or (prev.isupper() and cur.isupper() and nxt.islower())
        ):
            pieces.append(chunk[start:i])
            start = i
    pieces.append(chunk[start:])
    return pieces


def words(text: str) -> list[str]:
    """The tokens of `text`, in order, as a query sees them (no extra variants)."""
    out: list[str] = []
    for chunk in _CHUNK.findall(_strip_marks(text)):
        out.extend(piece.casefold() for piece in _split_chunk(chunk))
        if len(out) >= MAX_TOKENS:
            break
    return out[:MAX_TOKENS]


def index_words(text: str) -> list[str]:
    """The tokens stored for `text`: `words(text)`, and numbers also without leading zeros.

    So `IMG_0042` is found by `0042` and by `42`.
    """
    out: list[str] = []
    for word in words(text):
        out.append(word)
        if word.isdigit() and len(word) > 1 and word.startswith("0"):
            out.append(word.lstrip("0") or "0")
    return out[:MAX_TOKENS]


@dataclass(frozen=True)
class TextDocument:
    """What the keyword index stores for one image: space-separated tokens per field."""

    name: str  # the file name
    path: str  # the folders of the key
    caption: str | None  # sidecar text, when the bucket has it


def document_for(key: str, caption: str | None = None) -> TextDocument:
    """The keyword document of the file at `key` (a POSIX key inside its bucket)."""
    folder, _, name = key.rpartition("/")
    return TextDocument(
        name=" ".join(index_words(name)),
        path=" ".join(index_words(folder)),
        caption=" ".join(index_words(caption)) if caption else None,
    )


def same_name(query: str, key: str) -> bool:
    """True when `query` is the file's key, its name, or its name without the extension."""
    q = query.strip().casefold()
    if not q:
        return False
    name = key.rpartition("/")[2]
    stem = name.rpartition(".")[0] if "." in name else name
    return q in (key.casefold(), name.casefold(), stem.casefold())
