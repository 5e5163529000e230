"""Decisions carried out: files move to a quarantine and back, byte for byte, through a crash."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer
from sqlalchemy import select, update

from pixseek.cli import main
from pixseek.core.db import session_scope
from pixseek.core.errors import InvalidRequest
from pixseek.core.settings import Settings, get_settings
from pixseek.index.catalog.duplicates import DuplicateGroup, DuplicateMember
from pixseek.index.catalog.images import Image, ImageVector
from pixseek.index.vectors.store import IndexStore, index_ids
from pixseek.ingest.planning import create_job, plan_job
from pixseek.media.sources import s3 as s3_source
from pixseek.media.sources.local import LocalSource
from pixseek.search.duplicates.apply import apply, list_runs, undo
from pixseek.search.duplicates.export import export
from tests.support.synthetic_catalog import Spec, build, random_vectors

REPO = Path(__file__).resolve().parents[3]
FILES = ["a.png", "b.png", "sub/c.png", "sub/deep/d.png", "e.png", "f.png"]


def _tree(root: Path) -> dict[str, bytes]:
    """Every file and folder under root (hidden ones too): what byte-identical compares."""
    out: dict[str, bytes] = {}
    for folder, _dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        out[f"{rel}/"] = b""
        for name in files:
            out[os.path.join(rel, name)] = Path(folder, name).read_bytes()
    return out


def _catalog(settings: Settings, bucket: str, data: dict[str, bytes]) -> dict[str, int]:
    """Rows for the files, then groups: a (keeps) b, c, d resolved `remove`; e (keeps) f `hide`."""
    vectors = random_vectors(len(FILES), seed=3)
    specs = [
        Spec(key=k, vector=v, bucket=bucket, size=len(data[k]), sha256=hashlib.sha256(data[k]).hexdigest())
        for k, v in zip(FILES, vectors, strict=True)
    ]
    ids = dict(zip(FILES, build(settings, specs), strict=True))
    with session_scope(settings) as session:
        for key, body in data.items():
            etag = hashlib.md5(body).hexdigest()  # what S3 lists for a single-part object
            session.execute(update(Image).where(Image.id == ids[key]).values(etag=etag))
        for keeper, members, action in (("a.png", FILES[1:4], "remove"), ("e.png", ["f.png"], "remove")):
            group = DuplicateGroup(
                kind="near", status="resolved", keeper_id=ids[keeper], keeper_reason="keeper", action=action
            )
            session.add(group)
            session.flush()
            for pos, key in enumerate([keeper, *members]):
                role = "keep" if key == keeper else "duplicate"
                tier = None if key == keeper else "near"
                session.add(
                    DuplicateMember(
                        group_id=group.id,
                        image_id=ids[key],
                        position=pos,
                        role=role,
                        tier=tier,
                        score=0.9,
                        reason=f"near: {key}",
                    )
                )
        # The second group is "hide": nothing of it moves.
        session.execute(
            update(DuplicateGroup).where(DuplicateGroup.keeper_id == ids["e.png"]).values(action="hide")
        )
    return ids


def _statuses(settings: Settings) -> dict[str, str]:
    with session_scope(settings) as session:
        return {img.key: img.status for img in session.scalars(select(Image))}


def _indexed(settings: Settings) -> set[int]:
    loaded = IndexStore(settings.index_dir).load()
    assert loaded is not None
    return {int(i) for i in index_ids(loaded.index)}


@pytest.fixture
def local_bucket(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path / "photos"
    rng = np.random.default_rng(0)
    data = {key: rng.bytes(1000 + 37 * i) for i, key in enumerate(FILES)}
    for key, body in data.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(body)
    return root, data


def test_apply_is_a_dry_run_then_moves_and_undo_restores_the_folder(
    settings: Settings, local_bucket: tuple[Path, dict[str, bytes]]
) -> None:
    root, data = local_bucket
    ids = _catalog(settings, str(root), data)
    before = _tree(root)
    dry = apply(settings)
    assert dry.dry_run and dry.planned == 3 and _tree(root) == before and not list_runs(settings)
    listed = CliRunner().invoke(main, ["duplicates", "apply"])
    assert listed.exit_code == 0 and "dry run: 3 file(s) would move" in listed.output, listed.output
    assert f"{root}/.pixseek-quarantine/sub/c.png" in listed.output and _tree(root) == before

    report = apply(settings, dry_run=False)
    assert report.moved == 3 and not report.skipped
    quarantine = root / ".pixseek-quarantine"
    for key in ("b.png", "sub/c.png", "sub/deep/d.png"):
        assert not (root / key).exists() and (quarantine / key).read_bytes() == data[key]
    assert (root / "f.png").exists()  # a "hide" decision moves nothing
    statuses = _statuses(settings)
    assert statuses["b.png"] == "quarantined" and statuses["a.png"] == statuses["f.png"] == "indexed"
    assert _indexed(settings) == {ids[k] for k in ("a.png", "e.png", "f.png")}
    assert apply(settings).planned == 0  # nothing left to carry out

    # The export says who keeps what, why, and what was decided.
    with session_scope(settings) as session:
        rows = list(csv.DictReader(io.StringIO(export(session, "csv"))))
        document = json.loads(export(session, "json", "resolved"))
    b = next(r for r in rows if r["key"] == "b.png")
    assert b["keeper_id"] == str(ids["a.png"]) and b["tier"] == "near" and b["role"] == "duplicate"
    assert b["decision"] == "resolved" and b["action"] == "remove" and b["present"] == "False"
    assert len(rows) == 6 and len(document["groups"]) == 2

    exported = CliRunner().invoke(main, ["duplicates", "export", "--format", "json", "--status", "resolved"])
    assert exported.exit_code == 0 and len(json.loads(exported.output)["groups"]) == 2
    assert report.run is not None
    assert report.run in CliRunner().invoke(main, ["duplicates", "undo"]).output  # lists the runs
    back = undo(settings, report.run)
    assert back.moved == 3 and not back.skipped
    assert _tree(root) == before  # byte-identical, no quarantine folder left behind
    assert set(_statuses(settings).values()) == {"indexed"}
    assert _indexed(settings) == set(ids.values())
    assert list_runs(settings)[0]["undone"]


CRASH = """
import os, signal, sys
from pixseek.core.settings import get_settings
from pixseek.media.sources import moves
from pixseek.search.duplicates import apply as applying

