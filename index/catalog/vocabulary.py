"""The tag vocabulary: categories with prompts, templates and thresholds, from two JSON files.

The default list ships with pixseek (`index/catalog/data/default_tags.json`: everyday subjects and
scenes); the user's own file (`PIXSEEK_TAGS__VOCABULARY_FILE`, by default
`<data_dir>/tags.json`, edited by `pixseek tags`) adds categories, changes fields of the
default ones by name, removes them, or leaves the defaults out altogether:

    {
      "include_defaults": true,
      "threshold": 0.1,                      # replaces the defaults' vocabulary-wide values
      "templates": ["a photo of {}."],
      "background": ["a photo."],
      "categories": [
        {"name": "sailing", "prompts": ["a sailing boat", "a regatta"], "threshold": 0.2},
        {"name": "beach", "threshold": 0.3}  # a default category, with its own threshold
      ],
      "removed": ["receipt"]
    }

A category's texts are each prompt put in each template; its threshold applies to its
probability among all categories and the background prompts (docs/search.md). Two digests
say when tags must be scored again: `prompt_digest` (texts and model: the cached text
embeddings) and `digest` (that plus the thresholds: the stored tags).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixseek.core.errors import InvalidRequest

DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "default_tags.json"
DEFAULT_TEMPLATES = ("a photo of {}.",)
DEFAULT_THRESHOLD = 0.1
TAG_NAME = re.compile(r"[^\W_A-Z][^\W_A-Z]*(?:[ _-][^\W_A-Z]+)*")
MAX_TAG_CHARS = 64
MAX_CATEGORIES = 1000
MAX_TEXTS = 20_000  # prompts x templates over the vocabulary: text-tower forwards per change
MAX_TEXT_CHARS = 300


class VocabularyError(InvalidRequest):
    """A vocabulary file that cannot be used, or an edit that would make one."""

    code = "invalid_vocabulary"


@dataclass(frozen=True)
class Category:
    name: str
    prompts: tuple[str, ...]
    templates: tuple[str, ...]
    threshold: float

    def texts(self) -> list[str]:
        """Every prompt in every template: the texts whose mean embedding is the category's."""
        return [template.format(prompt) for prompt in self.prompts for template in self.templates]


@dataclass(frozen=True)
class Vocabulary:
    categories: tuple[Category, ...]
    background: tuple[str, ...] = ()  # "none of these": competitors in the softmax, never tags
    sources: tuple[str, ...] = field(default=(), compare=False)  # files read, for messages

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    def get(self, name: str) -> Category:
        for category in self.categories:
            if category.name == name:
                return category
        raise VocabularyError(f"no tag category {name!r} (see `pixseek tags list`)")

    def prompt_digest(self, model: str) -> str:
        """Names the text embeddings: every category's texts, the background, and the model."""
        texts = {"model": model, "categories": [[c.name, c.texts()] for c in self.categories]}
        texts["background"] = list(self.background)
        return _sha256(texts)

    def digest(self, model: str) -> str:
        """Names the tags: the prompt digest and every threshold."""
        return _sha256([self.prompt_digest(model), [[c.name, c.threshold] for c in self.categories]])


