"""Job progress derived from the job row and the catalog rows it touched."""

from __future__ import annotations

from pixseek.index.catalog.jobs import JobProgress


def progress(total: int, counts: dict[str, int], unchanged: int = 0, planned: int = 0) -> JobProgress:
    return JobProgress(
        job_id="j", bucket="b", status="running", total=total, planned=planned,
        unchanged=unchanged, deleted=0, counts=counts,
    )  # fmt: skip


def test_done_counts_every_listed_file_no_longer_pending() -> None:
    # 10 listed: 3 unchanged, 2 skipped at planning, 5 planned of which 2 still pending.
    p = progress(10, {"pending": 2, "indexed": 2, "failed": 1, "skipped": 2}, unchanged=3, planned=5)
    assert p.done == 8
    assert (p.indexed, p.failed, p.skipped) == (2, 1, 2)


def test_done_is_never_negative_when_the_plan_commits_between_two_reads() -> None:
    # The job row still says total 0, the catalog already shows the plan's pending rows.
    assert progress(0, {"pending": 6}).done == 0


def test_embedded_images_count_as_indexed() -> None:
    assert progress(4, {"embedded": 3, "indexed": 1}).indexed == 4


def test_as_dict_has_the_documented_keys() -> None:
    assert set(progress(1, {}).as_dict()) == {
        "job_id", "kind", "bucket", "status", "total", "done", "indexed", "unchanged", "deleted",
        "failed", "skipped", "cancelled", "error", "detection", "ocr", "enrich", "curation",
        "created_at", "finished_at",
    }  # fmt: skip
