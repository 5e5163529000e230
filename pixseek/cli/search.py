"""`pixseek search`: composed queries (texts, image files, image ids), filters and pages.

Every part value may end in `::W` to set its weight, as in `--minus "people::0.3"`.
See docs/search.md for the query model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from pixseek.cli.common import emit, handle_errors, json_option
from pixseek.core.db import ensure_schema, session_scope
from pixseek.core.errors import InvalidRequest
from pixseek.core.settings import get_settings
from pixseek.media.formats import FORMATS
from pixseek.search.filters import Filters
from pixseek.search.query import ImageIdPart, ImagePart, Mode, Part, Query, RegionPart, SearchPage, TextPart

# The search services (pixseek.search.service, pixseek.cli.regions) are imported when a query
# runs: they load torch and faiss, which `pixseek search --help` does not need.

F = TypeVar("F", bound=Callable[..., Any])

WEIGHT_SEPARATOR = "::"
DEFAULT_NEGATIVE = 0.5
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def split_weight(value: str, default: float) -> tuple[str, float]:
    """`"people::0.3"` -> ("people", 0.3); a value without a numeric `::W` keeps `default`."""
    head, sep, tail = value.rpartition(WEIGHT_SEPARATOR)
    if sep and head:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return value, default


class ByteSize(click.ParamType):
    """A size in bytes: `5000`, `200K`, `1.5M`, `2G`."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B") or "0"
        unit = text[-1] if text[-1] in "KMG" else ""
        try:
            return int(float(text[: len(text) - len(unit)]) * _SIZE_UNITS[unit])
        except ValueError:
            self.fail(f"{value!r} is not a size such as 5000, 200K or 1.5M", param, ctx)


