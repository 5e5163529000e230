"""`pixseek curate`: diverse subsets, typical and unusual images, clusters, leak-free splits,
each saved as a selection that `pixseek search --selection NAME` filters on."""

from __future__ import annotations

from typing import Any

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.errors import InvalidRequest
from pixseek.core.settings import Settings, get_settings

# The service is imported by the commands that run it: it loads faiss.


def _settings() -> Settings:
    settings = get_settings()
    ensure_schema(settings)
    return settings


def _report(result: dict[str, Any], as_json: bool, extra: str = "") -> None:
    if as_json:
        emit(result)
        return
    for selection in result["selections"]:
        label = f"  ({selection['label']})" if "label" in selection else ""
        click.echo(f"{selection['name']}: {selection['count']} images{label}")
    if extra:
        click.echo(extra)


@click.group("curate")
def curate_command() -> None:
    """Curate the collection: each command saves a selection (name, ids, how it was made)."""


@curate_command.command("diverse")
@click.argument("n", type=int)
@click.option("--name", default=None, help="The selection's name (default diverse-N).")
@click.option(
    "--refine",
    type=int,
    default=1,
    show_default=True,
    help="Steps moving each pick to the middle of the region it covers (0: pure k-center greedy).",
)
@json_option
@handle_errors
def diverse_command(n: int, name: str | None, refine: int, as_json: bool) -> None:
    """N pictures that cover the collection (k-center greedy on CLS; copies counted once)."""
    from pixseek.search.curation import service

    result = service.diverse(_settings(), n, name, refine=refine)
    extra = f"coverage {result['coverage']:.4f} (random {result['random_coverage']:.4f}; lower covers better)"
    _report(result, as_json, extra)


def _density(n: int, name: str | None, k: int, as_json: bool, unusual: bool) -> None:
    from pixseek.search.curation import service

    _report(service.density(_settings(), n, unusual=unusual, name=name, k=k), as_json)


@curate_command.command("typical")
@click.argument("n", type=int)
@click.option("--name", default=None, help="The selection's name (default typical-N).")
@click.option("--k", type=int, default=10, show_default=True, help="Neighbours of the density estimate.")
@json_option
@handle_errors
def typical_command(n: int, name: str | None, k: int, as_json: bool) -> None:
    """The N most typical pictures (densest neighbourhoods); stores every image's scores."""
    _density(n, name, k, as_json, unusual=False)


@curate_command.command("unusual")
@click.argument("n", type=int)
@click.option("--name", default=None, help="The selection's name (default unusual-N).")
@click.option("--k", type=int, default=10, show_default=True, help="Neighbours of the density estimate.")
@json_option
@handle_errors
def unusual_command(n: int, name: str | None, k: int, as_json: bool) -> None:
    """The N most unusual pictures (farthest from their nearest others); stores every image's scores."""
    _density(n, name, k, as_json, unusual=True)


@curate_command.command("clusters")
@click.argument("k", type=int)
@click.option("--name", default=None, help="Prefix of the selections (default clusters-K): NAME/NN-label.")
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
@handle_errors
def clusters_command(k: int, name: str | None, seed: int, as_json: bool) -> None:
    """K clusters (spherical k-means), each labelled by its most telling tag."""
    from pixseek.search.curation import service

    _report(service.clusters(_settings(), k, name, seed=seed), as_json)


def _ratios(value: str) -> list[float]:
    try:
        return [float(part) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise InvalidRequest(f"ratios must be numbers separated by commas; got {value!r}") from exc


@curate_command.command("split")
@click.option("--ratios", default="0.8,0.1,0.1", show_default=True, help="Shares of train,val,test.")
@click.option("--names", default=None, help="A name per ratio (default train,val,test or train,test).")
@click.option("--name", default="split", show_default=True, help="Prefix of the selections: NAME/train ...")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--retake-cosine",
    type=float,
    default=None,
    help="CLS cosine at which two images are retakes kept together (default the similar tier's, 0.9).",
)
@json_option
@handle_errors
def split_command(
    ratios: str, names: str | None, name: str, seed: int, retake_cosine: float | None, as_json: bool
) -> None:
    """Split by ratio; no duplicate group, pair or cluster of retakes straddles two splits."""
    from pixseek.search.curation import service

    result = service.splits(
        _settings(),
        _ratios(ratios),
        name,
        seed=seed,
        retake_cosine=retake_cosine,
        split_names=names.split(",") if names else None,
    )
    extra = (
        f"{result['leaked_pairs']} of {result['linked_pairs']} linked pairs cross splits "
        f"(a random split: {result['random_split_leaked_pairs']})"
    )
    _report(result, as_json, extra)


@curate_command.command("selections")
@click.argument("name", required=False)
@click.option("--delete", is_flag=True, help="Delete the selection NAME.")
@click.option(
    "--csv", "as_csv", is_flag=True, help="Write NAME as CSV (position, image_id, bucket, key, score)."
)
@click.option("--limit", type=int, default=100, show_default=True)
@json_option
@handle_errors
def selections_command(name: str | None, delete: bool, as_csv: bool, limit: int, as_json: bool) -> None:
    """List the saved selections, or show (or delete) one."""
    from pixseek.index.catalog.selections import delete_selection
    from pixseek.search.curation import service
    from pixseek.search.curation.errors import SelectionNotFound

    settings = _settings()
    with session_scope(settings) as session:
        if name is None:
            rows = service.list_selections(session)
            if as_json:
                emit({"selections": rows})
            for row in [] if as_json else rows:
                click.echo(f"{row['name']}  {row['method']}  {row['count']} images")
            return
        if as_csv:
            click.echo(service.export_selection(session, name), nl=False)
            return
        if delete:
            if not delete_selection(session, name):
                raise SelectionNotFound(f"no selection named {name!r}")
            click.echo(f"deleted {name}")
            return
        document = service.get_selection(session, name, limit=limit)
    if as_json:
        emit(document)
        return
    click.echo(f"{document['name']}  {document['method']}  {document['count']} images  {document['params']}")
    for image in document["images"]:
        score = "" if image["score"] is None else f"  {image['score']:.4f}"
        click.echo(f"  [{image['id']}]{score}")


@curate_command.command("map")
@click.option(
    "--method",
    type=click.Choice(("tsne", "pca")),
    default=None,
    help="Layout (default: t-SNE up to 50,000 images when openTSNE is installed, else PCA).",
)
@json_option
@handle_errors
def map_command(method: str | None, as_json: bool) -> None:
    """Compute the map of the collection the web UI shows (/map), for the current index generation."""
    from pixseek.search.curation.map import build_map

    result = build_map(_settings(), method)
    if as_json:
        emit(result)
    else:
        click.echo(
            f"map of generation {result['generation']}: {result['count']} images by {result['method']} "
            f"in {result['seconds']} s"
        )