calls = []
real = moves._remove
def remove_then_die(place, key):
    calls.append(key)
    if len(calls) == 2:  # the second file is linked at the quarantine, still in the bucket
        os.kill(os.getpid(), signal.SIGKILL)
    real(place, key)
moves._remove = remove_then_die
applying.apply(get_settings(), dry_run=False)
"""


def test_a_run_killed_halfway_resumes_without_losing_or_doubling_a_file(
    settings: Settings, local_bucket: tuple[Path, dict[str, bytes]]
) -> None:
    root, data = local_bucket
    _catalog(settings, str(root), data)
    before = _tree(root)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = subprocess.run(
        [sys.executable, "-c", CRASH], cwd=REPO, env=env, capture_output=True, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    quarantine = root / ".pixseek-quarantine"
    # Killed mid-move: b moved, c at both places (two names of one file), d untouched.
    assert not (root / "b.png").exists() and (quarantine / "b.png").exists()
    assert (root / "sub/c.png").exists() and (quarantine / "sub/c.png").exists()
    assert not (quarantine / "sub/deep/d.png").exists()
    assert all(run["finished"] is False for run in list_runs(settings))

    report = apply(settings, dry_run=False)
    assert report.resumed and report.moved == 3 and not report.skipped
    for key in ("b.png", "sub/c.png", "sub/deep/d.png"):
        assert not (root / key).exists() and (quarantine / key).read_bytes() == data[key]
    assert {k for k, s in _statuses(settings).items() if s == "quarantined"} == {
        "b.png",
        "sub/c.png",
        "sub/deep/d.png",
    }

    assert report.run is not None
    undo(settings, report.run)
    assert _tree(root) == before


@pytest.fixture
def s3_bucket(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A bucket on moto's S3 server (a real endpoint, so a child process can use it too)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("PIXSEEK_S3_ENDPOINT_URL", endpoint),
    ):
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    s3_source._client.cache_clear()
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="photos")
    yield client
    s3_source._client.cache_clear()
    server.stop()


def _objects(client: Any) -> dict[str, bytes]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="photos"):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = client.get_object(Bucket="photos", Key=obj["Key"])["Body"].read()
    return out


def test_s3_apply_killed_halfway_resumes_and_undo_restores_the_bucket(s3_bucket: Any) -> None:
    settings = get_settings()
    rng = np.random.default_rng(1)
    data = {key: rng.bytes(900 + 11 * i) for i, key in enumerate(FILES)}
    for key, body in data.items():
        s3_bucket.put_object(Bucket="photos", Key=f"2024/{key}", Body=body)
    s3_bucket.put_object(Bucket="photos", Key="elsewhere.txt", Body=b"not ours")
    _catalog(settings, "s3://photos/2024", data)
    before = _objects(s3_bucket)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = subprocess.run(
        [sys.executable, "-c", CRASH], cwd=REPO, env=env, capture_output=True, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    # Killed after S3 copied the second object, before its delete: it is at both places.
    cut = _objects(s3_bucket)
    assert "2024/b.png" not in cut and "2024/.pixseek-quarantine/b.png" in cut
    assert "2024/sub/c.png" in cut and "2024/.pixseek-quarantine/sub/c.png" in cut
    report = apply(settings, dry_run=False)
    assert report.resumed and report.moved == 3 and not report.skipped
    after = _objects(s3_bucket)
    assert "2024/sub/c.png" not in after and after["2024/.pixseek-quarantine/sub/c.png"] == data["sub/c.png"]
    assert after["2024/.pixseek-quarantine/sub/deep/d.png"] == data["sub/deep/d.png"]
    assert report.run is not None
    undo(settings, report.run)
    assert _objects(s3_bucket) == before


def test_a_changed_file_or_a_taken_place_is_left_alone(
    settings: Settings, local_bucket: tuple[Path, dict[str, bytes]]
) -> None:
    root, data = local_bucket
    _catalog(settings, str(root), data)
    (root / "b.png").write_bytes(b"edited since ingest")
    (root / ".pixseek-quarantine/sub").mkdir(parents=True)
    (root / ".pixseek-quarantine/sub/c.png").write_bytes(b"someone else's file")
    report = apply(settings, dry_run=False)
    assert report.moved == 1
    reasons = {s["image_id"]: s["reason"] for s in report.skipped}
    assert len(reasons) == 2 and any("changed since" in r for r in reasons.values())
    assert any("another file is already" in r for r in reasons.values())
    assert (root / "b.png").read_bytes() == b"edited since ingest"
    assert (root / ".pixseek-quarantine/sub/c.png").read_bytes() == b"someone else's file"
    assert (root / "sub/c.png").read_bytes() == data["sub/c.png"]


def test_the_api_applies_lists_undoes_and_exports(
    settings: Settings, local_bucket: tuple[Path, dict[str, bytes]], client: TestClient
) -> None:
    root, data = local_bucket
    _catalog(settings, str(root), data)
    before = _tree(root)
    dry = client.post("/v1/duplicates/apply", json={}).json()
    assert dry["dry_run"] and dry["planned"] == 3 and dry["moves"][0]["from"].endswith("b.png")
    done = client.post("/v1/duplicates/apply", json={"dry_run": False}).json()
    assert done["moved"] == 3 and not (root / "b.png").exists()
    assert client.get("/v1/duplicates/apply").json()["runs"][0]["run"] == done["run"]
    exported = client.get("/v1/duplicates/export", params={"format": "csv", "status": "resolved"})
    assert exported.headers["content-type"].startswith("text/csv") and exported.text.count("\n") == 7
    assert client.post(f"/v1/duplicates/apply/{done['run']}/undo").json()["moved"] == 3
    assert _tree(root) == before
    assert client.post("/v1/duplicates/apply/nope/undo").json()["error"] == "run_not_found"


def test_a_rescan_leaves_quarantined_images_quarantined_with_their_vectors(
    settings: Settings, local_bucket: tuple[Path, dict[str, bytes]]
) -> None:
    root, data = local_bucket
    ids = _catalog(settings, str(root), data)
    apply(settings, dry_run=False)
    source = LocalSource(root)
    plan_job(settings, create_job(settings, source.bucket), source)  # the files are gone from the listing
    assert _statuses(settings)["b.png"] == "quarantined"  # not "deleted": undo needs no re-embedding
    with session_scope(settings) as session:
        assert session.get(ImageVector, (ids["b.png"], f"{settings.model}/{settings.pretrained}")) is not None


def test_a_quarantine_that_is_the_bucket_itself_is_refused(
    settings: Settings, local_bucket: tuple[Path, dict[str, bytes]]
) -> None:
    root, data = local_bucket
    _catalog(settings, str(root), data)
    before = _tree(root)
    with pytest.raises(InvalidRequest):
        apply(settings, dry_run=False, to=str(root))
    with pytest.raises(InvalidRequest, match="inside the bucket"):
        apply(settings, to=str(root / "quarantine"))
    (root / ".loop").symlink_to(root)  # a quarantine that leads back into the bucket
    report = apply(settings, dry_run=False, to=str(root / ".loop"))
    assert report.moved == 0 and all("its own quarantine" in s["reason"] for s in report.skipped)
    (root / ".loop").unlink()
    assert _tree(root) == before
