"""`pixseek config`: the settings in effect (secrets hidden), and their reference page."""

from __future__ import annotations

import json
from typing import Any

import click
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.errors import ConfigError
from pixseek.core.redact import redacted_dump
from pixseek.core.settings import Settings, get_settings
from pixseek.core.settings_docs import Entry, configuration_markdown, env_variable, sections


@click.group("config")
def config_group() -> None:
    """Settings in effect (secrets hidden) and their reference page."""


@config_group.command("docs")
def docs_command() -> None:
    """Print the reference page of every setting (docs/configuration.md)."""
    click.echo(configuration_markdown(), nl=False)


@config_group.command("show")
@json_option
@handle_errors
def show_command(as_json: bool) -> None:
    """Print the settings in effect (environment and .env), secrets as ***.

    After `pixseek reindex` has switched models, `model`, `pretrained` and `space` are those of
    the generation served, as every command sees them.
    """
    values = redacted_dump(_settings())
    if as_json:
        emit(values)
        return
    groups = sections()
    width = max(len(entry.variable) for section in groups for entry in section.entries)
    for number, section in enumerate(groups):
        click.echo(("\n" if number else "") + section.title)
        for entry in section.entries:
            click.echo(f"  {entry.variable:<{width}}  {_shown(_value(values, entry))}")


def _settings() -> Settings:
    """The settings every command uses; invalid ones as an error naming each variable.

    pydantic's own message quotes the rejected input, which may be a secret: only the
    variable and the rule are shown.
    """
    try:
        return get_settings()
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors(include_input=False, include_url=False)]
        raise ConfigError("invalid settings: " + "; ".join(problems)) from None


def _problem(error: ErrorDetails) -> str:
    # A list item's position is left out of the name: PIXSEEK_THUMBNAIL_SIZES, not ..._0.
    names = tuple(part for part in error["loc"] if isinstance(part, str))
    return f"{env_variable(names)}: {error['msg']}" if names else error["msg"]


def _value(values: dict[str, Any], entry: Entry) -> Any:
    value: Any = values
    for part in entry.path:
        value = value[part]
    return value


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, str):
        return value or '""'
    return json.dumps(value)
