"""Duplicate bodies: groups and their members, resolutions, detection, the upload check."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from pixseek.api.schemas.base import RequestBody

KindParam = Literal["exact", "near", "contained", "similar"]
StatusParam = Literal["open", "resolved", "dismissed"]


class GroupImage(BaseModel):
    id: int
    bucket: str | None
    key: str | None
    score: float
    tier: str | None = Field(
        description="exact, near, contained or similar: the member's tier relative to the keeper; "
        "null for the keeper"
    )
    reason: str
    role: str = Field(description="keep, member (open group) or duplicate (marked by a resolution)")
    present: bool = Field(description="False once the image was deleted from its bucket")


class Group(BaseModel):
    id: int
    kind: str = Field(description="the group's strongest link: exact, near, contained or similar")
    status: str
    keep: int
    action: str | None
    images: list[GroupImage]


class GroupPage(BaseModel):
    groups: list[Group]
    total: int
    offset: int
    limit: int


class ResolveRequest(RequestBody):
    keep: list[int] | None = Field(default=None, description="Image ids to keep; default the keeper.")
    action: Literal["remove", "hide"] = "hide"


class DetectRequest(RequestBody):
    full: bool = Field(default=False, description="Compare every image again, not only new ones.")


class CheckMatch(BaseModel):
    id: int
    bucket: str
    key: str
    kind: str
    score: float
    reason: str


class CheckResponse(BaseModel):
    sha256: str
    verdict: str = Field(description="exact, near, contained, similar or none: the closest tier found")
    matches: list[CheckMatch]


class ApplyRequest(BaseModel):
    dry_run: bool = Field(
        default=True, description="Only list what would move (the default); false moves the files."
    )


class ApplyMove(BaseModel):
    image_id: int
    from_: str = Field(alias="from", serialization_alias="from")
    to: str


class LeftAlone(BaseModel):
    image_id: int
    reason: str


class ApplyResponse(BaseModel):
    run: str | None = Field(description="the run's id (its manifest); null for a dry run")
    dry_run: bool
    planned: int
    moved: int = Field(description="files moved (by undo: moved back)")
    skipped: list[LeftAlone] = Field(description="images left where they are, and why")
    resumed: bool = Field(description="true when this finished a run a crash had cut short")
    moves: list[ApplyMove] = Field(description="a dry run's moves, from and to")


class ApplyRun(BaseModel):
    run: str
    created_at: str | None
    planned: int
    moved: int
    skipped: int
    finished: bool
    undone: bool


class ApplyRuns(BaseModel):
    runs: list[ApplyRun]
