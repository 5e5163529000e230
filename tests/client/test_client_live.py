"""The client against a live `pixseek serve` with keys: every public route, sync and async."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from pixseek.api.schemas.search import SearchHit, SearchResponse
from pixseek.client import AsyncClient, Client, Conflict, NotFound, Unauthorized, ValidationFailed
from tests.support.live_server import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("live-server")]


def _routes(live: LiveServer) -> set[tuple[str, str]]:
    spec = httpx.get(f"{live.url}/openapi.json").json()
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item}


def _template(routes: set[tuple[str, str]], request: httpx.Request) -> tuple[str, str] | None:
    for method, path in routes:
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"
        if method == request.method and re.match(pattern, request.url.path):
            return method, path
    return None


def test_every_public_route_through_the_client(live: LiveServer) -> None:
    routes = _routes(live)
    called: set[tuple[str, str] | None] = set()
    with Client(live.url, api_key=live.key) as px:
        px.http.event_hooks["request"].append(lambda request: called.add(_template(routes, request)))
        assert px.health()["status"] == "ok" and px.ready()["status"] == "ready"
        assert px.status()["images"]["indexed"] >= 7
        assert "pixseek_index_vectors" in px.metrics()

        page = px.search("blocks", filters={"key_glob": "img*.png"}, limit=3, explain=True)
        assert isinstance(page, SearchResponse) and len(page.results) == 3
        everything = list(px.iter_search("blocks", page_size=2))
        assert len(everything) >= 7 and len({hit.id for hit in everything}) == len(everything)
        assert all(isinstance(hit, SearchHit) for hit in everything)
        first = everything[0].id
        image_bytes = px.image_file(first)
        assert px.search(first, {"text": "blocks", "weight": -0.2}, limit=2).results
        uploads = px.search_with_uploads({"upload": 0}, "blocks", images=[image_bytes], limit=2)
        assert uploads.results[0].id == first or uploads.results[0].key.startswith("copy")
        assert px.search_text("blocks", k=2).results
        assert px.search_image(image_bytes, k=1).results[0].score > 0.99
        assert len(list(px.iter_similar(first, page_size=4))) == len(everything) - 1
        assert px.similar(first, k=2, filters={"formats": ["PNG"]}).results

        assert px.search_regions("blocks", k=2).results
        assert px.search_regions(region={"image_id": first, "box": [0, 0, 48, 32]}, k=2).results
        assert px.search_regions_image(image_bytes, k=2).results
        assert px.heatmap(first, "blocks").startswith(b"\x89PNG")
        assert px.heatmap_grid(first, "blocks")["id"] == first

        info = px.image(first)
        assert info.id == first and info.bucket == str(live.bucket)
        assert px.thumbnail(first, 64)[:4] == b"RIFF"
        assert px.image_text(first).image_id == first
        assert px.tags().tags

        job = px.start_job(str(live.later))
        assert px.wait_job(job.job_id).status == "done"
        assert job.job_id in {j.job_id for j in px.jobs(limit=5)}
        assert px.job_problems(job.job_id) == []
        with pytest.raises(Conflict) as finished:
            px.cancel_job(job.job_id)
        assert finished.value.code == "job_not_cancellable"

        detection = px.detect_duplicates()  # `later` holds a copy of img001.png: a new group
        assert px.wait_job(detection.job_id).status == "done"
        groups = list(px.iter_duplicate_groups(page_size=1))
        assert groups and groups == px.duplicate_groups(limit=100).groups
        group = px.duplicate_group(groups[-1].id)
        assert px.check_duplicate(image_bytes).verdict == "exact"
        assert px.resolve_group(group.id, keep=[group.keep]).status == "resolved"
        if len(groups) > 1:
            assert px.dismiss_group(groups[0].id).status == "dismissed"
        else:  # the route is still called; a resolved group cannot be dismissed
            with pytest.raises(Conflict):
                px.dismiss_group(group.id)
        saved = px.create_saved_search(f"blocks {id(px)}", "blocks", filters={"key_prefix": "img"}, limit=50)
        assert saved.matches >= 6 and saved in px.saved_searches()
        first_view = px.saved_search(saved.id)
        assert first_view.new == [hit.id for hit in first_view.results]  # never viewed: all are new
        assert px.refresh_saved_search(saved.id).new_matches == 0  # viewed just now
        px.delete_saved_search(saved.id)
        with pytest.raises(NotFound):
            px.saved_search(saved.id)
        # Duplicate decisions carried out (a dry run: nothing moves), then curation and selections.
        assert px.apply_decisions().planned >= 0
        assert isinstance(px.export_duplicates("json"), dict) and "group_id" in px.export_duplicates("csv")
        runs = px.apply_runs().runs
        with pytest.raises(NotFound):
            px.undo_apply("no-such-run")
        assert all(not run.undone for run in runs)
        assert px.curate("diverse", n=2, name=f"diverse-{id(px)}").selections[0].count == 2
        assert px.curate("typical", n=2).selections and px.curate("unusual", n=2).selections
        assert px.curate("clusters", k=2).selections
        assert px.curate("splits", ratios=[0.5, 0.5], name=f"split-{id(px)}").leaked_pairs == 0  # type: ignore[attr-defined]
        assert px.curation_scores(limit=3).images
        curating = px.curation_job("diverse", n=2, name=f"job-{id(px)}")
        assert px.wait_job(curating.job_id).status == "done"
        assert px.compute_map("pca").count >= 7 and len(px.collection_map()["ids"]) >= 7
        name = f"picked-{id(px)}"
        assert px.save_selection(name, [first]).count == 1
        assert name in {sel.name for sel in px.selections().selections}
        assert [image.id for image in px.selection(name).images] == [first]
        px.delete_selection(name)
        with pytest.raises(NotFound):
            px.selection(name)
        ping = px.test_webhook()  # no receiver configured: recorded, delivered nowhere
        assert ping.targets == 0 and isinstance(px.webhook_deliveries(limit=5), list)
    missing = routes - called
    assert not missing, f"routes the client never called: {sorted(missing)}"


def test_errors_carry_the_servers_code(live: LiveServer, tmp_path: Path) -> None:
    with Client(live.url, api_key=live.key) as px:
        with pytest.raises(NotFound) as caught:
            px.image(10**9)
        assert caught.value.code == "image_not_found" and caught.value.status == 404
        with pytest.raises(ValidationFailed) as invalid:
            px.similar(1, k=0)
        assert invalid.value.code == "invalid_request" and invalid.value.detail[0]["loc"] == ["query", "k"]
    with Client(live.url, api_key="pxk_not_a_key_0000000000000000") as stranger, pytest.raises(Unauthorized):
        stranger.status()


def test_the_async_client(live: LiveServer) -> None:
    async def run() -> None:
        async with AsyncClient(live.url, api_key=live.key) as px:
            page, status = await asyncio.gather(px.search("blocks", limit=2), px.status())
            assert len(page.results) == 2 and status["images"]["indexed"] >= 7
            hits = [hit async for hit in px.iter_search("blocks", page_size=3)]
            assert len(hits) >= 7
            assert (await px.image(hits[0].id)).id == hits[0].id

    asyncio.run(run())
