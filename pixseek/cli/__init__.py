"""The `pixseek` command line.

Commands are registered by import path and imported only when run (pixseek/cli/lazy.py),
so `pixseek --help`, `--version`, `status` and `jobs` start without loading torch,
open_clip or faiss. A new command adds one line to `COMMANDS`.
"""

from __future__ import annotations

import click

from pixseek import __version__
from pixseek.cli.common import setup_logging
from pixseek.cli.lazy import LazyCommand, LazyGroup

COMMANDS = {
    "ingest": LazyCommand(
        "pixseek.cli.ingest:ingest_command",
        "Index the images under PATH (a folder or s3://bucket/prefix); re-runs embed only changes.",
    ),
    "search": LazyCommand(
        "pixseek.cli.search:search_command",
        "Search by TEXT, image files and cataloged images, each with a weight.",
    ),
    "serve": LazyCommand(
        "pixseek.cli.serve:serve_command",
        "Serve the search API (OpenAPI docs at /docs) and the web UI (at /).",
    ),
    "status": LazyCommand(
        "pixseek.cli.status:status_command", "Counts per status, the model, the index and the data directory."
    ),
    "migrate": LazyCommand(
        "pixseek.cli.status:migrate_command",
        "Apply database migrations (run once before starting api and workers).",
    ),
    "jobs": LazyCommand(
        "pixseek.cli.jobs:jobs_command", "The most recent jobs, newest first: status and counts."
    ),
    "backup": LazyCommand(
        "pixseek.cli.backup:backup_command",
        "Back up the catalog, the served index generation and the patch store into DEST.",
    ),
    "restore": LazyCommand(
        "pixseek.cli.backup:restore_command",
        "Restore a backup made by `pixseek backup` into an empty data dir and catalog.",
    ),
    "worker": LazyCommand(
        "pixseek.cli.worker:worker_command",
        "Run a worker for PIXSEEK_BROKER_URL; start any number on any machine sharing the data dir.",
    ),
    "beat": LazyCommand(
        "pixseek.cli.worker:beat_command",
        "Send the scheduled rescans of PIXSEEK_RESCAN__BUCKETS to the workers; run exactly one.",
    ),
    "keys": LazyCommand(
        "pixseek.cli.keys:keys_group", "API keys: from the first one on, every API call needs a key."
    ),
    "duplicates": LazyCommand(
        "pixseek.cli.duplicates:duplicates_command",
        "Find duplicates (new images against the collection) and list the groups.",
    ),
    "curate": LazyCommand(
        "pixseek.cli.curate:curate_command",
        "Curate the collection: each command saves a selection (name, ids, how it was made).",
    ),
    "export": LazyCommand(
        "pixseek.cli.export:export_command",
        "Write the searchable images' embeddings and metadata to FOLDER in clip-retrieval's layout.",
    ),
    "import": LazyCommand(
        "pixseek.cli.export:import_command",
        "Make the embeddings in FOLDER searchable for the files of BUCKET, without re-embedding.",
    ),
    "saved": LazyCommand(
        "pixseek.cli.saved:saved_group",
        "Saved searches: named queries whose matches are kept current after every publish.",
    ),
    "thumbnails": LazyCommand(
        "pixseek.cli.thumbnails:thumbnails_command",
        "Make the thumbnails the web UI shows for indexed images that lack them.",
    ),
    "ocr": LazyCommand(
        "pixseek.cli.ocr:ocr_command",
        "Read the text in every indexed image that lacks it, so keyword search finds its words.",
    ),
    "exif": LazyCommand(
        "pixseek.cli.exif:exif_command",
        "Read the EXIF (camera, lens, exposure, GPS and place) of indexed images that lack it.",
    ),
    "reindex": LazyCommand(
        "pixseek.cli.reindex:reindex_command",
        "Embed the catalog again with another model while search answers from the current one.",
    ),
    "regions": LazyCommand(
        "pixseek.cli.regions:regions_group",
        "Region search upkeep: `upgrade` re-embeds centre-crop patches over the whole picture.",
    ),
    "eval": LazyCommand(
        "pixseek.cli.eval:eval_command",
        "Score search quality with QUERIES: a COCO captions file or JSON lines.",
    ),
    "tags": LazyCommand(
        "pixseek.cli.tags:tags_group",
        "Zero-shot tags: list the vocabulary, add or remove tags, tune thresholds, preview.",
    ),
    "config": LazyCommand(
        "pixseek.cli.config:config_group",
        "Settings in effect (secrets hidden) and their reference page.",
    ),
    "demo": LazyCommand(
        "pixseek.cli.demo:demo_command",
        "Generate scenes of coloured shapes into FOLDER, ingest them and run three searches.",
    ),
}


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-v info, -vv debug).")
@click.version_option(__version__, prog_name="pixseek")
def main(verbose: int) -> None:
    """pixseek: ingest image buckets, search them by text or image, find duplicates."""
    setup_logging(verbose)
