"""`pixseek demo`: meaningful search results offline, in under a minute, with the bundled tiny model."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.settings import get_settings


@click.command("demo")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default="pixseek-demo")
@click.option(
    "--count", type=click.IntRange(10, 5000), default=200, show_default=True, help="Scenes to generate."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated scenes.")
@json_option
@handle_errors
def demo_command(folder: Path, count: int, seed: int, as_json: bool) -> None:
    """Generate scenes of coloured shapes into FOLDER, ingest them and run three searches.

    Uses pixseek's bundled tiny model (trained on such scenes only; it knows nothing
    else) and its own data dir, FOLDER/data, so your library is not touched. Re-running
    reuses the scenes and the index.
    """
    # Imported here: `pixseek demo --help` must not load torch (tests/test_cli_startup.py).
    from pixseek.demo.run import REGION_CLS_WEIGHT, demo_settings, run_demo

    started = time.monotonic()
    base = get_settings()
    summary, searches = run_demo(base, folder, count=count, seed=seed)
    settings = demo_settings(base, folder)
    env = (
        f"PIXSEEK_DATA_DIR={shlex.quote(str(settings.data_dir))} PIXSEEK_MODEL={settings.model} "
        f"PIXSEEK_PRETRAINED={shlex.quote(settings.pretrained)}"
    )
    if as_json:
        emit(
            {
                "folder": str(folder),
                "ingest": summary,
                "searches": [
                    {"kind": s.title, "query": s.query, "results": [hit.__dict__ for hit in s.hits]}
                    for s in searches
                ],
                "env": env,
            }
        )
        return
    click.echo(
        f"{count} scenes in {folder / 'scenes'}: {summary['indexed']} indexed, "
        f"{summary['unchanged']} unchanged ({time.monotonic() - started:.0f} s), model {settings.model}"
    )
    for number, search in enumerate(searches, 1):
        extra = (
            f" (region and whole-image scores, {REGION_CLS_WEIGHT} each)" if search.title == "region" else ""
        )
        click.echo(f"\n{number}. {search.title}: {search.query}{extra}")
        for hit in search.hits:
            box = f"  box {hit.box}" if hit.box is not None else ""
            click.echo(f"   {hit.score:.3f}  {hit.key}  ({hit.caption}){box}")
    click.echo(f'\nYour own queries:\n  {env} pixseek search "two green triangles"')
    click.echo(f"  {env} pixseek serve")
