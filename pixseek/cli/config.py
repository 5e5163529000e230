"""`pixseek config`: the settings in effect (secrets hidden), and their reference page."""

from __future__ import annotations

import json
from typing import Any

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.redact import redacted_dump
from pixseek.core.settings import Settings, get_settings
from pixseek.core.settings_docs import Entry, configuration_markdown, sections


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
    """The settings every command uses (invalid ones are reported by `handle_errors`)."""
    return get_settings()


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
