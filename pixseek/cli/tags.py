"""`pixseek tags`: the zero-shot tag vocabulary: list, add, remove, tune thresholds, preview, apply.

Edits go to the user's vocabulary file (`PIXSEEK_TAGS__VOCABULARY_FILE`, by default
`<data_dir>/tags.json`); the defaults that ship with pixseek are never changed. Editing
loads no model: the catalog is tagged again by `pixseek tags apply` or the next ingest.
`preview` and `apply` embed the prompts (the text tower only; images are never re-embedded).
"""

from __future__ import annotations

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.settings import get_settings
from pixseek.index.catalog.tags import catalog_tag_counts, tagging_progress
from pixseek.index.catalog.vocabulary import (
    Vocabulary,
    add_category,
    default_names,
    load_vocabulary,
    remove_category,
    set_threshold,
)
from pixseek.model.identity import ModelId

APPLY_HINT = "tag the catalog with it: `pixseek tags apply` (or the next ingest does)"


@click.group("tags")
def tags_group() -> None:
    """Zero-shot tags: list the vocabulary, add or remove tags, tune thresholds, preview."""


def _vocabulary() -> Vocabulary:
    return load_vocabulary(get_settings().tag_vocabulary_file)


def _changed(vocabulary: Vocabulary, what: str, as_json: bool) -> None:
    if as_json:
        emit({"changed": what, "categories": len(vocabulary.categories), "file": vocabulary.sources[-1]})
        return
    click.echo(f"{what} ({len(vocabulary.categories)} categories); {APPLY_HINT}")


@tags_group.command("list")
@json_option
@handle_errors
def list_command(as_json: bool) -> None:
    """Every tag with its threshold, prompts and how many images carry it."""
    settings = get_settings()
    vocabulary = _vocabulary()
    ensure_schema(settings)
    with session_scope(settings) as session:
        counts = catalog_tag_counts(session)
        scored, images = tagging_progress(session, vocabulary.digest(ModelId.of(settings).key))
    rows = [
        {
            "name": c.name,
            "threshold": c.threshold,
            "prompts": list(c.prompts),
            "images": counts.get(c.name, 0),
        }
        for c in vocabulary.categories
    ]
    if as_json:
        emit({"tags": rows, "scored": scored, "images": images, "file": str(settings.tag_vocabulary_file)})
        return
    width = max(len(r["name"]) for r in rows)  # type: ignore[arg-type]
    for row in rows:
        prompts = "; ".join(row["prompts"])  # type: ignore[arg-type]
        click.echo(f"{row['name']:<{width}}  {row['threshold']:.3f}  {row['images']:>7}  {prompts}")
    click.echo(f"{scored} of {images} images tagged with this vocabulary")
    click.echo(f"your vocabulary file: {settings.tag_vocabulary_file}")


@tags_group.command("add")
@click.argument("name")
@click.option("--prompt", "prompts", multiple=True, help="A phrase for the tag (default: NAME); repeatable.")
@click.option(
    "--threshold", type=click.FloatRange(0, 1, min_open=True), default=None, help="Its own threshold."
)
@json_option
@handle_errors
def add_command(name: str, prompts: tuple[str, ...], threshold: float | None, as_json: bool) -> None:
    """Add a tag (or change one's prompts) in your vocabulary file."""
    vocabulary = add_category(get_settings().tag_vocabulary_file, name, list(prompts), threshold)
    _changed(vocabulary, f"added {name}", as_json)


@tags_group.command("remove")
@click.argument("name")
@json_option
@handle_errors
def remove_command(name: str, as_json: bool) -> None:
    """Remove a tag (a default one is listed as removed in your file)."""
    path = get_settings().tag_vocabulary_file
    vocabulary = remove_category(path, name, is_default=name in default_names())
    _changed(vocabulary, f"removed {name}", as_json)


@tags_group.command("threshold")
@click.argument("name")
@click.argument("value", type=click.FloatRange(0, 1, min_open=True))
@json_option
@handle_errors
def threshold_command(name: str, value: float, as_json: bool) -> None:
    """Set one tag's threshold (its probability among the vocabulary, 0 to 1)."""
    vocabulary = set_threshold(get_settings().tag_vocabulary_file, name, value, _vocabulary())
    _changed(vocabulary, f"{name} threshold {value:g}", as_json)


@tags_group.command("preview")
@click.argument("name")
@click.option("-k", "--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option(
    "--threshold", type=click.FloatRange(0, 1, min_open=True), default=None, help="Try another threshold."
)
@json_option
@handle_errors
def preview_command(name: str, limit: int, threshold: float | None, as_json: bool) -> None:
    """What a tag catches: its best-scoring images and how many reach the threshold."""
    from pixseek.ingest.tagging import preview  # loads the text tower

    settings = get_settings()
    ensure_schema(settings)
    result = preview(settings, name, limit=limit, threshold=threshold)
    if as_json:
        emit(result.as_dict())
        return
    for rank, hit in enumerate(result.hits, 1):
        mark = "*" if hit.tagged else " "
        click.echo(f"{rank:4d}. {mark} {hit.score:.4f}  cos {hit.similarity:.4f}  [{hit.image_id}] {hit.key}")
    click.echo(f"{result.caught} of {result.images} images reach {name}'s threshold {result.threshold:g} (*)")


@tags_group.command("apply")
@json_option
@handle_errors
def apply_command(as_json: bool) -> None:
    """Tag every image not yet tagged with the current vocabulary (from stored vectors)."""
    from pixseek.ingest.tagging import tag_catalog  # loads the text tower

    settings = get_settings()
    ensure_schema(settings)
    run = tag_catalog(settings)
    if as_json:
        emit(run.as_dict())
        return
    click.echo(f"scored {run.scored} images, {run.tagged} with at least one tag")
