"""Image metadata and original bytes: only for cataloged images, never a path from the request."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest
from tests.support.api import assert_error
from tests.support.images import encode, pattern, write_image
from tests.support.ingested import catalog


def test_image_metadata(client: TestClient, indexed: Path, settings: Settings) -> None:
    row = catalog(settings)["img003.png"]
    body = client.get(f"/v1/images/{row.id}").json()
    assert body["id"] == row.id
    assert body["key"] == "img003.png"
    assert body["bucket"] == str(indexed.resolve())
    assert body["status"] == "indexed"
    assert (body["format"], body["width"], body["height"]) == ("PNG", 96, 64)
    assert body["size"] == (indexed / "img003.png").stat().st_size
    assert body["sha256"] == row.sha256
    assert body["model"] == "pixseek-tiny/none"
    assert body["embedded_at"] is not None


@pytest.mark.parametrize(
    ("name", "fmt", "content_type"),
    [
        ("a.png", "PNG", "image/png"),
        ("b.jpg", "JPEG", "image/jpeg"),
        ("c.webp", "WEBP", "image/webp"),
        ("d.gif", "GIF", "image/gif"),
        ("e.bmp", "BMP", "image/bmp"),
        ("f.tiff", "TIFF", "image/tiff"),
        ("png-named.jpg", "PNG", "image/png"),
        ("g.heic", "HEIF", "image/heic"),
        ("h.avif", "AVIF", "image/avif"),
        ("heic-named.jpg", "HEIF", "image/heic"),
    ],
)
def test_file_returns_the_original_bytes_with_their_content_type(
    client: TestClient, settings: Settings, tmp_path: Path, name: str, fmt: str, content_type: str
) -> None:
    root = tmp_path / "formats"
    path = root / name
    path.parent.mkdir(parents=True)
    path.write_bytes(encode(pattern(5), fmt))
    run_ingest(settings, str(root))
    response = client.get(f"/v1/images/{catalog(settings)[name].id}/file")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == path.read_bytes()


def test_file_of_an_unknown_id_is_404(client: TestClient, indexed: Path) -> None:
    assert_error(client.get("/v1/images/999999/file"), 404, "image_not_found")
    assert_error(client.get("/v1/images/999999"), 404, "image_not_found")
    assert_error(client.get(f"/v1/images/{2**70}/file"), 404)
    assert_error(client.get("/v1/images/-3/file"), 404)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/images/..%2F..%2Fetc%2Fpasswd/file",
        "/v1/images/%2Fetc%2Fpasswd/file",
        "/v1/images/img000.png/file",
        "/v1/images/1.5/file",
    ],
)
def test_no_request_value_reaches_a_path(client: TestClient, indexed: Path, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (404, 422)
    assert set(response.json()) == {"error", "detail"}
    assert b"root:" not in response.content


def test_dot_segments_never_reach_the_file_route(client: TestClient, indexed: Path) -> None:
    response = client.get("/v1/images/../../etc/passwd/file")
    assert_error(response, 404)


def test_file_of_a_failed_or_deleted_image_is_404(
    client: TestClient, settings: Settings, bucket: Path
) -> None:
    (bucket / "broken.jpg").write_bytes(b"not a jpeg")
    run_ingest(settings, str(bucket))
    rows = catalog(settings)
    assert_error(client.get(f"/v1/images/{rows['broken.jpg'].id}/file"), 404, "image_not_found")
    (bucket / "img000.png").unlink()
    run_ingest(settings, str(bucket))
    assert_error(client.get(f"/v1/images/{rows['img000.png'].id}/file"), 404, "image_not_found")
    # Metadata stays available, with the status that explains the 404.
    assert client.get(f"/v1/images/{rows['img000.png'].id}").json()["status"] == "deleted"


def test_file_swapped_for_an_escaping_symlink_is_not_served(
    client: TestClient, settings: Settings, bucket: Path, tmp_path: Path
) -> None:
    run_ingest(settings, str(bucket))
    image_id = catalog(settings)["img001.png"].id
    secret = write_image(tmp_path / "secret.png", 77)
    (bucket / "img001.png").unlink()
    (bucket / "img001.png").symlink_to(secret)  # after the ingest, before the request
    body = assert_error(client.get(f"/v1/images/{image_id}/file"), 404, "image_not_found")
    assert "outside the bucket" in str(body["detail"])


def test_file_changed_into_a_non_image_is_404(client: TestClient, settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    image_id = catalog(settings)["img002.png"].id
    (bucket / "img002.png").write_text("now text")
    assert_error(client.get(f"/v1/images/{image_id}/file"), 404, "image_not_found")


def test_file_whose_bucket_vanished_is_404(client: TestClient, settings: Settings, bucket: Path) -> None:
    run_ingest(settings, str(bucket))
    image_id = catalog(settings)["img002.png"].id
    shutil.rmtree(bucket)
    assert_error(client.get(f"/v1/images/{image_id}/file"), 404)
