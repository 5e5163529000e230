"""The search service on catalogs built from vectors: exact expectations, checked by brute force."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import update

from pixseek.core.db import session_scope
from pixseek.core.errors import ImageNotFound, InvalidRequest
from pixseek.core.settings import Settings
from pixseek.index.catalog.images import Image, ImageStatus
from pixseek.search.filters import Filters
from pixseek.search.query import ImageIdPart, Mode, Query, SearchPage, TextPart, VectorPart
from pixseek.search.service import SearchService
from tests.support.synthetic_catalog import Spec, build, publish, random_vectors, unit


def _orthonormal(vectors: list[np.ndarray], seed: int) -> np.ndarray:
    """A unit vector orthogonal to the given orthonormal vectors."""
    r = random_vectors(1, seed=seed)[0].astype(np.float64)
    for v in vectors:
        v = v / np.linalg.norm(v)
        r -= (r @ v) * v
    return unit(r)


def test_negative_term_lowers_images_close_to_it(settings: Settings) -> None:
    service = SearchService(settings)
    templates = settings.prompt_templates
    beach = service.texts.embed(service.encoder, "beach", templates).astype(np.float64)
    people = service.texts.embed(service.encoder, "people", templates).astype(np.float64)
    towards_people = people - (people @ beach) * beach  # the part of "people" that is not "beach"
    towards_people /= np.linalg.norm(towards_people)
    elsewhere = _orthonormal([beach, towards_people], seed=5)
    # Equally close to "beach"; only `crowded` is also close to "people".
    specs = [
        Spec(key="crowded.jpg", vector=unit(beach + towards_people)),
        Spec(key="empty.jpg", vector=unit(beach + elsewhere)),
    ] + [Spec(key=f"other{i}.jpg", vector=v) for i, v in enumerate(random_vectors(20, seed=9))]
    ids = build(settings, specs)
    crowded, empty = ids[0], ids[1]
    with session_scope(settings) as session:
        base = service.search(session, Query(parts=(TextPart("beach"),), limit=22))
        minus = service.search(session, Query(parts=(TextPart("beach"), TextPart("people", -0.5)), limit=22))
    base_scores = {h.id: h.score for h in base.hits}
    minus_scores = {h.id: h.score for h in minus.hits}
    assert base_scores[crowded] == pytest.approx(base_scores[empty], abs=1e-5)
    assert minus_scores[crowded] < minus_scores[empty] - 0.05
    ranks = [h.id for h in minus.hits]
    assert ranks.index(crowded) > ranks.index(empty)
    # Every score is exactly the cosine with normalise(beach - 0.5 * people).
    q = beach - 0.5 * people
    q /= np.linalg.norm(q)
    for spec, image_id in zip(specs, ids, strict=True):
        assert minus_scores[image_id] == pytest.approx(float(unit(spec.vector) @ q), abs=1e-5)


def test_explain_parts_sum_to_the_score(settings: Settings) -> None:
    vectors = random_vectors(30, seed=1)
    ids = build(settings, [Spec(key=f"img{i}.png", vector=v) for i, v in enumerate(vectors)])
    service = SearchService(settings)
    query = Query(
        parts=(TextPart("a red car"), ImageIdPart(ids[3], 0.7), TextPart("trees", -0.4)),
        limit=10,
        explain=True,
    )
    with session_scope(settings) as session:
        page = service.search(session, query)
    text_vec = service.texts.embed(service.encoder, "a red car", settings.prompt_templates)
    by_id = dict(zip(ids, vectors, strict=True))
    assert len(page.hits) == 10
    assert ids[3] not in {h.id for h in page.hits}  # an image part is not its own result
    for hit in page.hits:
        assert hit.parts is not None
        assert [p.label for p in hit.parts] == ["text:a red car", f"image_id:{ids[3]}", "text:trees"]
        assert sum(p.contribution for p in hit.parts) == pytest.approx(hit.score, abs=1e-5)
        assert hit.parts[0].similarity == pytest.approx(float(text_vec @ by_id[hit.id]), abs=1e-5)
        assert hit.parts[1].similarity == pytest.approx(float(vectors[3] @ by_id[hit.id]), abs=1e-5)


def _duplicate_heavy_catalog(settings: Settings) -> tuple[list[int], np.ndarray]:
    """50 images, where groups of five share one vector (exact duplicates tie on score)."""
    base = random_vectors(10, seed=2)
    vectors = np.repeat(base, 5, axis=0)
    order = np.random.default_rng(0).permutation(50)  # duplicates get scattered ids
    specs = [Spec(key=f"dir/img_{i:03d}.png", vector=vectors[j]) for i, j in enumerate(order)]
    return build(settings, specs), vectors[order]


@pytest.mark.parametrize(
    ("mode", "filters"),
    [
        (Mode.SEMANTIC, Filters()),  # the index, unfiltered
        (Mode.SEMANTIC, Filters(key_prefix="dir/")),  # exact scoring of the filtered subset
        (Mode.HYBRID, Filters()),
        (Mode.KEYWORD, Filters()),
    ],
)
def test_pages_do_not_overlap_or_skip(backend_settings: Settings, mode: Mode, filters: Filters) -> None:
    settings = backend_settings
    ids, _ = _duplicate_heavy_catalog(settings)
    service = SearchService(settings)
    q = random_vectors(1, seed=11)[0]
    parts = (TextPart("img png"),) if mode is Mode.KEYWORD else (VectorPart(q), TextPart("dir img", 0.01))
    with session_scope(settings) as session:
        whole = service.search(session, Query(parts=parts, mode=mode, filters=filters, limit=50))
        pages = [
            service.search(session, Query(parts=parts, mode=mode, filters=filters, limit=7, offset=offset))
            for offset in range(0, 56, 7)
        ]
    paged = [h.id for page in pages for h in page.hits]
    assert paged == [h.id for h in whole.hits]
    assert sorted(paged) == sorted(ids)
    assert [len(p.hits) for p in pages] == [7] * 7 + [1]
    order = [(-h.score, h.id) for h in whole.hits]
    assert order == sorted(order)
    assert whole.total == 50


def test_unfiltered_total_counts_up_to_its_cap_and_says_so(backend_settings: Settings) -> None:
    specs = [Spec(key=f"img{i}.png", vector=v) for i, v in enumerate(random_vectors(12))]
    ids = build(backend_settings, specs)
    q = random_vectors(1, seed=3)[0]

    def page(cap: int, filters: Filters | None = None) -> SearchPage:
        settings = backend_settings.model_copy(update={"search_count_max": cap})
        query = Query(parts=(VectorPart(q),), limit=5, filters=filters or Filters())
        with session_scope(settings) as session:
            return SearchService(settings).search(session, query)

    assert (page(12).total, page(12).total_exact) == (12, True)  # exactly at the cap: still exact
    capped = page(11)
    assert (capped.total, capped.total_exact) == (11, False)  # "11 or more"
    assert len(capped.hits) == 5 and {h.id for h in capped.hits} <= set(ids)  # the ranking is whole
    assert capped.as_dict()["total_exact"] is False
    nothing_counted = page(0)  # a bound never below what the page shows
    assert (nothing_counted.total, nothing_counted.total_exact) == (5, False)
    filtered = page(3, Filters(key_prefix="img"))  # a filtered query holds every allowed id: exact
    assert (filtered.total, filtered.total_exact) == (12, True)


def test_semantic_order_is_score_then_id_like_brute_force(settings: Settings) -> None:
    ids, vectors = _duplicate_heavy_catalog(settings)
    q = random_vectors(1, seed=11)[0]
    scores = vectors.astype(np.float64) @ q  # float64: identical rows score identically
    expected = [ids[i] for i in np.lexsort((np.array(ids), -scores))]
    with session_scope(settings) as session:
        page = SearchService(settings).search(session, Query(parts=(VectorPart(q),), limit=50))
    assert [h.id for h in page.hits] == expected
    assert page.total == 50


def test_min_score_keeps_exactly_the_images_above_it(settings: Settings) -> None:
    vectors = random_vectors(40, seed=4)
    ids = build(settings, [Spec(key=f"img{i}.png", vector=v) for i, v in enumerate(vectors)])
    q = random_vectors(1, seed=12)[0]
    scores = vectors @ q
    threshold = float(np.sort(scores)[-8])  # exactly 8 images at or above it
    expected = [ids[i] for i in np.argsort(-scores)[:8]]

    def search(filters: Filters) -> SearchPage:
        query = Query(parts=(VectorPart(q),), limit=20, min_score=threshold, filters=filters)
        with session_scope(settings) as session:
            return SearchService(settings).search(session, query)

    unfiltered, filtered = search(Filters()), search(Filters(key_prefix="img"))
    assert [h.id for h in unfiltered.hits] == [h.id for h in filtered.hits] == expected
    assert unfiltered.total is None  # not cheap: it would take scoring every image
    publish(settings, ids, vectors, "ivf")  # approximate index: the filtered subset is scored exactly
    exact = search(Filters(key_prefix="img"))
    assert [h.id for h in exact.hits] == expected
    assert exact.total == 8  # exact scoring counts what passes the threshold


def test_similar_excludes_itself_and_optionally_its_duplicates(backend_settings: Settings) -> None:
    settings = backend_settings
    vectors = random_vectors(12, seed=6)
    near = unit(vectors[0] + 0.3 * vectors[1])
    specs = [
        Spec(key="original.jpg", vector=vectors[0], sha256="a" * 64),
        Spec(key="copy.jpg", vector=vectors[0], sha256="a" * 64),
        Spec(key="near.jpg", vector=near),
    ] + [Spec(key=f"other{i}.jpg", vector=v) for i, v in enumerate(vectors[2:])]
    ids = build(settings, specs)
    original, copy, near_id = ids[:3]
    service = SearchService(settings)
    with session_scope(settings) as session:
        plain = service.similar(session, original, limit=3)
        no_dups = service.similar(session, original, limit=3, exclude_duplicates=True)
        with_self = service.similar(session, original, limit=3, include_self=True)
    assert [h.id for h in plain.hits][:2] == [copy, near_id]
    assert plain.hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert original not in {h.id for h in plain.hits}
    assert no_dups.hits[0].id == near_id
    assert {original, copy}.isdisjoint(h.id for h in no_dups.hits)
    assert [h.id for h in with_self.hits][:3] == [original, copy, near_id]
    assert (plain.total, no_dups.total, with_self.total) == (12, 11, 13)  # of 13 images


def test_similar_to_an_unknown_image_is_not_found(settings: Settings) -> None:
    build(settings, [Spec(key="a.png", vector=random_vectors(1)[0])])
    with session_scope(settings) as session, pytest.raises(ImageNotFound):
        SearchService(settings).similar(session, 999)


def test_hybrid_ranks_an_exact_file_name_first(backend_settings: Settings) -> None:
    settings = backend_settings
    service = SearchService(settings)
    name = "sunset_beach_0042.jpg"
    text_vec = service.texts.embed(service.encoder, name, settings.prompt_templates)
    specs = [
        Spec(key=f"trips/{name}", vector=-text_vec),  # semantically the worst match there is
        Spec(key="trips/sunset_beach_0042_edit.jpg", vector=text_vec),  # best by both lists otherwise
        Spec(key="trips/sunset_beach_0043.jpg", vector=unit(text_vec + random_vectors(1, seed=1)[0])),
    ] + [Spec(key=f"trips/img_{i}.jpg", vector=v) for i, v in enumerate(random_vectors(30, seed=8))]
    ids = build(settings, specs)
    with session_scope(settings) as session:
        hybrid = service.search(session, Query(parts=(TextPart(name),), mode=Mode.HYBRID, limit=5))
        semantic = service.search(session, Query(parts=(TextPart(name),), limit=40))
        keyword = service.search(session, Query(parts=(TextPart(name),), mode=Mode.KEYWORD))
    assert [h.id for h in semantic.hits][-1] == ids[0]
    assert hybrid.hits[0].id == ids[0] and hybrid.hits[0].exact_name
    assert hybrid.hits[1].id == ids[1]
    assert keyword.hits[0].id == ids[0]
    assert {h.id for h in keyword.hits} == {ids[0], ids[1]}  # every word of the name must match
    # Fused scores are reciprocal ranks with k = 60.
    for hit in hybrid.hits:
        expected = sum(1 / (60 + r) for r in (hit.semantic_rank, hit.keyword_rank) if r is not None)
        assert hit.score == pytest.approx(expected, abs=1e-9)


def test_keyword_matching_of_names_folders_and_captions(backend_settings: Settings) -> None:
    settings = backend_settings
    vectors = random_vectors(6, seed=3)
    specs = [
        Spec(key="2023/summerTrip/IMG_0042.JPG", vector=vectors[0]),
        Spec(key="2023/winter/DSC00042.jpg", vector=vectors[1], caption="Snow on the Café roof"),
        Spec(key="misc/dog-park.png", vector=vectors[2], caption="a dog in the park"),
        Spec(key="misc/cat.png", vector=vectors[3], caption="a cat in the park"),
        Spec(key="misc/dog_and_cat.png", vector=vectors[4]),
    ]
    ids = build(settings, specs)
    service = SearchService(settings)

    def found(*parts: TextPart, filters: Filters | None = None) -> set[int]:
        query = Query(parts=parts, mode=Mode.KEYWORD, limit=50, filters=filters or Filters())
        with session_scope(settings) as session:
            return {h.id for h in service.search(session, query).hits}

    assert found(TextPart("summer trip")) == {ids[0]}  # camelCase folder
    assert found(TextPart("42")) == {ids[0], ids[1]}  # numbers without leading zeros
    assert found(TextPart("cafe")) == {ids[1]}  # captions, diacritics folded
    assert found(TextPart("dog park")) == {ids[2]}  # every word of a part
    assert found(TextPart("dog"), TextPart("cat")) == {ids[2], ids[3], ids[4]}  # any part
    assert found(TextPart("park"), TextPart("dog", -1.0)) == {ids[3]}  # a negative part excludes
    assert found(TextPart("dog"), filters=Filters(key_glob="misc/*.png", max_size=10)) == set()
    assert found(TextPart("zebra")) == set()


def test_templates_are_applied_to_every_text_and_can_be_turned_off(settings: Settings) -> None:
    settings = settings.model_copy(update={"prompt_templates": ["a photo of {}.", "a drawing of {}."]})
    service = SearchService(settings)
    encoder = service.encoder
    prompts = encoder.encode_texts(["a photo of kite.", "a drawing of kite."])
    templated = unit(prompts.mean(axis=0))
    raw = encoder.encode_texts(["kite"])[0]
    long_text = "a kite flying high over a windy beach"
    np.testing.assert_allclose(
        service.texts.embed(encoder, "kite", settings.prompt_templates), templated, atol=1e-6
    )
    np.testing.assert_allclose(
        service.texts.embed(encoder, long_text, settings.prompt_templates),
        encoder.encode_texts([long_text])[0],
        atol=1e-6,
    )
    vectors = random_vectors(5, seed=2)
    build(settings, [Spec(key=f"i{i}.png", vector=v) for i, v in enumerate(vectors)])
    with session_scope(settings) as session:
        on = service.search(session, Query(parts=(TextPart("kite"),), limit=5))
        off = service.search(session, Query(parts=(TextPart("kite"),), limit=5, templates=()))
    assert sorted(h.score for h in on.hits) == pytest.approx(sorted(vectors @ templated), abs=1e-5)
    assert sorted(h.score for h in off.hits) == pytest.approx(sorted(vectors @ raw), abs=1e-5)


def test_rows_that_left_the_catalog_are_skipped_without_shortening_the_page(settings: Settings) -> None:
    vectors = random_vectors(20, seed=4)
    ids = build(settings, [Spec(key=f"img{i}.png", vector=v) for i, v in enumerate(vectors)])
    q = vectors[0]
    best = [ids[i] for i in np.argsort(-(vectors @ q))]
    with session_scope(settings) as session:  # deleted after the index was published
        session.execute(update(Image).where(Image.id.in_(best[:3])).values(status=ImageStatus.DELETED))
    with session_scope(settings) as session:
        page = SearchService(settings).search(session, Query(parts=(VectorPart(q),), limit=5))
    assert [h.id for h in page.hits] == best[3:8]
    assert page.total == 17


def test_selective_filter_is_exact_on_an_approximate_index(settings: Settings) -> None:
    vectors = random_vectors(400, seed=10)
    ids = build(
        settings,
        [Spec(key=f"{'rare' if i % 20 == 0 else 'common'}/{i}.png", vector=v) for i, v in enumerate(vectors)],
    )
    publish(settings, ids, vectors, "ivf")
    rare = [i for i in range(400) if i % 20 == 0]
    for seed in range(5):
        q = random_vectors(1, seed=50 + seed)[0]
        expected = [ids[rare[j]] for j in np.argsort(-(vectors[rare] @ q))[:10]]
        with session_scope(settings) as session:
            page = SearchService(settings).search(
                session, Query(parts=(VectorPart(q),), limit=10, filters=Filters(key_prefix="rare/"))
            )
        assert [h.id for h in page.hits] == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (Query(parts=()), "at least one part"),
        (Query(parts=(TextPart("x", 0.0),)), "non-zero"),
        (Query(parts=(TextPart("x", -1.0),)), "positive weight"),
        (Query(parts=(TextPart("  "),)), "empty"),
        (Query(parts=(TextPart("x"),), limit=0), "limit"),
        (Query(parts=(ImageIdPart(1),), mode=Mode.KEYWORD), "text part"),
        (Query(parts=(TextPart("x"),), mode=Mode.KEYWORD, min_score=0.2), "min_score"),
        (Query(parts=(TextPart("x"),), templates=("no placeholder",)), "exactly one"),
        (Query(parts=(VectorPart(np.ones(3)),)), "dim"),
    ],
)
def test_invalid_queries_are_refused(settings: Settings, query: Query, message: str) -> None:
    build(settings, [Spec(key="a.png", vector=random_vectors(1)[0])])
    with session_scope(settings) as session, pytest.raises(InvalidRequest, match=message):
        SearchService(settings).search(session, query)


def test_parts_that_cancel_out_are_refused(settings: Settings) -> None:
    v = random_vectors(1)[0]
    build(settings, [Spec(key="a.png", vector=v)])
    query = Query(parts=(VectorPart(v, 1.0), VectorPart(v, -1.0)))
    with session_scope(settings) as session, pytest.raises(InvalidRequest, match="cancel"):
        SearchService(settings).search(session, query)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_id_selector_works_on_approximate_indexes(settings: Settings, kind: str) -> None:
    vectors = random_vectors(300, seed=13)
    ids = build(
        settings,
        [Spec(key=f"{'even' if i % 2 == 0 else 'odd'}/{i}.png", vector=v) for i, v in enumerate(vectors)],
    )
    publish(settings, ids, vectors, kind)
    query = Query(parts=(VectorPart(vectors[0]),), limit=10, filters=Filters(key_prefix="odd/"))
    with session_scope(settings) as session:  # search_exact_max=0: always the index with a selector
        page = SearchService(settings.model_copy(update={"search_exact_max": 0})).search(session, query)
    assert len(page.hits) == 10
    assert all(hit.key.startswith("odd/") for hit in page.hits)
