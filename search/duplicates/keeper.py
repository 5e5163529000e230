"""Which image of a group to keep: an ordered list of rules, each with a reason to show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pixseek.core.settings import DEFAULT_KEEPER_ORDER, KeeperRule

DEFAULT_ORDER = DEFAULT_KEEPER_ORDER


@dataclass(frozen=True)
class ImageFacts:
    """What the keeper rules look at (unknown values lose every comparison)."""

    id: int
    width: int | None = None
    height: int | None = None
    size: int | None = None
    captured_at: datetime | None = None

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)


def _value(facts: ImageFacts, rule: KeeperRule) -> float:
    """A number where larger is better, for one rule."""
    if rule == "resolution":
        return float(facts.pixels)
    if rule == "file_size":
        return float(facts.size or 0)
    # Earlier capture is better; an unknown date ranks after every known one.
    return -facts.captured_at.timestamp() if facts.captured_at is not None else float("-inf")


def rank_key(facts: ImageFacts, order: Sequence[KeeperRule] = DEFAULT_ORDER) -> tuple[float, ...]:
    """Sort key, best first: the rules in order, then the lowest id."""
    return (*(-_value(facts, rule) for rule in order), float(facts.id))


def _describe(facts: ImageFacts, rule: KeeperRule) -> str:
    if rule == "resolution":
        return f"largest resolution ({facts.width}x{facts.height})"
    if rule == "file_size":
        return f"largest file ({facts.size} bytes)"
    when = facts.captured_at.isoformat() if facts.captured_at else "unknown"
    return f"earliest capture time ({when})"


def keeper_reason(
    keeper: ImageFacts, others: Sequence[ImageFacts], order: Sequence[KeeperRule] = DEFAULT_ORDER
) -> str:
    """Why `keeper` beats the best of `others`: the first rule that tells them apart."""
    if not others:
        return "only image"
    runner_up = min(others, key=lambda f: rank_key(f, order))
    tied: list[str] = []
    for rule in order:
        if _value(keeper, rule) != _value(runner_up, rule):
            prefix = f"same {', '.join(tied)}; " if tied else ""
            return f"keeper: {prefix}{_describe(keeper, rule)}"
        tied.append(rule.replace("_", " "))
    return "keeper: every rule ties; lowest id"


def choose_keeper(
    members: Sequence[ImageFacts], order: Sequence[KeeperRule] = DEFAULT_ORDER
) -> tuple[ImageFacts, str]:
    """The best image of `members` by the rules, and the reason."""
    if not members:
        raise ValueError("choose_keeper needs at least one image")
    ranked = sorted(members, key=lambda f: rank_key(f, order))
    return ranked[0], keeper_reason(ranked[0], ranked[1:], order)