class IsoTime(click.ParamType):
    """An ISO 8601 date or time; naive values are UTC."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO date or time such as 2023-06-01 or 2023-06-01T12:00Z", param, ctx
            )


def filter_options(fn: F) -> F:
    """The catalog filters, as options (shared by every command that searches)."""
    options = [
        click.option("--bucket", default=None, help="Only images of this bucket."),
        click.option("--prefix", "key_prefix", default=None, help="Only keys starting with this."),
        click.option(
            "--glob", "key_glob", default=None, help="Only keys matching this glob (** crosses folders)."
        ),
        click.option(
            "--format",
            "formats",
            multiple=True,
            type=click.Choice(FORMATS, case_sensitive=False),
            help="Only this format; repeatable.",
        ),
        click.option("--min-width", type=int, default=None),
        click.option("--max-width", type=int, default=None),
        click.option("--min-height", type=int, default=None),
        click.option("--max-height", type=int, default=None),
        click.option(
            "--min-size", type=ByteSize(), default=None, help="File size at least this (200K, 1.5M)."
        ),
        click.option("--max-size", type=ByteSize(), default=None),
        click.option(
            "--ingested-after", type=IsoTime(), default=None, help="First cataloged at or after this."
        ),
        click.option("--ingested-before", type=IsoTime(), default=None),
        click.option(
            "--captured-after", type=IsoTime(), default=None, help="EXIF capture time at or after this."
        ),
        click.option("--captured-before", type=IsoTime(), default=None),
        click.option(
            "--tag", "tags", multiple=True, help="Only images carrying this tag; repeatable (all must hold)."
        ),
        click.option("--no-tag", "no_tags", multiple=True, help="Only images without this tag; repeatable."),
        click.option(
            "--camera",
            "cameras",
            multiple=True,
            help='Only photos from this camera ("Apple iPhone 13"); repeatable.',
        ),
        click.option("--lens", "lenses", multiple=True, help="Only photos taken with this lens; repeatable."),
        click.option(
            "--country", "countries", multiple=True, help="Only photos taken in this country (name or code)."
        ),
        click.option("--city", "cities", multiple=True, help="Only photos taken in this city or town."),
        click.option(
            "--near",
            metavar="LAT,LON,KM|PLACE,KM",
            default=None,
            help="Only photos taken within KM of a point, or of a place by name (Lisbon,5).",
        ),
        click.option(
            "--bbox", metavar="S,W,N,E", default=None, help="Only photos taken inside this box (degrees)."
        ),
        click.option(
            "--has-location/--no-location",
            "has_location",
            default=None,
            help="Only photos with (or without) a GPS position.",
        ),
        click.option(
            "--selection", default=None, help="Only images of this saved selection (pixseek curate)."
        ),
        click.option(
            "--media",
            type=click.Choice(["image", "video"]),
            default=None,
            help="Only pictures, or only moments of videos.",
        ),
        click.option(
            "--min-duration", type=float, default=None, help="Only videos at least this long (seconds)."
        ),
        click.option(
            "--max-duration", type=float, default=None, help="Only videos at most this long (seconds)."
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _bucket_name(value: str | None) -> str | None:
    """A local folder given on the command line names its bucket by its real path."""
    if value is None or "://" in value or not os.path.isdir(value):
        return value
    return os.path.realpath(value)


def filters_from(options: dict[str, Any]) -> Filters:
    return Filters(
        bucket=_bucket_name(options.pop("bucket")),
        key_prefix=options.pop("key_prefix"),
        key_glob=options.pop("key_glob"),
        formats=tuple(f.upper() for f in options.pop("formats")),
        min_width=options.pop("min_width"),
        max_width=options.pop("max_width"),
        min_height=options.pop("min_height"),
        max_height=options.pop("max_height"),
        min_size=options.pop("min_size"),
        max_size=options.pop("max_size"),
        ingested_after=options.pop("ingested_after"),
        ingested_before=options.pop("ingested_before"),
        captured_after=options.pop("captured_after"),
        captured_before=options.pop("captured_before"),
        tags=tuple(options.pop("tags")),
        no_tags=tuple(options.pop("no_tags")),
        cameras=tuple(options.pop("cameras")),
        lenses=tuple(options.pop("lenses")),
        countries=tuple(options.pop("countries")),
        cities=tuple(options.pop("cities")),
        near=parse_near(options.pop("near")),
        bbox=parse_bbox(options.pop("bbox")),
        has_location=options.pop("has_location"),
        selection=options.pop("selection"),
        media=options.pop("media"),
        min_duration=options.pop("min_duration"),
        max_duration=options.pop("max_duration"),
    )


def _clock(seconds: float | None) -> str:
    """Seconds as m:ss.s (h:mm:ss.s past an hour)."""
    total = seconds or 0.0
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours)}:{int(minutes):02d}:{secs:04.1f}" if hours else f"{int(minutes)}:{secs:04.1f}"


def _numbers(value: str, option: str, count: int, shape: str) -> list[float]:
    try:
        numbers = [float(v) for v in value.replace(" ", "").split(",")]
    except ValueError as exc:
        raise InvalidRequest(f"{option} {value!r}: give {shape}") from exc
    if len(numbers) != count:
        raise InvalidRequest(f"{option} {value!r}: give {shape}")
    return numbers


def parse_near(value: str | None) -> tuple[float, float, float] | None:
    """`"38.71,-9.14,5"` -> (38.71, -9.14, 5.0); `"Lisbon,5"`: the place's position, from the gazetteer."""
    if value is None:
        return None
    name, _, radius = value.rpartition(",")
    if name and not _is_number(name.rpartition(",")[2]):
        from pixseek.media.places import gazetteer

        position = gazetteer().locate(name)
        if position is None:
            raise InvalidRequest(f"--near: no place called {name!r} in the gazetteer")
        return position[0], position[1], _numbers(radius, "--near", 1, "a radius in km")[0]
    lat, lon, km = _numbers(value, "--near", 3, "LAT,LON,KM or PLACE,KM")
    return lat, lon, km


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """`"38.6,-9.3,38.8,-9.0"` -> (south, west, north, east)."""
    if value is None:
        return None
    south, west, north, east = _numbers(value, "--bbox", 4, "four numbers S,W,N,E")
    return south, west, north, east


def _read_image(value: str) -> tuple[str, bytes]:
    path = Path(value)
    try:
        return path.name, path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror or exc}") from exc


