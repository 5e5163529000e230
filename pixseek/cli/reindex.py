"""`pixseek reindex`: switch the model without downtime (embed beside, switch, drop the old)."""

from __future__ import annotations

import sys
import time

import click
from tqdm import tqdm

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.errors import InvalidRequest
from pixseek.core.settings import get_settings
from pixseek.index.catalog.jobs import JobStatus, get_job


@click.command("reindex")
@click.option("--model", default=None, help="The new open_clip architecture, e.g. ViT-B-16.")
@click.option(
    "--pretrained", default=None, help="Its weights: an open_clip pretrained tag, a checkpoint path or none."
)
@click.option(
    "--no-switch",
    is_flag=True,
    help="Build the new generation and stop before switching (compare with `pixseek eval --model`).",
)
@click.option(
    "--drop-old", is_flag=True, help="Remove the generations a switch replaced (vectors and files)."
)
@click.option("--wait", is_flag=True, help="With a broker: follow the job to its end.")
@json_option
@handle_errors
def reindex_command(
    model: str | None, pretrained: str | None, no_switch: bool, drop_old: bool, wait: bool, as_json: bool
) -> None:
    """Embed the catalog again with another model while search answers from the current one.

    Every searchable image gets a vector (and patches) of the new model beside its current
    one; once all have, the new generation's indexes are built and the data dir switches to
    it in one step: running `pixseek serve` and workers follow it, and commands started
    with the old PIXSEEK_MODEL too. Interrupted, the same command continues where it
    stopped. With PIXSEEK_BROKER_URL the images are embedded on the workers.

    \b
    Examples:
      pixseek reindex --model xlm-roberta-base-ViT-B-32 --pretrained laion5b_s13b_b90k
      pixseek reindex --model ViT-B-16 --pretrained laion2b_s34b_b88k --no-switch
      pixseek eval queries.jsonl --model ViT-B-16 --pretrained laion2b_s34b_b88k
      pixseek reindex --drop-old
    """
    settings = get_settings()
    ensure_schema(settings)
    from pixseek.ingest import reindex

    if drop_old:
        if model or pretrained:
            raise InvalidRequest("--drop-old takes no --model: it removes what the last switches replaced")
        dropped = reindex.drop_old(settings)
        if as_json:
            emit({"dropped": dropped})
        else:
            click.echo(f"dropped {', '.join(dropped)}" if dropped else "nothing to drop")
        return
    if not model or not pretrained:
        raise InvalidRequest("give the new model: --model ARCH --pretrained TAG|PATH|none")
    if not settings.embedded:
        job_id = reindex.dispatch_reindex(settings, model, pretrained, switch=not no_switch)
        if not wait:
            if as_json:
                emit({"job_id": job_id, "status": "running"})
            else:
                click.echo(f"reindex job {job_id} sent to the workers; follow it with `pixseek jobs`")
            return
        while True:
            with session_scope(settings) as session:
                job = get_job(session, job_id)
                status, error, summary = job.status, job.error, dict(job.summary or {})
            if status in (JobStatus.DONE, JobStatus.FAILED) or (no_switch and "built_generation" in summary):
                break
            time.sleep(1.0)
        if as_json:
            emit({"job_id": job_id, "status": status, "error": error, **summary})
        else:
            click.echo(f"reindex job {job_id}: {status}" + (f": {error}" if error else ""))
        if status == JobStatus.FAILED:
            sys.exit(1)
        return
    bar = tqdm(unit="img", desc="reindex", file=sys.stderr, disable=not sys.stderr.isatty())
    try:
        result = reindex.run_reindex(
            settings, model, pretrained, switch=not no_switch, on_progress=bar.update
        )
    finally:
        bar.close()
    if as_json:
        emit(result.as_dict())
        return
    if not result.job_id:
        click.echo(f"{result.model} is already served")
        return
    click.echo(
        f"reindex job {result.job_id}: {result.embedded} images embedded by {result.model}"
        + (f", {result.unreadable} unreadable" if result.unreadable else "")
    )
    if result.switched:
        click.echo(
            "switched: search answers from the new model; `pixseek reindex --drop-old` frees the old one"
        )
    else:
        click.echo("built, not switched: run the same command without --no-switch to switch")
