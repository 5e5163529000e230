"""Curation on a synthetic catalog of known shape: 12 tight clusters, copies in duplicate
groups, retakes (near-identical vectors in no group) and one outlier."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from pixseek.cli import main
from pixseek.core.db import session_scope
from pixseek.core.errors import InvalidRequest
from pixseek.core.settings import Settings
from pixseek.index.catalog.duplicates import DuplicateGroup, DuplicateMember
from pixseek.index.catalog.images import Image
from pixseek.index.catalog.jobs import cancel_job, get_job, job_progress
from pixseek.index.catalog.selections import ImageScore
from pixseek.index.catalog.tags import ImageTag
from pixseek.search.curation import algorithms, service
from pixseek.search.curation.jobs import Cancelled, Progress, create_curation_job, run_curation_job
from pixseek.search.filters import Filters, conditions
from tests.support.synthetic_catalog import DIM, Spec, build, unit

CLUSTERS, PER = 12, 15


def _library(settings: Settings) -> dict[str, list[int]]:
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((CLUSTERS, DIM)).astype(np.float32)
    specs: list[Spec] = []
    kinds: list[str] = []
    for c in range(CLUSTERS):
        for i in range(PER):
            specs.append(
                Spec(key=f"c{c:02d}/{i}.png", vector=unit(centres[c]) + 0.25 * unit(rng.standard_normal(DIM)))
            )
            kinds.append(f"cluster{c}")
    base = len(specs)
    for c in range(CLUSTERS):  # a copy of each cluster's first image: a duplicate group
        specs.append(Spec(key=f"copies/c{c:02d}.png", vector=specs[c * PER].vector + 1e-4))
        kinds.append("copy")
    for c in range(CLUSTERS):  # a retake of each cluster's second image, in no group
        specs.append(
            Spec(
                key=f"retakes/c{c:02d}.png",
                vector=specs[c * PER + 1].vector + 0.01 * rng.standard_normal(DIM),
            )
        )
        kinds.append("retake")
    specs.append(
        Spec(key="odd/outlier.png", vector=-unit(centres.sum(axis=0)) + 0.1 * rng.standard_normal(DIM))
    )
    kinds.append("outlier")
    ids = build(settings, specs)
    out: dict[str, list[int]] = {"all": ids, "copies": ids[base : base + CLUSTERS], "outlier": [ids[-1]]}
    with session_scope(settings) as session:
        for c in range(CLUSTERS):
            keeper, copy = ids[c * PER], ids[base + c]
            group = DuplicateGroup(kind="near", status="open", keeper_id=keeper, keeper_reason="k")
            session.add(group)
            session.flush()
            for pos, (image, role) in enumerate(((keeper, "keep"), (copy, "member"))):
                session.add(
                    DuplicateMember(
                        group_id=group.id,
                        image_id=image,
                        position=pos,
                        role=role,
                        tier=None if role == "keep" else "near",
                        score=1.0,
                        reason="near",
                    )
                )
        for image in ids[:PER]:  # cluster 0 is all beaches
            session.add(ImageTag(image_id=image, tag="beach", score=0.9, similarity=0.3))
        for image in ids[::3]:  # a tag everywhere says nothing of one cluster
            session.add(ImageTag(image_id=image, tag="photo", score=0.9, similarity=0.3))
    out["retake_pairs"] = [ids[c * PER + 1] for c in range(CLUSTERS)] + [
        ids[base + CLUSTERS + c] for c in range(CLUSTERS)
    ]
    return out


def _members(settings: Settings, name: str) -> list[int]:
    with session_scope(settings) as session:
        return [img["id"] for img in service.get_selection(session, name, limit=10_000)["images"]]


def test_curation_commands_write_selections_search_can_filter_on(settings: Settings) -> None:
    lib = _library(settings)
    result = service.diverse(settings, CLUSTERS)
    assert result["coverage"] < result["random_coverage"]
    chosen = _members(settings, f"diverse-{CLUSTERS}")
    assert len(chosen) == CLUSTERS and not set(chosen) & set(lib["copies"])  # copies counted once
    with session_scope(settings) as session:
        cluster_of = {
            i.id: i.key.split("/")[0] for i in session.scalars(select(Image).where(Image.id.in_(chosen)))
        }
        # A search filtered on the selection sees exactly its images.
        found = set(
            session.scalars(select(Image.id).where(*conditions(Filters(selection=f"diverse-{CLUSTERS}"))))
        )
    assert found == set(chosen)
    assert (
        len({k for k in cluster_of.values() if k.startswith("c")}) >= CLUSTERS - 2
    )  # nearly one per cluster

    service.density(settings, 1, unusual=True)
    assert _members(settings, "unusual-1") == lib["outlier"]
    with session_scope(settings) as session:
        assert session.query(ImageScore).count() == len(lib["all"])
        top = service.scores(session, "uniqueness", limit=1)["images"][0]
    assert top["id"] == lib["outlier"][0]
    typical = service.density(settings, 5, unusual=False)
    assert typical["selections"][0]["count"] == 5

    made = service.clusters(settings, CLUSTERS)["selections"]
    assert len(made) >= CLUSTERS - 1
    beach = [s for s in made if s["label"] == "beach"]
    assert len(beach) == 1 and beach[0]["name"].endswith("-beach")
    # A tag on a third of every cluster names none of the real clusters.
    assert not any(s["label"] == "photo" for s in made if s["count"] >= PER)


def test_splits_keep_copies_and_retakes_together_and_report_random_leaks(settings: Settings) -> None:
    lib = _library(settings)
    result = service.splits(settings, [0.6, 0.2, 0.2], retake_cosine=0.97)
    assert result["leaked_pairs"] == 0 and result["random_split_leaked_pairs"] > 0
    assert result["retake_pairs"] >= CLUSTERS
    parts = {name: set(_members(settings, f"split/{name}")) for name in ("train", "val", "test")}
    assert sum(len(p) for p in parts.values()) == len(lib["all"])
    assert abs(len(parts["train"]) - 0.6 * len(lib["all"])) <= 3
    half = len(lib["retake_pairs"]) // 2
    for a, b in zip(lib["retake_pairs"][:half], lib["retake_pairs"][half:], strict=True):
        assert sum(a in p and b in p for p in parts.values()) == 1
    with pytest.raises(InvalidRequest):
        service.splits(settings, [0.5, -1])


def test_the_cli_curates_and_lists_selections(settings: Settings, tmp_path: Path) -> None:
    _library(settings)
    runner = CliRunner()
    out = runner.invoke(main, ["curate", "split", "--ratios", "0.5,0.5"])
    assert out.exit_code == 0, out.output
    assert "0 of" in out.output and "split/train" in out.output
    listed = runner.invoke(main, ["curate", "selections"])
    assert "split/test" in listed.output
    shown = runner.invoke(main, ["curate", "selections", "split/test", "--json"])
    assert shown.exit_code == 0 and '"method": "split"' in shown.output


def test_the_api_curates_saves_a_lasso_and_search_filters_on_it(
    settings: Settings, client: TestClient
) -> None:
    lib = _library(settings)
    report = client.post("/v1/curation/splits", json={"ratios": [0.7, 0.3], "retake_cosine": 0.97}).json()
    assert report["leaked_pairs"] == 0 and [s["name"] for s in report["selections"]] == [
        "split/train",
        "split/test",
    ]
    assert client.post("/v1/curation/unusual", json={"n": 3}).status_code == 200
    assert (
        client.get("/v1/curation/scores", params={"limit": 1}).json()["images"][0]["id"] == lib["outlier"][0]
    )
    lasso = lib["all"][:5]
    made = client.post("/v1/selections", json={"name": "lasso/one", "ids": lasso, "method": "lasso"})
    assert made.status_code == 201 and made.json()["count"] == 5
    assert [i["id"] for i in client.get("/v1/selections/lasso/one").json()["images"]] == lasso
    exported = client.get("/v1/selections/lasso/one", params={"format": "csv"}).text.splitlines()
    assert exported[0] == "position,image_id,bucket,key,score" and exported[1].startswith(
        f"0,{lasso[0]},/bucket,"
    )
    names = {s["name"] for s in client.get("/v1/selections").json()["selections"]}
    assert {"split/train", "split/test", "unusual-3", "lasso/one"} <= names
    hits = client.post(
        "/v1/search",
        json={"parts": [{"image_id": lib["all"][40]}], "k": 50, "filters": {"selection": "lasso/one"}},
    ).json()
    assert {r["id"] for r in hits["results"]} == set(lasso)
    assert client.delete("/v1/selections/lasso/one").status_code == 204
    assert client.get("/v1/selections/lasso/one").json()["error"] == "selection_not_found"
    assert (
        client.post("/v1/selections", json={"name": "x", "ids": [10**9]}).status_code == 404
    )  # no such image
    job = client.post("/v1/curation/jobs", json={"command": "map", "params": {"method": "pca"}})
    assert job.status_code == 202 and job.json()["kind"] == "curation"
    for _ in range(200):
        followed = client.get(f"/v1/jobs/{job.json()['job_id']}").json()
        if followed["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert followed["status"] == "done" and followed["curation"]["report"]["method"] == "pca"
    shown = client.get("/v1/curation/map").json()
    assert len(shown["ids"]) == len(lib["all"]) and not shown["stale"] and shown["tags"] == ["beach", "photo"]
    assert shown["buckets"] == ["/bucket"] and set(shown["bucket"]) == {0} and len(shown["years"]) == 1
    bad = client.post("/v1/curation/jobs", json={"command": "diverse", "params": {"n": 0}})
    assert bad.status_code == 422  # the command's own body, checked by its schema


def test_a_curation_job_reports_progress_and_a_cancel_stops_it(settings: Settings) -> None:
    _library(settings)
    job_id = create_curation_job(settings, "diverse", {"n": 40, "name": "as-a-job"})
    run_curation_job(settings, job_id)
    with session_scope(settings) as session:
        done = job_progress(session, job_id).as_dict()
    assert done["status"] == "done" and done["curation"]["report"]["selections"][0]["name"] == "as-a-job"
    assert done["done"] == done["total"] > 0

    stopped = create_curation_job(settings, "map", {"method": "pca"})
    with session_scope(settings) as session:
        get_job(session, stopped).status = "running"
    with session_scope(settings) as session:
        cancel_job(session, stopped)
    with pytest.raises(Cancelled):  # the running command's next progress call stops it
        Progress(settings, stopped)(1, 10, "layout")
    run_curation_job(settings, stopped)  # not queued any more: nothing runs
    assert not (settings.data_dir / "maps").exists()


def test_a_subset_larger_than_the_collection_holds_each_picture_once() -> None:
    # Four rows, two of them equal: asked for more than exist, k-center stops at the three
    # distinct ones, and the medoid step never moves two picks onto one row.
    a, b, c = np.eye(3, dtype=np.float32)
    vectors = np.stack([a, a, b, c])
    greedy, radius = algorithms.k_center(vectors, 10)
    assert sorted(vectors[greedy].tolist()) == sorted([a.tolist(), b.tolist(), c.tolist()]) and radius < 1e-6
    # Picks on equal rows, the second first: all of `a` falls in its cell, the other cell is
    # empty and keeps row 0, onto which the first cell's middle moves too.
    picked = algorithms.refine_medoids(vectors, np.array([1, 0], dtype=np.int64))
    assert picked.tolist() == [0]
