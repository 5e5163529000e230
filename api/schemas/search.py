"""Search request and response bodies, documented for OpenAPI (see docs/search.md)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonDict

from pixseek.api.schemas.base import RequestBody
from pixseek.core.errors import UploadNotFound
from pixseek.core.limits import MAX_GLOB_LENGTH, MAX_JSON_INT
from pixseek.index.catalog.vocabulary import MAX_TAG_CHARS, TAG_NAME
from pixseek.media.formats import ImageFormat
from pixseek.search.limits import MAX_NAME, MAX_TAG_FILTERS, MAX_VALUE_FILTERS, VALUE_NAME

if TYPE_CHECKING:  # the client imports these bodies: the search code (numpy, SQL) loads on use
    from pixseek.search.filters import Filters
    from pixseek.search.query import Part, Query, SearchPage


TagName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TAG_CHARS, pattern=f"^{TAG_NAME.pattern}$")
]
ValueName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME, pattern=VALUE_NAME.pattern)]


# In the schema: exactly one kind of part (pydantic checks the same below).
def _one_kind(kinds: tuple[str, ...]) -> list[JsonValue]:
    return [
        {
            "required": [name],
            "properties": {
                name: {"not": {"type": "null"}},
                **{other: {"type": "null"} for other in kinds if other != name},
                **({} if name == "image_id" else {"box": {"type": "null"}}),
            },
        }
        for name in kinds
    ]


class QueryPartIn(RequestBody):
    """One part of a query: exactly one of `text` or `image_id` (with an optional `box`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"text": "beach", "weight": 1.0},
                {"image_id": 12, "weight": 0.5},
                {"image_id": 42, "box": [40, 30, 200, 180], "weight": 1.0},
            ],
            "oneOf": _one_kind(("text", "image_id")),
        }
    )

    text: str | None = Field(
        default=None,
        min_length=1,
        description="Words describing the image; short texts go through the prompt templates.",
        examples=["a dog on a beach"],
    )
    image_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_JSON_INT,
        description="A cataloged image: its stored embedding is the part.",
    )
    box: list[float] | None = Field(
        default=None,
        min_length=4,
        max_length=4,
        description="With `image_id`: only this region of it, [x0, y0, x1, y1] in pixels of the image "
        "as displayed; its vector is made from the image's stored patch embeddings.",
    )
    weight: float = Field(
        default=1.0,
        ge=-10.0,
        le=10.0,
        description="How much this part counts; negative pushes results away from it. Not 0.",
        json_schema_extra={"not": {"const": 0}},
    )

    @model_validator(mode="after")
    def _one_kind(self) -> QueryPartIn:
        given = [name for name in ("text", "image_id", "upload") if getattr(self, name, None) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of text or image_id (or upload, in a multipart search)")
        if self.box is not None and self.image_id is None:
            raise ValueError("a box goes with an image_id")
        if self.weight == 0:
            raise ValueError("weight must not be 0")
        return self

    def to_part(self, uploads: list[tuple[str, bytes]]) -> Part:
        from pixseek.search.query import ImageIdPart, ImagePart, RegionPart, TextPart

        if self.text is not None:
            return TextPart(self.text, self.weight)
        if self.image_id is not None and self.box is not None:
            x0, y0, x1, y1 = self.box
            return RegionPart(self.image_id, (x0, y0, x1, y1), self.weight)
        if self.image_id is not None:
            return ImageIdPart(self.image_id, self.weight)
        upload: int = getattr(self, "upload", None)  # type: ignore[assignment]
        if upload >= len(uploads):
            raise UploadNotFound(f"part refers to upload {upload}, but {len(uploads)} image(s) were uploaded")
        name, data = uploads[upload]
        return ImagePart(data, self.weight, name)


class UploadPartIn(QueryPartIn):
    """A part of a multipart search: exactly one of `text`, `image_id` (with a `box`) or `upload`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"upload": 0, "weight": 1.0}, {"text": "at night", "weight": 0.5}],
            "oneOf": _one_kind(("text", "image_id", "upload")),
        }
    )

    upload: int | None = Field(
        default=None,
        ge=0,
        description="Position (0-based) of an uploaded file in the multipart request's `images` field.",
    )


class NearIn(RequestBody):
    """A circle on the earth: photos taken within `km` of the point."""

    latitude: float = Field(ge=-90, le=90, description="Degrees north (negative: south).")
    longitude: float = Field(ge=-180, le=180, description="Degrees east (negative: west).")
    km: float = Field(gt=0, le=20_000, description="Radius in kilometres, along the earth's surface.")


ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
LATITUDE: JsonDict = {"type": "number", "minimum": -90, "maximum": 90}
LONGITUDE: JsonDict = {"type": "number", "minimum": -180, "maximum": 180}


class FiltersIn(RequestBody):
    """Catalog filters; every one given must hold. Ranges are inclusive."""

    bucket: str | None = Field(default=None, description="Only images of this bucket.")
    key_prefix: str | None = Field(default=None, description="Only keys starting with this (case-sensitive).")
    key_glob: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_GLOB_LENGTH,
        description="Only keys matching this glob: `*` and `?` within a folder, `**` across folders.",
        examples=["2023/**/beach*.jpg"],
    )
    formats: list[ImageFormat] | None = Field(default=None, description="Only these image formats.")
    min_width: int | None = Field(
        default=None, ge=0, le=MAX_JSON_INT, description="Displayed width at least this (pixels)."
    )
    max_width: int | None = Field(default=None, ge=0, le=MAX_JSON_INT)
    min_height: int | None = Field(default=None, ge=0, le=MAX_JSON_INT)
    max_height: int | None = Field(default=None, ge=0, le=MAX_JSON_INT)
    min_size: int | None = Field(
        default=None, ge=0, le=MAX_JSON_INT, description="File size at least this many bytes."
    )
    max_size: int | None = Field(default=None, ge=0, le=MAX_JSON_INT)
    ingested_after: datetime | None = Field(
        default=None, strict=False, description="First cataloged at or after this time (naive times are UTC)."
    )
    ingested_before: datetime | None = Field(default=None, strict=False)
    captured_after: datetime | None = Field(
        default=None,
        strict=False,
        description="EXIF capture time at or after this; images without one never match.",
        examples=["2023-06-01T00:00:00Z"],
    )
    captured_before: datetime | None = Field(default=None, strict=False)
    tags: list[TagName] | None = Field(
        default=None,
        max_length=MAX_TAG_FILTERS,
        description="Only images carrying every one of these zero-shot tags (see GET /v1/tags).",
        examples=[["beach", "people"]],
    )
    no_tags: list[TagName] | None = Field(
        default=None, max_length=MAX_TAG_FILTERS, description="Only images carrying none of these tags."
    )
    cameras: list[ValueName] | None = Field(
        default=None,
        max_length=MAX_VALUE_FILTERS,
        description="Only photos taken with one of these cameras (EXIF make and model as in the `cameras` "
        "facet, case-insensitive).",
        examples=[["Apple iPhone 13", "Canon EOS R6"]],
    )
    lenses: list[ValueName] | None = Field(
        default=None, max_length=MAX_VALUE_FILTERS, description="Only photos taken with one of these lenses."
    )
    countries: list[ValueName] | None = Field(
        default=None,
        max_length=MAX_VALUE_FILTERS,
        description="Only photos taken in one of these countries (name or ISO 3166 code), from their GPS "
        "position and an offline gazetteer.",
        examples=[["Portugal"]],
    )
    cities: list[ValueName] | None = Field(
        default=None,
        max_length=MAX_VALUE_FILTERS,
        description="Only photos taken in one of these places (cities, towns).",
        examples=[["Lisbon"]],
    )
    near: NearIn | None = Field(default=None, description="Only photos taken within a radius of a point.")
    bbox: list[float] | None = Field(
        default=None,
        min_length=4,
        max_length=4,
        json_schema_extra={"prefixItems": [LATITUDE, LONGITUDE, LATITUDE, LONGITUDE]},
        description="Only photos taken inside [south, west, north, east] (degrees; west > east crosses "
        "the antimeridian).",
        examples=[[38.6, -9.3, 38.8, -9.0]],
    )
    has_location: bool | None = Field(
        default=None, description="true: only photos with a GPS position; false: only those without one."
    )
    selection: str | None = Field(
        default=None,
        max_length=200,
        description="Only images of this saved selection (a curation command's or a lasso's; "
        "`GET /v1/selections`).",
    )
    media: Literal["image", "video"] | None = Field(
        default=None, description="`image`: pictures only; `video`: moments of videos only."
    )
    min_duration: float | None = Field(
        default=None, ge=0, description="Only videos at least this long (seconds); pictures never match."
    )
    max_duration: float | None = Field(
        default=None, ge=0, description="Only videos at most this long (seconds)."
    )

    @field_validator("ingested_after", "ingested_before", "captured_after", "captured_before", mode="before")
    @classmethod
    def _a_time(cls, value: object) -> object:
        """A time is ISO 8601 text with a date and a time (not a number of seconds, not a bare date)."""
        if value is None or isinstance(value, datetime):
            return value
        if not isinstance(value, str) or not ISO_TIME.match(value):
            raise ValueError("give a time as ISO 8601, e.g. 2023-06-01T00:00:00Z")
        return value

    def to_filters(self) -> Filters:
        from pixseek.search.filters import Filters

        values = self.model_dump()
        for name in ("formats", "tags", "no_tags", "cameras", "lenses", "countries", "cities"):
            values[name] = tuple(values[name] or ())
        near = values.pop("near")
        values["near"] = None if near is None else (near["latitude"], near["longitude"], near["km"])
        values["bbox"] = None if values["bbox"] is None else tuple(values["bbox"])
        return Filters(**values)


POSITIVE_PART: JsonDict = {
    "anyOf": [{"not": {"required": ["weight"]}}, {"properties": {"weight": {"exclusiveMinimum": 0}}}]
}
# keyword mode: words only (text parts) and no min_score, which is a cosine similarity.
KEYWORD_ONLY_TEXT: JsonDict = {
    "if": {"required": ["mode"], "properties": {"mode": {"const": "keyword"}}},
    "then": {
        "properties": {
            "parts": {"items": {"required": ["text"], "properties": {"text": {"type": "string"}}}},
            "min_score": {"type": "null"},
        }
    },
}


class FiltersQuery(FiltersIn):
    """The filters as query parameters (`GET .../similar`): their values arrive as text."""

    model_config = ConfigDict(strict=False)


class SearchRequest(RequestBody):
    """A composed query: parts, filters, mode and page."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [KEYWORD_ONLY_TEXT],
            "examples": [
                {
                    "parts": [
                        {"text": "beach", "weight": 1.0},
                        {"image_id": 12, "weight": 0.5},
                        {"text": "people", "weight": -0.3},
                    ],
                    "filters": {"formats": ["JPEG"], "captured_after": "2023-06-01T00:00:00Z"},
                    "mode": "hybrid",
                    "limit": 20,
                    "offset": 0,
                    "explain": True,
                }
            ],
        }
    )

    parts: list[QueryPartIn] = Field(
        min_length=1,
        description="The query vector is the normalised weighted sum of the parts' embeddings; at least "
        "one part has a positive weight.",
        json_schema_extra={"contains": POSITIVE_PART},
    )
    filters: FiltersIn = Field(default_factory=FiltersIn)
    mode: Literal["semantic", "keyword", "hybrid"] = Field(
        default="semantic",
        description=(
            "semantic: by embedding, score = cosine similarity. keyword: words in file names, folders "
            "and captions, score = full-text relevance. hybrid: both lists fused by reciprocal rank "
            "(score = RRF); a text that is exactly a file's name or key ranks that file first."
        ),
    )
    limit: int = Field(default=10, ge=1, description="Results per page.")
    offset: int = Field(default=0, ge=0, description="Results to skip (pages never overlap or skip).")
    min_score: float | None = Field(
        default=None,
        ge=-1.0,
        le=1.0,
        description="Drop images whose cosine similarity is below this (semantic and hybrid).",
    )
    explain: bool = Field(default=False, description="Add each result's score per query part.")
    templates: list[str] | None = Field(
        default=None,
        description="Prompt templates for short texts, each with one `{}`; [] turns them off. "
        "Default: the server's setting.",
        examples=[["a photo of {}.", "a picture of {}."]],
    )
    include_query_images: bool = Field(
        default=False,
        description="Keep images given as positive `image_id` parts (with or without a box) in the results.",
    )
    exclude_duplicates: bool = Field(
        default=False, description="Leave out images with the same bytes (sha256) as a query image."
    )
    facets: bool = Field(
        default=False,
        description="Add `facets`: how many images of the whole result set carry each tag, camera, lens, "
        "country and city (most first).",
    )

    order: Literal["relevance", "newest"] = Field(
        default="relevance",
        description="relevance: best matches first. newest: the relevant results (those scoring at least "
        "best - relevance_cut x (best - median) among the top candidates; every keyword match), newest "
        "capture time first, images without one last. See docs/search.md.",
    )
    relevance_cut: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="For order=newest: 0 keeps only the best score, 1 everything above the median.",
    )

    def to_query(self, uploads: list[tuple[str, bytes]] | None = None) -> Query:
        from pixseek.search.query import Mode, Order, Query

        return Query(
            order=Order(self.order),
            relevance_cut=self.relevance_cut,
            parts=tuple(part.to_part(uploads or []) for part in self.parts),
            filters=self.filters.to_filters(),
            mode=Mode(self.mode),
            limit=self.limit,
            offset=self.offset,
            min_score=self.min_score,
            explain=self.explain,
            templates=None if self.templates is None else tuple(self.templates),
            include_query_images=self.include_query_images,
            exclude_duplicates=self.exclude_duplicates,
            facets=self.facets,
        )


