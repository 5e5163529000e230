"""S3 buckets against a real S3 protocol server on loopback (moto's server mode)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer
from sqlalchemy import select

from pixseek.api.app import create_app
from pixseek.core.db import session_scope
from pixseek.core.errors import BucketNotFound
from pixseek.core.settings import Settings, get_settings
from pixseek.index.catalog.images import Image
from pixseek.index.catalog.jobs import job_summary
from pixseek.index.vectors.store import IndexStore, index_ids
from pixseek.ingest.run import run_ingest
from pixseek.media.sources.s3 import S3Source, parse_uri
from tests.support.images import encode, pattern

pytestmark = pytest.mark.services

BUCKET = "photos"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A fresh bucket; pixseek's settings point at the server, credentials come from AWS_* variables."""
    monkeypatch.setenv("PIXSEEK_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    get_settings.cache_clear()
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _put(client: object, key: str, seed: int) -> bytes:
    data = encode(pattern(seed))
    client.put_object(Bucket=BUCKET, Key=key, Body=data)  # type: ignore[attr-defined]
    return data


def _catalog(settings: Settings) -> dict[str, tuple[str, str | None, int]]:
    with session_scope(settings) as session:
        return {
            img.key: (img.status, img.sha256, img.id)
            for img in session.scalars(select(Image).where(Image.bucket == f"s3://{BUCKET}/2024"))
        }


def test_parse_uri_keeps_the_prefix_without_slashes() -> None:
    assert parse_uri("s3://bucket/a/b/") == ("bucket", "a/b")
    assert parse_uri("s3://bucket") == ("bucket", "")


def test_s3_ingest_is_incremental_and_serves_files(s3: object, tmp_path: Path) -> None:
    settings = get_settings()
    for i in range(4):
        _put(s3, f"2024/trip/img{i}.png", i)
    _put(s3, "2024/.thumbs/img0.png", 0)  # hidden folder: never listed
    _put(s3, "2024/.DS_Store", 9)  # hidden file: recorded skipped
    _put(s3, "2023/old.png", 7)  # outside the prefix
    s3.put_object(Bucket=BUCKET, Key="2024/trip/broken.png", Body=b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # type: ignore[attr-defined]

    first = run_ingest(settings, f"s3://{BUCKET}/2024/")
    with session_scope(settings) as session:
        summary = job_summary(session, first)
    assert summary["bucket"] == f"s3://{BUCKET}/2024"
    assert summary["indexed"] == 4
    assert [f["key"] for f in summary["failed"]] == ["trip/broken.png"]
    assert [s["key"] for s in summary["skipped"]] == [".DS_Store"]
    before = _catalog(settings)
    assert set(before) == {f"trip/img{i}.png" for i in range(4)} | {"trip/broken.png", ".DS_Store"}

    # Second run: one object changed, one deleted, one added, the rest untouched.
    _put(s3, "2024/trip/img1.png", 101)
    s3.delete_object(Bucket=BUCKET, Key="2024/trip/img2.png")  # type: ignore[attr-defined]
    _put(s3, "2024/trip/img9.png", 9)
    second = run_ingest(settings, f"s3://{BUCKET}/2024")
    with session_scope(settings) as session:
        summary = job_summary(session, second)
    # img0 and img3 are unchanged; failed and skipped files are looked at again every run.
    assert (summary["indexed"], summary["unchanged"], summary["deleted"]) == (2, 2, 1)
    after = _catalog(settings)
    assert after["trip/img0.png"] == before["trip/img0.png"]
    assert after["trip/img1.png"][0] == "indexed" and after["trip/img1.png"][1] != before["trip/img1.png"][1]
    assert after["trip/img2.png"][0] == "deleted"
    assert after["trip/img9.png"][0] == "indexed"

    loaded = IndexStore(settings.index_dir).load()
    assert loaded is not None
    searchable = sorted(v[2] for v in after.values() if v[0] == "indexed")
    assert sorted(int(i) for i in index_ids(loaded.index)) == searchable

    # The image file route reads S3 images through the same source.
    with TestClient(create_app(settings)) as client:
        response = client.get(f"/v1/images/{after['trip/img9.png'][2]}/file")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content == encode(pattern(9))
        assert client.get(f"/v1/images/{after['trip/img2.png'][2]}/file").status_code == 404


def test_s3_read_refuses_objects_over_the_limit(s3: object) -> None:
    _put(s3, "2024/big.png", 3)
    source = S3Source(f"s3://{BUCKET}/2024", get_settings())
    assert [e.key for e in source.list()] == ["big.png"]
    data = source.read("big.png", 10_000)
    from pixseek.media.sources import SourceError

    with pytest.raises(SourceError, match="too large"):
        source.read("big.png", len(data) - 1)
    with pytest.raises(SourceError, match="vanished"):
        source.read("gone.png", 10_000)
    with pytest.raises(SourceError, match="invalid key"):
        source.read("../2023/old.png", 10_000)


def test_missing_s3_bucket_is_reported(s3: object) -> None:
    with pytest.raises(BucketNotFound):
        list(S3Source("s3://no-such-bucket/x", get_settings()).list())
