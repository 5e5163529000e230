"""docs/configuration.md, rendered from `Settings` (`pixseek config docs > docs/configuration.md`).

Names, types, bounds, defaults and descriptions all come from the fields themselves, so the
page cannot say something the code does not; tests/core/test_configuration.py checks that
the committed page is what this renders now.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from pixseek.core.errors import ConfigError
from pixseek.core.settings import SETTINGS_GROUPS, Settings, WebhookTarget

PREFIX = Settings.model_config.get("env_prefix") or ""
NESTED_DELIMITER = Settings.model_config.get("env_nested_delimiter") or "__"

HEADER = f"""# Configuration

*For anyone who runs pixseek: every setting, what it does, its unit and when to change it.*

This page is generated from the field descriptions in `pixseek/core/settings.py`; do not edit
it by hand, run `pixseek config docs > docs/configuration.md` after changing a setting.
`pixseek config show` prints the values in effect (add `--json` for one JSON document), with
secrets and URL passwords as `***`.

## How settings are read

- Each setting is an environment variable: `{PREFIX}` and the setting's name in capitals,
  e.g. `{PREFIX}DATA_DIR` for `data_dir`. Names are not case-sensitive.
- A setting of a group is the group's variable, `{NESTED_DELIMITER}` and the setting's name:
  `{PREFIX}DUPLICATES{NESTED_DELIMITER}KNN=20`. A whole group may also be one JSON object:
  `{PREFIX}DUPLICATES='{{"knn": 20}}'`.
- Lists are JSON: `{PREFIX}INGEST_ROOTS='["/photos"]'`; `[]` is the empty list.
- Booleans are `true` or `false` (`1`/`0`, `yes`/`no` and `on`/`off` work too).
- A `.env` file in the directory pixseek starts in is read as well, one `NAME=value` a line;
  a variable set in the environment wins over the same one in `.env`.
- In paths `~` is the home directory, and a relative path starts from the working directory.
- A variable with the `{PREFIX}` prefix that names no setting is ignored, so a misspelt name
  changes nothing: check with `pixseek config show`. A value of the wrong type or out of
  bounds stops pixseek with an error naming the setting and the rule it broke.
- In the tables, the type column gives a number's bounds (`1–4096`: both included), and
  "unset" is a default of no value.
"""


def env_variable(path: tuple[str, ...]) -> str:
    """The environment variable of a setting: `("duplicates", "knn")` is `PIXSEEK_DUPLICATES__KNN`."""
    return PREFIX + NESTED_DELIMITER.join(part.upper() for part in path)


def invalid_settings(exc: ValidationError) -> ConfigError:
    """Settings pydantic refused, as one error naming each variable and its rule.

    pydantic's own message quotes the rejected input, which may be a secret (a short
    bootstrap key, a URL with a password): only the variable and the rule are kept.
    """
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        # A list item's position is left out of the name: PIXSEEK_THUMBNAIL_SIZES, not ..._0.
        names = tuple(part for part in error["loc"] if isinstance(part, str))
        problems.append(f"{env_variable(names)}: {error['msg']}" if names else error["msg"])
    return ConfigError("invalid settings: " + "; ".join(problems))


@dataclass(frozen=True)
class Entry:
    """One setting: its path of field names (`("duplicates", "knn")`) and its field."""

    path: tuple[str, ...]
    field: FieldInfo

    @property
    def variable(self) -> str:
        return env_variable(self.path)


@dataclass(frozen=True)
class Section:
    """A group of settings as the page shows it: a title, an optional intro, its settings."""

    title: str
    intro: str
    entries: list[Entry]


def _nested_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def sections() -> list[Section]:
    """`SETTINGS_GROUPS` in order, a nested model's fields expanded into its own section.

    Raises:
        ValueError: a field of `Settings` in no group or in two, or a group naming no field.
    """
    fields = Settings.model_fields
    grouped = [name for names in SETTINGS_GROUPS.values() for name in names]
    missing = sorted(set(fields) - set(grouped))
    twice = sorted({name for name in grouped if grouped.count(name) > 1})
    unknown = sorted(set(grouped) - set(fields))
    if missing or twice or unknown:
        raise ValueError(
            f"SETTINGS_GROUPS must name every field of Settings once: in no group {missing}, "
            f"in several {twice}, not a field {unknown}"
        )
    result = []
    for title, names in SETTINGS_GROUPS.items():
        intro: list[str] = []
        entries: list[Entry] = []
        for name in names:
            field = fields[name]
            nested = _nested_model(field)
            if nested is None:
                entries.append(Entry((name,), field))
                continue
            intro.append(field.description or "")
            entries.extend(Entry((name, inner), f) for inner, f in nested.model_fields.items())
        result.append(Section(title, " ".join(intro), entries))
    return result


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _span(low: tuple[str, str] | None, high: tuple[str, str] | None, unit: str = "") -> str:
    """`1–4096`, `-1 to 1` (an en dash after a minus sign reads badly), `≥ 1`, `> 0, ≤ 3600`."""
    if low and high and low[0] == "≥" and high[0] == "≤":
        text = f"{low[1]} to {high[1]}" if low[1].startswith("-") else f"{low[1]}–{high[1]}"
    else:
        text = ", ".join(f"{op} {value}" for op, value in (bound for bound in (low, high) if bound))
    return f"{text} {unit}" if text and unit else text


def _bounds(field: FieldInfo) -> str:
    """The field's bounds in words: `1–4096`, `≥ 1`, `> 0, ≤ 3600`, `≤ 4 items`, ''."""
    low = high = shortest = longest = None
    for rule in field.metadata:
        match rule:
            case annotated_types.Ge(ge=value):
                low = ("≥", _number(value))
            case annotated_types.Gt(gt=value):
                low = (">", _number(value))
            case annotated_types.Le(le=value):
                high = ("≤", _number(value))
            case annotated_types.Lt(lt=value):
                high = ("<", _number(value))
            case annotated_types.MinLen(min_length=count):
                shortest = ("≥", str(count))
            case annotated_types.MaxLen(max_length=count):
                longest = ("≤", str(count))
    unit = "items" if get_origin(field.annotation) is list else "characters"
    return ", ".join(text for text in (_span(low, high), _span(shortest, longest, unit)) if text)