class MultipartSearchRequest(SearchRequest):
    """The `query` field of a multipart search: parts may name the uploads by position."""

    parts: list[UploadPartIn] = Field(  # type: ignore[assignment]
        min_length=1,
        description="The query vector is the normalised weighted sum of the parts' embeddings; at least "
        "one part has a positive weight.",
        json_schema_extra={"contains": POSITIVE_PART},
    )


class TextSearchRequest(RequestBody):
    text: str = Field(min_length=1, examples=["a dog on a beach"])
    k: int = Field(default=10, ge=1)
    offset: int = Field(default=0, ge=0)
    min_score: float | None = Field(default=None, ge=-1.0, le=1.0)
    bucket: str | None = None
    key_prefix: str | None = None


class PartScoreOut(BaseModel):
    part: int = Field(description="Position of the part in the request.")
    label: str = Field(description="`text:...`, `image_id:N`, `region:N[x0,y0,x1,y1]` or `image:NAME`.")
    weight: float
    similarity: float = Field(description="Cosine similarity between the image and this part alone.")
    contribution: float = Field(
        description="weight × similarity / |weighted sum of parts|; the contributions sum to `similarity`."
    )


class MomentOut(BaseModel):
    id: int = Field(description="The segment's id (its thumbnail: `/v1/images/{id}/thumbnail`).")
    start: float = Field(description="Seconds from the start of the video.")
    end: float
    score: float