def _sha256(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def check_tag_name(name: str) -> str:
    """The name if it is a valid tag (lowercase words joined by space, `-` or `_`), else VocabularyError."""
    if not 1 <= len(name) <= MAX_TAG_CHARS or not TAG_NAME.fullmatch(name):
        raise VocabularyError(
            f"tag name {name!r}: use 1 to {MAX_TAG_CHARS} lowercase letters or digits, "
            "words joined by a space, - or _"
        )
    return name


def _threshold(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < float(value) <= 1.0:
        raise VocabularyError(f"{where}: threshold must be a probability above 0 and at most 1")
    return float(value)


def _texts(value: Any, where: str, *, template: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise VocabularyError(f"{where}: expected a list of non-empty texts")
    for text in value:
        if len(text) > MAX_TEXT_CHARS:
            raise VocabularyError(f"{where}: {text[:40]!r}... is longer than {MAX_TEXT_CHARS} characters")
        if template and text.count("{}") != 1:
            raise VocabularyError(f"{where}: template {text!r} must contain exactly one {{}}")
    return tuple(value)


def read_file(path: Path) -> dict[str, Any]:
    """A vocabulary file's JSON object; {} when the file does not exist."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise VocabularyError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise VocabularyError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise VocabularyError(f"{path}: expected a JSON object")
    return data


def _categories(data: dict[str, Any], where: str) -> list[dict[str, Any]]:
    entries = data.get("categories", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "name" in e for e in entries):
        raise VocabularyError(f"{where}: `categories` must be a list of objects with a `name`")
    return entries


def load_vocabulary(user_file: Path | None, default_file: Path = DEFAULT_FILE) -> Vocabulary:
    """The defaults merged with the user's file (see the module docstring).

    Raises:
        VocabularyError: a file that is not valid, or a vocabulary with no category.
    """
    user = read_file(user_file) if user_file is not None else {}
    include_defaults = user.get("include_defaults", True)
    if not isinstance(include_defaults, bool):
        raise VocabularyError(f"{user_file}: include_defaults must be true or false")
    base = read_file(default_file) if include_defaults else {}
    merged = {key: base[key] for key in ("templates", "threshold", "background") if key in base}
    merged.update({key: user[key] for key in ("templates", "threshold", "background") if key in user})
    templates = _texts(merged.get("templates", list(DEFAULT_TEMPLATES)), "templates", template=True)
    threshold = _threshold(merged.get("threshold", DEFAULT_THRESHOLD), "vocabulary")
    background = _texts(merged.get("background", []), "background") if merged.get("background") else ()

    entries: dict[str, dict[str, Any]] = {}
    for entry in _categories(base, str(default_file)):
        entries[entry["name"]] = dict(entry)
    for entry in _categories(user, str(user_file)):
        entries[entry["name"]] = {**entries.get(entry["name"], {}), **entry}
    removed = user.get("removed", [])
    if not isinstance(removed, list):
        raise VocabularyError(f"{user_file}: `removed` must be a list of names")
    categories = []
    for name, entry in entries.items():
        if name in removed:
            continue
        where = f"category {name!r}"
        check_tag_name(str(name))
        prompts = _texts(entry.get("prompts", [name]), where)
        own = _texts(entry["templates"], where, template=True) if "templates" in entry else templates
        own_threshold = _threshold(entry["threshold"], where) if "threshold" in entry else threshold
        categories.append(Category(str(name), prompts, own, own_threshold))
    if not categories:
        raise VocabularyError("the tag vocabulary has no category: add one with `pixseek tags add`")
    if len(categories) > MAX_CATEGORIES:
        raise VocabularyError(f"the tag vocabulary has more than {MAX_CATEGORIES} categories")
    if sum(len(c.texts()) for c in categories) + len(background) > MAX_TEXTS:
        raise VocabularyError(f"the tag vocabulary has more than {MAX_TEXTS} prompt texts")
    sources = tuple(str(p) for p in (default_file if include_defaults else None, user_file) if p)
    return Vocabulary(tuple(categories), background, sources)


# --- editing the user's file (`pixseek tags add | remove | threshold`) ------------------


def _write(path: Path, data: dict[str, Any]) -> None:
    """Replace the file atomically (a temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tags-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, ensure_ascii=False)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _edit(path: Path, change: Any) -> Vocabulary:
    """Apply `change` to the user's file, keep it only if the result loads."""
    data = read_file(path)
    change(data)
    # Validate against a temp copy first: a bad edit never replaces a good file.
    with tempfile.TemporaryDirectory() as folder:
        trial = Path(folder) / "tags.json"
        _write(trial, data)
        vocabulary = load_vocabulary(trial)
    _write(path, data)
    return vocabulary


def _entry(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    for entry in data.setdefault("categories", []):
        if entry.get("name") == name:
            return entry
    return None


def add_category(
    path: Path, name: str, prompts: list[str] | None = None, threshold: float | None = None
) -> Vocabulary:
    """Add (or redefine) a category in the user's file; returns the merged vocabulary."""
    check_tag_name(name)

    def change(data: dict[str, Any]) -> None:
        entry = _entry(data, name)
        if entry is None:
            entry = {"name": name}
            data["categories"].append(entry)
        if prompts:
            entry["prompts"] = list(prompts)
        if threshold is not None:
            entry["threshold"] = threshold
        if name in data.get("removed", []):
            data["removed"].remove(name)

    return _edit(path, change)


def remove_category(path: Path, name: str, *, is_default: bool) -> Vocabulary:
    """Remove a category: the user's entry, and a default one by listing it as removed."""

    def change(data: dict[str, Any]) -> None:
        entry = _entry(data, name)
        if entry is None and not is_default:
            raise VocabularyError(f"no tag category {name!r} (see `pixseek tags list`)")
        if entry is not None:
            data["categories"].remove(entry)
        if is_default and name not in data.setdefault("removed", []):
            data["removed"].append(name)

    return _edit(path, change)


def set_threshold(path: Path, name: str, threshold: float, vocabulary: Vocabulary) -> Vocabulary:
    """Give one category its own threshold (a default category gets an entry that overrides it)."""
    vocabulary.get(name)
    _threshold(threshold, f"category {name!r}")

    def change(data: dict[str, Any]) -> None:
        entry = _entry(data, name)
        if entry is None:
            data["categories"].append({"name": name, "threshold": threshold})
        else:
            entry["threshold"] = threshold

    return _edit(path, change)


def default_names(default_file: Path = DEFAULT_FILE) -> set[str]:
    return {str(e["name"]) for e in _categories(read_file(default_file), str(default_file))}
