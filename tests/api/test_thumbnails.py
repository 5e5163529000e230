"""Thumbnails: made at ingest from the decoded picture, served with a strong ETag, removed
with their image, and made later for images cataloged before thumbnails existed."""

from __future__ import annotations

import io
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import delete, select

from pixseek.api.app import create_app
from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from pixseek.index.catalog.thumbnails import Thumbnail, ThumbnailStore
from pixseek.ingest.run import run_ingest
from pixseek.ingest.thumbnailing import backfill_thumbnails, lacking_thumbnails
from tests.support.api import assert_error
from tests.support.images import encode, jpeg_with_orientation, pattern
from tests.support.ingested import bump_mtime, catalog


def _rows(settings: Settings) -> dict[tuple[int, int], Thumbnail]:
    with session_scope(settings) as session:
        rows = session.scalars(select(Thumbnail)).all()
        session.expunge_all()
    return {(row.image_id, row.size): row for row in rows}


def _webp(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    assert picture.format == "WEBP"
    return picture


def test_ingest_makes_webp_thumbnails_of_the_displayed_picture(settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    # 1000x600 stored sideways (EXIF orientation 6): displayed 600 wide, 1000 tall.
    (root / "turned.jpg").write_bytes(jpeg_with_orientation(pattern(1, (1000, 600)), 6))
    (root / "small.png").write_bytes(encode(pattern(2, (100, 50))))
    run_ingest(settings, str(root))
    ids = {key: row.id for key, row in catalog(settings).items()}
    rows = _rows(settings)
    store = ThumbnailStore(settings.thumbnail_dir)

    turned = ids["turned.jpg"]
    assert (rows[turned, 256].width, rows[turned, 256].height) == (154, 256)
    assert _webp(store.read(turned, 256) or b"").size == (154, 256)
    assert (turned, 768) not in rows  # the large size is made when first asked for
    # Never enlarged: a picture smaller than the size stays its size.
    small = ids["small.png"]
    assert (rows[small, 256].width, rows[small, 256].height) == (100, 50)
    assert rows[small, 256].sha256 == catalog(settings)["small.png"].sha256
    assert rows[small, 256].bytes == len(store.read(small, 256) or b"")


def test_both_sizes_at_ingest_when_configured(settings: Settings, tmp_path: Path) -> None:
    both = settings.model_copy(update={"thumbnail_ingest_sizes": [256, 768]})
    root = tmp_path / "photos"
    root.mkdir()
    (root / "turned.jpg").write_bytes(jpeg_with_orientation(pattern(1, (1000, 600)), 6))
    run_ingest(both, str(root))
    turned = catalog(settings)["turned.jpg"].id
    rows = _rows(settings)
    assert (rows[turned, 768].width, rows[turned, 768].height) == (461, 768)
    assert _webp(ThumbnailStore(settings.thumbnail_dir).read(turned, 768) or b"").size == (461, 768)


def test_thumbnails_leave_with_their_image(settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):
        (root / f"{i}.png").write_bytes(encode(pattern(i)))
    both = settings.model_copy(update={"thumbnail_ingest_sizes": [256, 768]})
    run_ingest(both, str(root))
    ids = {key: row.id for key, row in catalog(settings).items()}
    store = ThumbnailStore(settings.thumbnail_dir)
    assert store.path(ids["0.png"], 256).exists()

    (root / "0.png").unlink()  # deleted from the bucket
    (root / "1.png").write_bytes(b"not an image any more")  # changed into a broken file
    bump_mtime(root / "1.png")
    run_ingest(both, str(root))

    rows = _rows(settings)
    for gone in ("0.png", "1.png"):
        assert not store.path(ids[gone], 256).exists()
        assert not store.path(ids[gone], 768).exists()
        assert (ids[gone], 256) not in rows
    assert (ids["2.png"], 256) in rows
    assert store.path(ids["2.png"], 768).exists()


def test_thumbnail_route_serves_webp_with_etag_and_cache_headers(
    client: TestClient, indexed: Path, settings: Settings
) -> None:
    row = catalog(settings)["img003.png"]
    response = client.get(f"/v1/images/{row.id}/thumbnail", params={"size": 256})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp"
    assert _webp(response.content).size == (96, 64)
    etag = response.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert row.sha256 is not None and row.sha256[:32] in etag
    assert response.headers["cache-control"] == "no-cache"  # the URL does not name the content

    named = client.get(f"/v1/images/{row.id}/thumbnail", params={"size": 256, "v": row.sha256[:16]})
    assert named.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert named.headers["etag"] == etag

    again = client.get(f"/v1/images/{row.id}/thumbnail", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = client.get(f"/v1/images/{row.id}/thumbnail", headers={"If-None-Match": '"t1-other-256"'})
    assert other.status_code == 200

    # A size between the ones made gets the next one up.
    # A size between the ones served gets the next one up, made from the original on first use.
    between = client.get(f"/v1/images/{row.id}/thumbnail", params={"size": 300})
    assert between.status_code == 200
    assert between.headers["etag"].endswith('-768"')
    assert (row.id, 768) in _rows(settings)


def test_thumbnail_route_refuses_unknown_and_rejected_images(
    client: TestClient, indexed: Path, settings: Settings
) -> None:
    assert_error(client.get("/v1/images/999999/thumbnail"), 404, "image_not_found")
    assert_error(client.get("/v1/images/0/thumbnail"), 404, "image_not_found")
    (indexed / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    run_ingest(settings, str(indexed))
    broken = catalog(settings)["broken.jpg"]
    assert_error(client.get(f"/v1/images/{broken.id}/thumbnail"), 404, "image_not_found")


def test_images_ingested_before_thumbnails_get_them(
    client: TestClient, indexed: Path, settings: Settings
) -> None:
    with session_scope(settings) as session:
        session.execute(delete(Thumbnail))
    ids = sorted(row.id for row in catalog(settings).values())
    with session_scope(settings) as session:
        assert lacking_thumbnails(session, [256]) == ids

    # Asked for by the UI: made on the spot.
    response = client.get(f"/v1/images/{ids[0]}/thumbnail")
    assert response.status_code == 200
    assert _webp(response.content).size == (96, 64)

    # The rest by the backfill (`pixseek thumbnails`), which a second run finds nothing for.
    assert backfill_thumbnails(settings) == len(ids) - 1
    assert backfill_thumbnails(settings) == 0
    assert len(_rows(settings)) == len(ids)
    assert backfill_thumbnails(settings, sizes=[768]) == len(ids)  # `pixseek thumbnails --all-sizes`
    assert len(_rows(settings)) == 2 * len(ids)


def test_thumbnails_do_not_count_against_the_rate_limit(indexed: Path, settings: Settings) -> None:
    # A page of results asks for dozens of thumbnails at once; other calls still count.
    limited = settings.model_copy(update={"rate_limit_burst": 3, "rate_limit_per_second": 0.001})
    row = catalog(settings)["img001.png"]
    with TestClient(create_app(limited)) as client:
        for _ in range(8):
            assert client.get(f"/v1/images/{row.id}/thumbnail").status_code == 200
        statuses = [client.get(f"/v1/images/{row.id}").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
