"""Region bodies: region search by text, image box or upload, and its hits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pixseek.api.schemas.base import RequestBody
from pixseek.core.limits import MAX_JSON_INT
from pixseek.search.limits import MAX_SMOOTH


class RegionSearchHit(BaseModel):
    id: int
    bucket: str
    key: str
    score: float = Field(
        description="The ranking score: region score, mixed with the CLS score by cls_weight."
    )
    region_score: float = Field(description="Cosine similarity of the best (smoothed) patch cell.")
    cls_score: float = Field(description="Cosine similarity of the whole-image embedding.")
    box: list[int] = Field(description="[x0, y0, x1, y1] in pixels of the image as displayed.")
    cell: list[int] = Field(description="[row, col] of the best patch cell.")


class RegionCoverage(BaseModel):
    """How region search sees the collection right now (when its patch index was published)."""

    whole: int = Field(description="Searchable images whose patches cover the whole picture.")
    centre: int = Field(
        description="Searchable images whose patches cover only the centre square (regions elsewhere in "
        "them are not found): images waiting for their enrich job, older catalogs "
        "(`pixseek regions upgrade`), or PIXSEEK_REGION_COVERAGE=centre."
    )
    pending: int = Field(description="Of these, images whose enrich job has not run yet.")


class RegionSearchResponse(BaseModel):
    results: list[RegionSearchHit]
    coverage: RegionCoverage | None = Field(
        default=None, description="How much of the collection the answer saw whole; null when unknown."
    )


class RegionIn(RequestBody):
    """A region of a cataloged image: the box a user drew on it."""

    image_id: int = Field(ge=1, le=MAX_JSON_INT, description="The cataloged image the box is drawn on.")
    box: list[float] = Field(
        min_length=4,
        max_length=4,
        description="[x0, y0, x1, y1] in pixels of the image as displayed (EXIF orientation applied), "
        "the frame of the boxes in results.",
        examples=[[40, 30, 200, 180]],
    )


class RegionSearchRequest(RequestBody):
    """Exactly one of `text` or `region`, and how to rank."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"text": "a red umbrella", "k": 10},
                {"region": {"image_id": 42, "box": [40, 30, 200, 180]}, "k": 10},
            ],
            "oneOf": [  # exactly one of text or region, as the validator below says
                {
                    "required": ["text"],
                    "properties": {"text": {"type": "string"}, "region": {"type": "null"}},
                },
                {
                    "required": ["region"],
                    "properties": {"region": {"type": "object"}, "text": {"type": "null"}},
                },
            ],
        }
    )

    text: str | None = Field(default=None, min_length=1, examples=["a red umbrella"])
    region: RegionIn | None = Field(
        default=None, description="Search for more of this region (its vector comes from the stored patches)."
    )
    include_query_image: bool = Field(
        default=False, description="With `region`: keep the image the box is drawn on in the results."
    )
    k: int = Field(default=10, ge=1)
    smooth: int = Field(default=0, ge=0, le=MAX_SMOOTH, description="Neighbourhood radius, in cells.")
    cls_weight: float = Field(default=0.0, ge=0.0, le=1.0)
    min_score: float | None = Field(default=None, ge=-1.0, le=1.0)
    bucket: str | None = None
    key_prefix: str | None = None

    @model_validator(mode="after")
    def _one_query(self) -> RegionSearchRequest:
        if (self.text is None) == (self.region is None):
            raise ValueError("give exactly one of text or region")
        return self
