"""The `pixseek` command line."""

from __future__ import annotations

import click

from pixseek import __version__
from pixseek.cli.common import setup_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-v info, -vv debug).")
@click.version_option(__version__, prog_name="pixseek")
def main(verbose: int) -> None:
    """pixseek: ingest image buckets, search them by text or image, find duplicates."""
    setup_logging(verbose)


def _register() -> None:
    from pixseek.cli import demo, duplicates, eval, ingest, jobs, search, serve, status, worker

    for module in (ingest, search, serve, status, jobs, worker, duplicates, eval, demo):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