_TYPE_NAMES: dict[Any, tuple[str, str]] = {
    bool: ("bool", "bools"),
    int: ("int", "ints"),
    float: ("float", "floats"),
    str: ("string", "strings"),
    Path: ("path", "paths"),
    SecretStr: ("secret", "secrets"),
    WebhookTarget: (
        "webhook target (`url`, `secret`, `events`)",
        "webhook targets (`url`, `secret`, `events`)",
    ),
}


def _type_name(annotation: Any, plural: bool = False) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        # `X | None`: "unset" in the default column says that None is allowed.
        (inner,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        return _type_name(inner, plural)
    if origin is Literal:
        choices = ", ".join(f"`{choice}`" for choice in get_args(annotation))
        return f"any of {choices}" if plural else f"one of {choices}"
    if origin is list:
        (item,) = get_args(annotation)
        return f"JSON list of {_type_name(item, plural=True)}"
    if annotation in _TYPE_NAMES:
        return _TYPE_NAMES[annotation][1 if plural else 0]
    raise TypeError(f"no name for the settings type {annotation!r}: add it to _TYPE_NAMES")


def field_type(field: FieldInfo) -> str:
    """The type column: `int (1–4096)`, `one of `cpu`, `cuda``, `JSON list of strings`, ..."""
    bounds = _bounds(field)
    name = _type_name(field.annotation)
    return f"{name} ({bounds})" if bounds else name


def _plain(value: Any) -> Any:
    """A default as JSON would show it, a path under the home directory as `~/...`."""
    if isinstance(value, Path):
        # data_dir's default is computed from the home directory: the page is the same on
        # every machine only if it is shown relative to it.
        home = Path.home()
        return f"~/{value.relative_to(home)}" if value.is_relative_to(home) else str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    return value


def field_default(field: FieldInfo) -> str:
    """The default column: `32`, `"auto"` as `auto`, lists as JSON, None as "unset"."""
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "secret"
    value = _plain(value)
    text = value if isinstance(value, str) and value else json.dumps(value, ensure_ascii=False)
    return f"`{text}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def configuration_markdown() -> str:
    """The whole of docs/configuration.md."""
    lines = [HEADER]
    for section in sections():
        lines += [f"## {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        lines += ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
        for entry in section.entries:
            cells = [
                f"`{entry.variable}`",
                field_type(entry.field),
                field_default(entry.field),
                entry.field.description or "",
            ]
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        lines.append("")
    return "\n".join(lines)