class SearchHit(BaseModel):
    id: int = Field(description="The image's id; for a video, the id of its best-matching segment.")
    bucket: str
    key: str
    score: float = Field(
        description="What the mode ranks by: cosine similarity (semantic, -1..1), full-text relevance "
        "(keyword) or the reciprocal-rank-fusion score (hybrid)."
    )
    similarity: float | None = Field(default=None, description="Cosine similarity to the combined query.")
    keyword_score: float | None = Field(
        default=None, description="Full-text relevance; comparable within one query only."
    )
    semantic_rank: int | None = Field(default=None, description="1-based rank in the semantic list (hybrid).")
    keyword_rank: int | None = Field(default=None, description="1-based rank in the keyword list.")
    exact_name: bool = Field(default=False, description="The query text is this file's name or key.")
    parts: list[PartScoreOut] | None = Field(default=None, description="Score per query part (`explain`).")
    media: Literal["video"] | None = Field(
        default=None,
        description="`video` for a moment of a video (then `key` is the video's file); absent for a picture.",
    )
    video_id: int | None = Field(
        default=None, description="The video file's id (`/v1/images/{id}/file` plays it)."
    )
    start: float | None = Field(
        default=None, description="Where the moment begins, seconds from the video's start."
    )
    end: float | None = Field(default=None, description="Where the moment ends (seconds).")
    duration: float | None = Field(default=None, description="The video's length in seconds.")
    moments: list[MomentOut] | None = Field(
        default=None, description="The video's best-matching moments, best first (this hit's own first)."
    )


