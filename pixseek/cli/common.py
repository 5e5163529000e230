"""What every command shares: settings, logging to stderr, JSON output and error exits."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import click
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from pixseek.core.errors import PixseekError
from pixseek.core.faults import as_fault
from pixseek.core.redact import HidePasswords
from pixseek.core.settings_docs import invalid_settings

P = ParamSpec("P")
R = TypeVar("R")

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(HidePasswords("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    # open_clip logs its own random-init warning at WARNING; ours says it once, clearer.
    logging.getLogger("root").setLevel(level)


def emit(document: dict[str, Any]) -> None:
    click.echo(json.dumps(document, indent=2, default=str))


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn pixseek errors into a message (or a JSON error document) and exit status 2.

    Settings that fail validation are one of them: the message names each variable and its
    rule, never the value given (it may be a secret).
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            try:
                return fn(*args, **kwargs)
            except ValidationError as exc:
                if exc.title != "Settings":
                    raise
                raise invalid_settings(exc) from None
            except (OSError, DBAPIError) as exc:
                # A full disk, a database that went away: the reason in one line, no traceback.
                fault = as_fault(exc)
                if fault is None:
                    raise
                raise fault from None
        except PixseekError as exc:
            if kwargs.get("as_json"):
                emit({"error": exc.code, "detail": exc.detail})
            else:
                click.echo(f"error: {exc.detail}", err=True)
            sys.exit(2)

    return wrapper
