"""Curation bodies: the commands' requests, their reports, selections and scores."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from pixseek.core.limits import MAX_ID

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"


class DiverseRequest(BaseModel):
    n: int = Field(ge=1, le=1_000_000, description="How many pictures to pick.")
    name: str | None = Field(
        default=None, max_length=160, pattern=NAME_PATTERN, description="Default diverse-N."
    )
    refine: int = Field(
        default=1,
        ge=0,
        le=20,
        description="Steps moving each pick to the middle of its region (0: pure greedy).",
    )


class DensityRequest(BaseModel):
    n: int = Field(ge=1, le=1_000_000)
    name: str | None = Field(default=None, max_length=160, pattern=NAME_PATTERN)
    k: int = Field(default=10, ge=1, le=100, description="Neighbours of the density estimate.")


class ClustersRequest(BaseModel):
    k: int = Field(ge=2, le=10_000)
    name: str | None = Field(default=None, max_length=160, pattern=NAME_PATTERN)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class SplitsRequest(BaseModel):
    ratios: list[Annotated[float, Field(gt=0, le=1e6)]] = Field(
        default=[0.8, 0.1, 0.1],
        min_length=1,
        max_length=10,
        description="Shares of the splits (any positive scale).",
    )
    names: list[Annotated[str, Field(max_length=100, pattern=NAME_PATTERN)]] | None = Field(
        default=None,
        min_length=1,
        max_length=10,
        description="One distinct name per ratio; default train, val, test.",
    )
    name: str = Field(default="split", max_length=160, pattern=NAME_PATTERN)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    retake_cosine: float | None = Field(
        default=None, ge=-1.0, le=1.0, description="CLS cosine of retakes kept together (default 0.9)."
    )


class SelectionRef(BaseModel):
    name: str
    count: int
    label: str | None = None


class CurationReport(BaseModel):
    """The selections written, and the command's figures (coverage, leaks, time...)."""

    model_config = {"extra": "allow"}

    selections: list[SelectionRef]


class SelectionInfo(BaseModel):
    name: str
    method: str
    count: int
    params: dict[str, Any] = Field(description="how it was made: the command's arguments and figures")
    created_at: str


class SelectionImage(BaseModel):
    id: int
    score: float | None


class SelectionDetail(SelectionInfo):
    images: list[SelectionImage]


class SelectionList(BaseModel):
    selections: list[SelectionInfo]


class SelectionCreate(BaseModel):
    name: str = Field(max_length=160, pattern=NAME_PATTERN)
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        min_length=1, max_length=1_000_000, description="Image ids, in order."
    )
    method: Literal["lasso", "manual"] = "manual"
    params: dict[str, Any] = Field(
        default_factory=dict, description="How it was made (e.g. the lasso polygon)."
    )


class ScoredImage(BaseModel):
    id: int
    uniqueness: float
    typicality: float


class ScorePage(BaseModel):
    total: int
    order: str
    images: list[ScoredImage]


class MapRequest(BaseModel):
    method: Literal["tsne", "pca"] | None = Field(
        default=None, description="Default: t-SNE up to 50,000 images when openTSNE is installed, else PCA."
    )


class MapSummary(BaseModel):
    generation: int
    method: str
    count: int
    seconds: float


class DiverseJob(BaseModel):
    command: Literal["diverse"]
    params: DiverseRequest


class DensityJob(BaseModel):
    command: Literal["typical", "unusual"]
    params: DensityRequest


class ClustersJob(BaseModel):
    command: Literal["clusters"]
    params: ClustersRequest


class SplitsJob(BaseModel):
    command: Literal["splits"]
    params: SplitsRequest = Field(default_factory=SplitsRequest)


class MapJob(BaseModel):
    command: Literal["map"]
    params: MapRequest = Field(default_factory=MapRequest)


# One command as a job: `params` are its own route's request body, checked by its schema.
CurationJobRequest = Annotated[
    DiverseJob | DensityJob | ClustersJob | SplitsJob | MapJob, Field(discriminator="command")
]