class SearchResponse(BaseModel):
    results: list[SearchHit]
    total: int | None = Field(
        default=None, description="How many results all pages hold, where cheap to know; else null."
    )
    total_exact: bool = Field(
        default=True,
        description="False where `total` is a lower bound: an unfiltered count stops at "
        "`PIXSEEK_SEARCH_COUNT_MAX` (10,000 by default) rather than scan the whole catalog.",
    )
    offset: int = 0
    limit: int | None = None
    mode: str = "semantic"
    facets: dict[str, dict[str, int]] | None = Field(
        default=None,
        description='With `facets: true`: {"tags": {tag: images of the result set carrying it}, '
        '"cameras": {...}, "lenses": {...}, "countries": {...}, "cities": {...}}, the most frequent '
        "first (semantic: every filtered image, or those above min_score up to the fusion depth; "
        "keyword: every match; hybrid: the fused list).",
        examples=[
            {
                "tags": {"beach": 12, "people": 7},
                "cameras": {"Apple iPhone 13": 9},
                "lenses": {},
                "countries": {"Portugal": 9},
                "cities": {"Lisbon": 6, "Sintra": 3},
            }
        ],
    )

    @classmethod
    def from_page(cls, page: SearchPage) -> SearchResponse:
        return cls.model_validate(page.as_dict())
