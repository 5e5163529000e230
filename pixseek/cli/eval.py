"""`pixseek eval QUERIES`: retrieval quality on your own library, one or more data dirs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.errors import InvalidRequest
from pixseek.core.settings import get_settings

if TYPE_CHECKING:
    from pixseek.evaluation.runner import RunResult

_ROWS = {
    "text": ("queries", "recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"),
    "image": ("queries", "recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"),
    "region": ("pairs", "pointing", "box_iou50"),
}


def _cell(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    return f"{int(value)}" if metric in ("queries", "pairs") else f"{value:.3f}"


def print_table(results: list[RunResult]) -> None:
    """One row per (query kind, metric), one column per data dir."""
    headers = [
        ["", *(str(r.data_dir) for r in results)],
        ["", *(f"{r.model} / {Path(r.pretrained).name}" for r in results)],
        ["", *(f"patches: {r.patch_mode}" for r in results)],
    ]
    rows: list[list[str]] = []
    for kind, metrics in _ROWS.items():
        if not any(kind in r.kinds for r in results):
            continue
        for metric in metrics:
            rows.append(
                [f"{kind} {metric}", *(_cell(r.kinds.get(kind, {}).get(metric), metric) for r in results)]
            )
        missing = [r.missing.get(kind, 0) for r in results]
        if any(missing):
            rows.append([f"{kind} left out", *(str(m) for m in missing)])
    table = headers + rows
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        click.echo(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )


@click.command("eval")
@click.argument("queries", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--data-dir",
    "data_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A data dir to evaluate (repeat to compare; default PIXSEEK_DATA_DIR). Each uses the "
    "model its index was built with.",
)
@click.option(
    "--model",
    "other_model",
    default=None,
    help="Also score this model's generation in the same data dir, built by `pixseek reindex "
    "--model M --pretrained P --no-switch`: the two side by side before switching.",
)
@click.option("--pretrained", "other_pretrained", default="none", show_default=True, help="With --model.")
@click.option("--bucket", default=None, help="Only images of this bucket (a folder's real path).")
@click.option("--limit", type=int, default=None, help="At most this many queries of each kind.")
@json_option
@handle_errors
def eval_command(
    queries: Path,
    data_dirs: tuple[Path, ...],
    other_model: str | None,
    other_pretrained: str,
    bucket: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Score search quality with QUERIES: a COCO captions file or JSON lines.

    \b
    JSON lines, one query each:
      {"query": "a red circle", "relevant": ["a.png"]}                 text -> image
      {"image": "a.png", "relevant": ["b.png", "c.png"]}                 image -> image
      {"query": "a red circle", "boxes": {"a.png": [[10, 20, 60, 70]]}}  region pointing
    Reports recall@1/5/10, MRR and nDCG@10 per kind (recall@k: share of queries with a
    relevant image in the top k), and for regions the share of images whose best cell
    lies in a true box and whose box overlaps one at IoU >= 0.5.

    \b
    Examples:
      pixseek eval captions_val2017.json --limit 1000
      pixseek eval queries.jsonl --data-dir ~/pixseek-b32 --data-dir ~/pixseek-l14 --json
      pixseek eval queries.jsonl --model xlm-roberta-base-ViT-B-32 --pretrained laion5b_s13b_b90k
    """
    # Imported here: `pixseek eval --help` must not load torch (tests/test_cli_startup.py).
    from pixseek.evaluation.queries import load_queries
    from pixseek.evaluation.runner import evaluate, generation_settings, settings_for

    if limit is not None and limit < 1:
        raise InvalidRequest("--limit must be at least 1")
    base = get_settings()
    if len(data_dirs) > 1 and base.database_url is not None:
        raise InvalidRequest(
            "comparing data dirs needs each one's own SQLite catalog: unset PIXSEEK_DATABASE_URL"
        )
    query_set = load_queries(queries).limited(limit)
    if not any(query_set.counts().values()):
        raise InvalidRequest(f"{queries} holds no queries")
    runs = [settings_for(base, d) for d in data_dirs or (base.data_dir,)]
    if other_model is not None:
        if len(runs) > 1:
            raise InvalidRequest(
                "--model compares two generations of one data dir: give at most one --data-dir"
            )
        runs.append(generation_settings(runs[0], other_model, other_pretrained))
    results = [evaluate(run, query_set, bucket=bucket) for run in runs]
    if as_json:
        emit({"queries": str(queries), "counts": query_set.counts(), "runs": [r.as_dict() for r in results]})
        return
    click.echo(f"{queries}: " + ", ".join(f"{n} {kind}" for kind, n in query_set.counts().items() if n))
    print_table(results)
