"""The query model: a weighted sum of parts (texts, images, cataloged images), and its results.

A query vector is `q = normalise(sum_i w_i * v_i)`, where each `v_i` is the unit embedding
of one part (a text through its prompt templates, an uploaded image, or the stored vector
of a cataloged image). A negative weight pushes results away from that part. The cosine
score of an image `x` then splits exactly into one contribution per part:

    cos(q, x) = sum_i  w_i * cos(v_i, x) / |sum_i w_i * v_i|

which is what `explain` reports. See docs/search.md for examples.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from pixseek.core.errors import InvalidRequest
from pixseek.search.filters import Filters

MIN_NORM = 1e-6


class Order(enum.StrEnum):
    RELEVANCE = "relevance"  # best matches first
    NEWEST = "newest"  # the relevant ones (a cutoff, docs/search.md), newest capture first


class Mode(enum.StrEnum):
    SEMANTIC = "semantic"  # by embedding (cosine similarity)
    KEYWORD = "keyword"  # by words in file names, folders and captions
    HYBRID = "hybrid"  # both, fused by reciprocal rank


@dataclass(frozen=True)
class TextPart:
    text: str
    weight: float = 1.0


@dataclass(frozen=True)
class ImagePart:
    """An image given by its bytes (an upload, or a file on the CLI's machine)."""

    data: bytes = field(repr=False)
    weight: float = 1.0
    name: str = "upload"


@dataclass(frozen=True)
class ImageIdPart:
    image_id: int
    weight: float = 1.0


@dataclass(frozen=True)
class RegionPart:
    """A region of a cataloged image: `box` [x0, y0, x1, y1] in its displayed pixels.

    Its vector is made from the image's stored patch embeddings (search/region_query.py).
    """

    image_id: int
    box: tuple[float, float, float, float]
    weight: float = 1.0


@dataclass(frozen=True)
class VectorPart:
    """A ready embedding in the index's space (callers inside pixseek, and tests)."""

    vector: np.ndarray = field(repr=False)
    weight: float = 1.0
    label: str = "vector"


Part = TextPart | ImagePart | ImageIdPart | RegionPart | VectorPart


@dataclass(frozen=True)
class Query:
    """Everything one search asks for.

    `include_query_images` keeps the images named by `ImageIdPart`s and `RegionPart`s in
    the results (they are left out by default); `exclude_duplicates` also leaves out every image with the
    same bytes (sha256) as a query image, cataloged or uploaded.
    `templates` overrides the configured prompt templates (an empty tuple turns them off).
    """

    parts: tuple[Part, ...]
    filters: Filters = field(default_factory=Filters)
    mode: Mode = Mode.SEMANTIC
    limit: int = 10
    offset: int = 0
    min_score: float | None = None
    explain: bool = False
    templates: tuple[str, ...] | None = None
    include_query_images: bool = False
    exclude_duplicates: bool = False
    order: Order = Order.RELEVANCE
    relevance_cut: float = 0.5  # for Order.NEWEST: see search/newest.py
    facets: bool = False  # count the tags of the whole result set (`SearchPage.facets`)


def part_label(part: Part) -> str:
    """How a part is named in explanations: `text:beach`, `image_id:12`, `image:photo.jpg`."""
    if isinstance(part, TextPart):
        return f"text:{part.text}"
    if isinstance(part, ImageIdPart):
        return f"image_id:{part.image_id}"
    if isinstance(part, RegionPart):
        return f"region:{part.image_id}[{','.join(f'{v:g}' for v in part.box)}]"
    if isinstance(part, ImagePart):
        return f"image:{part.name}"
    return part.label


def check_parts(parts: tuple[Part, ...]) -> None:
    """Refuse queries with no parts, zero weights, empty texts, or no positive part."""
    if not parts:
        raise InvalidRequest("a query needs at least one part (a text, an image or an image id)")
    for i, part in enumerate(parts):
        if not np.isfinite(part.weight) or part.weight == 0:
            raise InvalidRequest(f"part {i}: weight must be a non-zero number")
        if isinstance(part, TextPart) and not part.text.strip():
            raise InvalidRequest(f"part {i}: the text is empty")
    if not any(part.weight > 0 for part in parts):
        raise InvalidRequest("a query needs at least one part with a positive weight")


@dataclass(frozen=True)
class Combined:
    """The unit query vector, and what explaining a score needs."""

    vector: np.ndarray  # (D,) unit
    part_vectors: np.ndarray  # (P, D) unit rows
    weights: np.ndarray  # (P,)
    norm: float  # |sum_i w_i v_i|


def combine(part_vectors: np.ndarray, weights: np.ndarray) -> Combined:
    """Normalise the weighted sum of unit part vectors.

    Raises:
        InvalidRequest: the parts cancel out (the sum is the zero vector).
    """
    vecs = np.asarray(part_vectors, dtype=np.float64)
    vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    w = np.asarray(weights, dtype=np.float64)
    total = (w[:, None] * vecs).sum(axis=0)
    norm = float(np.linalg.norm(total))
    if norm < MIN_NORM:
        raise InvalidRequest("the query parts cancel each other out; change a weight")
    return Combined(
        vector=(total / norm).astype(np.float32),
        part_vectors=vecs.astype(np.float32),
        weights=w,
        norm=norm,
    )


def explain(combined: Combined, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image and part: cosine similarity to the part, and its share of the score.

    Returns (similarity, contribution), both (N, P); each row of `contribution` sums to
    the image's cosine similarity with the combined query.
    """
    sims = np.asarray(vectors, dtype=np.float64) @ combined.part_vectors.T.astype(np.float64)
    contributions = sims * combined.weights[None, :] / combined.norm
    return sims, contributions


@dataclass(frozen=True)
class PartScore:
    part: int  # position in the query's parts
    label: str
    weight: float
    similarity: float  # cosine similarity between the image and this part alone
    contribution: float  # weight * similarity / |sum of weighted parts|; these sum to `similarity`


@dataclass
class Moment:
    """A stretch of a video that matched: its segment's id, start and end (seconds), score."""

    id: int
    start: float
    end: float
    score: float

    def as_dict(self) -> dict[str, object]:
        score = round(self.score, 6)
        return {"id": self.id, "start": _seconds(self.start), "end": _seconds(self.end), "score": score}


@dataclass
class Hit:
    """One result. `score` is what the mode ranks by (see `SearchPage`)."""

    id: int
    bucket: str
    key: str
    score: float
    similarity: float | None = None  # cosine similarity to the combined query
    keyword_score: float | None = None  # full-text relevance (backend scale, this query only)
    semantic_rank: int | None = None  # 1-based ranks in the lists hybrid fuses
    keyword_rank: int | None = None
    exact_name: bool = False  # the query text is this file's name or key
    parts: list[PartScore] | None = None  # with `explain`
    # Videos (search/moments.py): a segment's hit names its video's key, its time range, and
    # the video's best moments (its own first).
    media: str | None = None
    video_id: int | None = None
    start: float | None = None
    end: float | None = None
    duration: float | None = None
    moments: list[Moment] | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "bucket": self.bucket,
            "key": self.key,
            "score": round(self.score, 6),
        }
        for name in ("similarity", "keyword_score"):
            value = getattr(self, name)
            if value is not None:
                out[name] = round(value, 6)
        for name in ("semantic_rank", "keyword_rank"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.exact_name:
            out["exact_name"] = True
        if self.media is not None:
            out |= {
                "media": self.media,
                "video_id": self.video_id,
                "start": _seconds(self.start),
                "end": _seconds(self.end),
                "duration": _seconds(self.duration),
                "moments": [
                    {
                        "id": m.id,
                        "start": _seconds(m.start),
                        "end": _seconds(m.end),
                        "score": round(m.score, 6),
                    }
                    for m in self.moments or []
                ],
            }
        if self.parts is not None:
            out["parts"] = [
                {
                    "part": p.part,
                    "label": p.label,
                    "weight": p.weight,
                    "similarity": round(p.similarity, 6),
                    "contribution": round(p.contribution, 6),
                }
                for p in self.parts
            ]
        return out


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class SearchPage:
    """One page of results.

    `score` per mode: semantic, the cosine similarity; keyword, the full-text relevance;
    hybrid, the reciprocal-rank-fusion score. `total` is the number of results all pages
    together hold where that is cheap to know, else None; with `total_exact` False it is a
    lower bound (the count stopped there). `facets` (when asked) counts the tags of the
    result set, see `search.facets`.
    """

    hits: list[Hit]
    total: int | None
    offset: int
    limit: int
    mode: Mode
    # With `Query.facets`: {"tags": {tag: images of the result set carrying it}}, most first.
    facets: dict[str, dict[str, int]] | None = None
    total_exact: bool = True

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "mode": str(self.mode),
            "offset": self.offset,
            "limit": self.limit,
            "total": self.total,
            "total_exact": self.total_exact,
            "results": [hit.as_dict() for hit in self.hits],
        }
        if self.facets is not None:
            out["facets"] = self.facets
        return out