def _image_id(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidRequest(f"{value!r} is not an image id") from exc


def parse_box(value: str) -> tuple[float, float, float, float]:
    """`"40,30,200,180"` -> (40.0, 30.0, 200.0, 180.0): x0, y0, x1, y1 in displayed pixels."""
    try:
        numbers = [float(v) for v in value.replace(" ", "").split(",")]
    except ValueError as exc:
        raise InvalidRequest(f"--box {value!r}: give four numbers x0,y0,x1,y1") from exc
    if len(numbers) != 4:
        raise InvalidRequest(f"--box {value!r}: give four numbers x0,y0,x1,y1")
    x0, y0, x1, y1 = numbers
    return x0, y0, x1, y1


def parts_from(
    text: tuple[str, ...],
    weight: float,
    plus: tuple[str, ...],
    minus: tuple[str, ...],
    like: tuple[str, ...],
    like_id: tuple[str, ...],
    unlike: tuple[str, ...],
    unlike_id: tuple[str, ...],
    box: str | None = None,
) -> tuple[Part, ...]:
    """The query parts the options describe; negative options take `-abs(W)`.

    `box` turns the one `--like-id` image into a region of it.
    """
    if box is not None and len(like_id) != 1:
        raise InvalidRequest("--box is a region of the --like-id image: give exactly one --like-id")
    parts: list[Part] = []
    if text:
        parts.append(TextPart(" ".join(text), weight))
    for value in plus:
        words, w = split_weight(value, 1.0)
        parts.append(TextPart(words, w))
    for value in minus:
        words, w = split_weight(value, DEFAULT_NEGATIVE)
        parts.append(TextPart(words, -abs(w)))
    for values, sign, default in ((like, 1.0, 1.0), (unlike, -1.0, DEFAULT_NEGATIVE)):
        for value in values:
            path, w = split_weight(value, default)
            name, data = _read_image(path)
            parts.append(ImagePart(data, sign * abs(w), name))
    for values, sign, default in ((like_id, 1.0, 1.0), (unlike_id, -1.0, DEFAULT_NEGATIVE)):
        for value in values:
            image_id, w = split_weight(value, default)
            if box is not None and sign > 0:
                parts.append(RegionPart(_image_id(image_id), parse_box(box), abs(w)))
            else:
                parts.append(ImageIdPart(_image_id(image_id), sign * abs(w)))
    if not parts:
        raise InvalidRequest("give a TEXT, --like FILE or --like-id N (see pixseek search --help)")
    return tuple(parts)


def print_page(page: SearchPage) -> None:
    """Human-readable results: rank, score, id and key, and the per-part scores."""
    for rank, hit in enumerate(page.hits, page.offset + 1):
        extra = ""
        if page.mode is not Mode.SEMANTIC:
            ranks = [
                f"{name} #{r}" for name, r in (("sem", hit.semantic_rank), ("kw", hit.keyword_rank)) if r
            ]
            sim = f"cos {hit.similarity:.4f}  " if hit.similarity is not None else ""
            extra = f"  ({sim}{', '.join(ranks)}{', exact name' if hit.exact_name else ''})"
        moment = f" @ {_clock(hit.start)}-{_clock(hit.end)}" if hit.media == "video" else ""
        click.echo(f"{rank:4d}. {hit.score:.4f}  [{hit.id}] {hit.bucket}/{hit.key}{moment}{extra}")
        for other in (hit.moments or [])[1:]:
            click.echo(
                f"        also {_clock(other.start)}-{_clock(other.end)}  {other.score:.4f}  [{other.id}]"
            )
        for part in hit.parts or []:
            click.echo(
                f"{'':8}{part.contribution:+.4f} = {part.weight:+g} x cos {part.similarity:.4f}  {part.label}"
            )
    if not page.hits:
        click.echo("no results")
    elif page.total is not None:
        more = "" if page.total_exact else " or more"
        click.echo(f"{page.offset + 1}-{page.offset + len(page.hits)} of {page.total}{more}")
    for facet, counts in (page.facets or {}).items():
        if counts or facet == "tags":
            click.echo(f"{facet}: " + (", ".join(f"{value} {n}" for value, n in counts.items()) or "none"))


@click.command("search")
@click.argument("text", nargs=-1)
@click.option("-w", "--weight", type=float, default=1.0, show_default=True, help="Weight of TEXT.")
@click.option("--plus", multiple=True, metavar="TEXT[::W]", help="Another text to match; repeatable.")
@click.option("--minus", multiple=True, metavar="TEXT[::W]", help="A text to push away (default W 0.5).")
@click.option("--like", multiple=True, metavar="FILE[::W]", help="Look like this image file; repeatable.")
@click.option("--like-id", multiple=True, metavar="ID[::W]", help="Look like this cataloged image.")
@click.option("--unlike", multiple=True, metavar="FILE[::W]", help="Push away from this image file.")
@click.option("--unlike-id", multiple=True, metavar="ID[::W]", help="Push away from this cataloged image.")
@click.option(
    "--box",
    metavar="X0,Y0,X1,Y1",
    default=None,
    help="Only this region of the --like-id image (displayed pixels); best with --regions.",
)
@click.option(
    "--mode",
    type=click.Choice([m.value for m in Mode]),
    default=Mode.SEMANTIC.value,
    show_default=True,
    help="semantic: by embedding; keyword: by words in names, folders, captions; hybrid: both fused.",
)
@click.option("-k", "--limit", type=int, default=10, show_default=True, help="Results per page.")
@click.option("--offset", type=int, default=0, show_default=True, help="Results to skip.")
@click.option("--min-score", type=float, default=None, help="Drop results below this cosine similarity.")
@click.option("--explain", is_flag=True, help="Show each result's score per query part.")
@click.option("--template", "templates", multiple=True, help="Prompt template with {} (repeatable).")
@click.option("--no-templates", is_flag=True, help="Embed texts as written.")
@click.option("--include-self", is_flag=True, help="Keep --like-id images (and --box's) in the results.")
@click.option("--exclude-duplicates", is_flag=True, help="Leave out exact copies of the query images.")
@click.option(
    "--facets", is_flag=True, help="Count the tags, cameras, lenses, countries and cities of the result set."
)
@filter_options
@click.option("--regions", is_flag=True, help="Rank by best-matching region and print its box.")
@click.option("--smooth", type=int, default=0, show_default=True, help="With --regions: smoothing radius.")
@click.option("--cls-weight", type=float, default=0.0, show_default=True, help="With --regions: CLS share.")
@json_option
@handle_errors
def search_command(
    text: tuple[str, ...],
    weight: float,
    plus: tuple[str, ...],
    minus: tuple[str, ...],
    like: tuple[str, ...],
    like_id: tuple[str, ...],
    unlike: tuple[str, ...],
    unlike_id: tuple[str, ...],
    box: str | None,
    mode: str,
    limit: int,
    offset: int,
    min_score: float | None,
    explain: bool,
    templates: tuple[str, ...],
    no_templates: bool,
    include_self: bool,
    exclude_duplicates: bool,
    facets: bool,
    regions: bool,
    smooth: int,
    cls_weight: float,
    as_json: bool,
    **filter_values: Any,
) -> None:
    """Search by TEXT, image files and cataloged images, each with a weight.

    \b
    Examples:
      pixseek search beach --minus people
      pixseek search "at night" --like photo.jpg::2
      pixseek search --like-id 12 --exclude-duplicates --format JPEG
      pixseek search --regions --like-id 42 --box 40,30,200,180
      pixseek search IMG_0042 --mode hybrid
      pixseek search dog --captured-after 2023-06-01 --glob "2023/**" --offset 20
      pixseek search sunset --tag beach --no-tag people --facets
      pixseek search tram --city Lisbon --camera "Apple iPhone 13"
      pixseek search beach --near 38.71,-9.14,25 --facets
    """
    if templates and no_templates:
        raise InvalidRequest("give --template or --no-templates, not both")
    parts = parts_from(text, weight, plus, minus, like, like_id, unlike, unlike_id, box)
    query = Query(
        parts=parts,
        filters=filters_from(filter_values),
        mode=Mode(mode),
        limit=limit,
        offset=offset,
        min_score=min_score,
        explain=explain,
        templates=() if no_templates else (templates or None),
        include_query_images=include_self,
        exclude_duplicates=exclude_duplicates,
        facets=facets,
    )
    settings = get_settings()
    ensure_schema(settings)
    if regions and facets:
        raise InvalidRequest("--facets counts a search's result set; region search has none to count")
    if regions:  # region search (issue 6), see pixseek/cli/regions.py
        from pixseek.cli.regions import run_region_search

        run_region_search(
            settings,
            query=query,
            smooth=smooth,
            cls_weight=cls_weight,
            as_json=as_json,
        )
        return
    from pixseek.search.service import SearchService

    with session_scope(settings) as session:
        page = SearchService(settings).search(session, query)
    if as_json:
        emit(page.as_dict())
        return
    print_page(page)
