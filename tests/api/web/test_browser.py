"""The web UI in a real headless Chromium against a live server: search, an example image,
the heatmap, a region, a duplicate decision, an ingest, and sign-in (last: it turns keys on)."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import numpy as np
import pytest

from pixseek.core.db import session_scope
from pixseek.core.settings import Settings
from tests.support.browser import Site, screenshot

pytestmark = pytest.mark.slow


def test_type_a_query_and_see_results(page: Any, site: Site) -> None:
    page.goto("/")
    page.fill("#q", "a red circle")
    page.press("#q", "Enter")
    page.wait_for_selector("#results li.card")
    first = page.locator("#results li.card").first
    key = first.locator(".name").get_attribute("title")
    assert "red circle" in site.caption(key)
    assert "q=a+red+circle" in page.url
    # Terms as chips, in the URL; a reload restores the whole query.
    page.fill("#minus", "a blue square")
    page.press("#minus", "Enter")
    page.wait_for_function("() => location.search.includes('minus=')")
    page.wait_for_selector("#results li.card")
    page.reload()
    page.wait_for_selector("#results li.card")
    assert page.input_value("#q") == "a red circle"
    assert "without a blue square" in page.inner_text("#chips")
    # Every image loads its thumbnail, and "more like this" searches by that image.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#results img')].slice(0, 4)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    screenshot(page, "search")
    # "Relevant, newest first": the server's cutoff, then capture order; in the URL too.
    page.get_by_label("Relevant, newest first").check()
    page.wait_for_function("() => location.search.includes('order=newest')")
    page.wait_for_selector("#summary:has-text('relevant ones newest first')")
    page.locator("#results li.card a.more").first.click()
    page.wait_for_selector("#chips .chip-like")
    page.wait_for_selector("#results li.card")


def test_save_a_search_and_see_it_in_the_sidebar(page: Any, site: Site) -> None:
    page.goto("/")
    page.fill("#q", "a green triangle")
    page.press("#q", "Enter")
    page.wait_for_selector("#results li.card")
    page.once("dialog", lambda dialog: dialog.accept("green things"))
    page.click("#save-search")
    entry = page.locator("#saved-list button.saved-search", has_text="green things")
    entry.wait_for()
    assert "new" in entry.inner_text()  # never viewed: every match is new
    entry.click()
    page.wait_for_selector("#summary:has-text('green things')")
    assert page.locator("#results li.card.new-match").count() > 0
    screenshot(page, "saved-searches")


def test_drop_an_image_and_see_it_ranked_first(page: Any, site: Site) -> None:
    scene = site.scenes[5]  # a scene without copies
    data = base64.b64encode((site.root / "library" / "scenes" / scene.key).read_bytes()).decode()
    page.goto("/")
    page.evaluate(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            document.getElementById("drop").dispatchEvent(
                new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""",
        [scene.key, data],
    )
    page.wait_for_selector("#results li.card")
    assert page.locator("#results li.card .name").first.get_attribute("title") == f"scenes/{scene.key}"
    assert "upload=1" in page.url
    assert page.is_visible("#example-img")


def test_open_an_image_and_see_the_heatmap(page: Any, site: Site) -> None:
    page.goto("/?q=a+red+circle")
    page.locator("#results li.card a.pic").first.click()
    page.wait_for_url(re.compile(r"/images/\d+\?q="))
    page.wait_for_function(
        "() => { const h = document.getElementById('heatmap'); return !h.hidden && h.naturalWidth > 0; }"
    )
    assert page.locator("#boxes .text-box").count() == 1
    assert "Best region" in page.inner_text("#where-result")
    page.wait_for_selector("#similar li.card")
    screenshot(page, "image")
    page.uncheck("#show-heatmap")
    assert page.locator("#heatmap").is_hidden()
    assert "Bucket" in page.inner_text(".meta") and "160 × 160 px" in page.inner_text(".meta")


def test_photos_by_place_and_the_words_on_them(page: Any, site: Site) -> None:
    image_id = site.ids["phone/lisbon_sign.jpg"]
    with site.api() as client:  # the OCR job follows the ingest
        deadline = time.monotonic() + 120
        while client.get(f"/v1/images/{image_id}/text").json()["status"] != "read":
            assert time.monotonic() < deadline, "the OCR job did not read the photo"
            time.sleep(0.2)
    page.goto("/?city=Lisbon")
    page.wait_for_selector("#results li.card")
    assert [n.get_attribute("title") for n in page.locator("#results .name").all()] == [
        "phone/lisbon_sign.jpg"
    ]
    page.wait_for_selector("#facets button:has-text('Portugal (1)')")
    assert page.input_value("#f-city") == "Lisbon"
    page.goto(f"/images/{image_id}?q=lighthouse")
    page.wait_for_selector("#boxes .word-box")
    assert page.locator("#text-words .word.match").inner_text().lower() == "lighthouse"
    meta = page.inner_text(".meta")
    assert "Apple iPhone 13" in meta and "Lisbon, Portugal" in meta and "1/120 s · f/1.6 · ISO 50" in meta
    screenshot(page, "photo")
    page.click("#place a:has-text('Portugal')")
    page.wait_for_selector("#results li.card")
    assert page.input_value("#f-country") == "Portugal"


def test_draw_a_box_and_see_results_with_boxes(page: Any, site: Site) -> None:
    image_id = site.ids[f"scenes/{site.scenes[2].key}"]
    page.goto(f"/images/{image_id}")
    page.click("#draw-toggle")
    page.evaluate("document.getElementById('stage').scrollIntoView()")
    stage = page.locator("#stage").bounding_box()
    page.mouse.move(stage["x"] + stage["width"] * 0.2, stage["y"] + stage["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(stage["x"] + stage["width"] * 0.6, stage["y"] + stage["height"] * 0.7, steps=5)
    page.mouse.up()
    page.wait_for_selector("#region-results li.card .box")
    assert int(page.input_value("#rx1")) > int(page.input_value("#rx0"))
    assert page.locator("#region-results li.card").count() > 1
    screenshot(page, "region")


def test_resolve_a_duplicate_group_and_see_it_leave_the_list(page: Any, site: Site) -> None:
    page.goto("/duplicates")
    page.wait_for_selector("#compare li.cmp")
    before = page.locator("#group-list li").count()
    assert before >= 1
    assert "Suggested keeper" in page.inner_text("#compare")
    screenshot(page, "duplicates")
    group_ids = [g["id"] for g in page.request.get(f"{site.url}/v1/duplicates/groups").json()["groups"]]
    if before > 1:  # j and k move through the groups
        page.keyboard.press("j")
        page.wait_for_selector("#group-list li:nth-child(2) button[aria-current='true']")
        page.keyboard.press("k")
        page.wait_for_selector("#group-list li:nth-child(1) button[aria-current='true']")
    page.keyboard.press("r")  # keep the suggested keeper, hide the rest
    page.wait_for_function(f"() => document.querySelectorAll('#group-list li').length === {before - 1}")
    assert "1 decided" in page.inner_text("#progress-text")
    still_open = [g["id"] for g in page.request.get(f"{site.url}/v1/duplicates/groups").json()["groups"]]
    assert group_ids[0] not in still_open
    resolved = page.request.get(f"{site.url}/v1/duplicates/groups/{group_ids[0]}").json()
    assert resolved["status"] == "resolved"
    # Carrying decisions out starts with a dry run: a hidden group moves nothing.
    page.click("#apply-panel summary")
    page.click("#apply-preview")
    page.wait_for_selector("#apply-result:has-text('would move to the quarantine')")
    assert page.locator("#apply-run").is_hidden()
    page.reload()  # the decision stuck
    page.wait_for_selector("#progress-text")
    page.wait_for_function(f"() => document.querySelectorAll('#group-list li').length === {before - 1}")


def _synthetic_map(n: int) -> str:
    """A map of `n` points in 40 blobs, as GET /v1/curation/map answers (ids need not exist)."""
    rng = np.random.default_rng(5)
    centres = rng.uniform(0.1, 0.9, (40, 2))
    blob = rng.integers(0, 40, n)
    xy = np.clip(centres[blob] + rng.normal(0, 0.03, (n, 2)), 0, 1)
    return json.dumps(
        {
            "generation": 1,
            "method": "tsne",
            "count": n,
            "stale": False,
            "tags": ["beach", "dog", "city"],
            "ids": list(range(1, n + 1)),
            "x": np.round(xy[:, 0], 4).tolist(),
            "y": np.round(xy[:, 1], 4).tolist(),
            "cluster": (blob % 12).tolist(),
            "group": np.where(rng.random(n) < 0.02, blob, -1).tolist(),
            "tag": (blob % 4 - 1).tolist(),
            "buckets": ["/photos"],
            "bucket": [0] * n,
            "years": [2023, 2024],
            "year": (blob % 2).tolist(),
        }
    )


def _drag(page: Any, points: list[tuple[float, float]]) -> None:
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + box["width"] * points[0][0], box["y"] + box["height"] * points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y, steps=4)
    page.mouse.up()


LASSO = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8), (0.2, 0.21)]


def test_the_map_draws_100k_points_pans_zooms_and_lassos(page: Any, site: Site) -> None:
    body = _synthetic_map(100_000)  # the page's own code, fed a large map: no 100k-image library needed
    page.route(
        "**/v1/curation/map",
        lambda route: route.fulfill(status=200, content_type="application/json", body=body),
    )
    page.goto("/map")
    page.wait_for_function("() => document.getElementById('map').dataset.points === '100000'")
    page.wait_for_function("() => Number(document.getElementById('map').dataset.frames) >= 1")
    frames = int(page.get_attribute("#map", "data-frames"))
    _drag(page, [(0.5, 0.5), (0.6, 0.55), (0.7, 0.6)])  # pan
    page.mouse.wheel(0, -400)  # zoom in at the cursor
    page.wait_for_function(f"() => Number(document.getElementById('map').dataset.frames) > {frames + 1}")
    page.click("#reset")
    page.select_option("#colour", "tag")
    assert "beach" in page.inner_text("#legend")
    page.click("#mode-lasso")
    _drag(page, LASSO)
    page.wait_for_selector("#lasso-bar:not([hidden])")
    chosen = int(page.get_attribute("#map", "data-selected"))
    assert 0 < chosen < 100_000
    frame_ms = page.get_attribute(
        "#map", "data-frame-ms"
    )  # recorded in the screenshot's name, never asserted
    screenshot(page, "map-100k")
    print(f"map frame with 100k points: {frame_ms} ms")  # noqa: T201


def test_lasso_on_the_map_opens_the_region_as_a_result_page(page: Any, site: Site) -> None:
    with site.api() as client:
        made = client.post("/v1/curation/map", json={"method": "pca"})
        assert made.status_code == 200, made.text
        count = made.json()["count"]
    page.goto("/map")
    page.wait_for_function(f"() => document.getElementById('map').dataset.points === '{count}'")
    page.click("#mode-lasso")
    _drag(page, [(0.0, 0.0), (0.999, 0.0), (0.999, 0.999), (0.0, 0.999), (0.0, 0.01)])  # all of it
    page.wait_for_selector("#lasso-bar:not([hidden])")
    assert page.get_attribute("#map", "data-selected") == str(count)
    page.click("#lasso-open")
    page.wait_for_url(re.compile(r"selection=lasso-"))
    page.wait_for_selector("#results li.card")
    name = re.search(r"selection=([^&]+)", page.url).group(1)
    assert page.input_value("#f-selection") == name
    shown = page.locator("#results li.card").count()
    with site.api() as client:  # the moments of one video fold into one card
        ids = [
            item["id"]
            for item in client.get(f"/v1/selections/{name}", params={"limit": 200}).json()["images"]
        ]
        parents = {client.get(f"/v1/images/{i}").json().get("parent_id") or i for i in ids}
    assert len(ids) == count
    assert shown == min(len(parents), 48)
    # A split without leaks from the map page's panel, run as a job, then listed.
    page.goto("/map")
    page.click("#curate-panel summary")
    page.select_option("#cmd", "splits")
    page.click("#cmd-run")
    page.wait_for_selector("#cmd-status:has-text('linked pairs cross splits')")
    assert "0 linked pairs cross splits" in page.inner_text("#cmd-status")
    page.wait_for_selector("#selections a:has-text('split/train')")
    screenshot(page, "map-selections")


def test_start_an_ingest_and_see_progress_reach_done(page: Any, site: Site) -> None:
    page.goto("/ingest")
    page.fill("#path", str(site.root / "later"))
    page.click("#ingest-form button[type=submit]")
    page.wait_for_selector("#ingest-message:has-text('Ingest started')")
    row = page.locator("#jobs tbody tr", has_text=str(site.root / "later"))
    row.locator("td.st-done").wait_for(timeout=60_000)
    cells = row.locator("td").all_inner_texts()
    assert cells[2].strip() == "5 / 5"  # four pictures and the scenes.jsonl it skipped
    assert (cells[4], cells[5], cells[6]) == ("4", "0", "1")
    row.get_by_role("button", name="Show 1").click()
    page.wait_for_selector("#jobs .problems li:has-text('scenes.jsonl')")
    screenshot(page, "ingest")
    page.fill("#path", "/etc")
    page.click("#ingest-form button[type=submit]")
    page.wait_for_selector("#ingest-message:has-text('Not started')")


def test_play_a_video_from_the_moment_a_query_finds(page: Any, site: Site) -> None:
    page.goto("/?q=a+purple+cross&media=video")
    page.wait_for_selector("#results li.card .moment")
    first = page.locator("#results li.card").first
    assert first.locator(".name").get_attribute("title") == "videos/moment.webm"
    assert first.locator(".moments li").count() >= 1
    first.locator("a.pic").click()
    page.wait_for_selector("#player")
    start = float(page.get_attribute("#player", "data-start") or "nan")
    assert abs(start - 3.0) <= 1.0  # the cross shows from 3 s
    # The player fetched the video in parts (Range) and stands at the moment.
    page.wait_for_function(
        "() => { const v = document.querySelector('#player');"
        " return v.readyState >= 1 && v.currentTime > 0; }"
    )
    assert abs(page.evaluate("document.querySelector('#player').currentTime") - start) < 0.5
    assert page.locator("#segments li").count() == 2
    page.evaluate("document.querySelector('#player').play()")
    page.wait_for_function(f"() => document.querySelector('#player').currentTime > {start + 0.3}")
    screenshot(page, "video")
    video_id = page.get_attribute("#player", "src").split("/")[3]  # type: ignore[union-attr]
    part = page.request.get(f"/v1/images/{video_id}/file", headers={"Range": "bytes=0-99"})
    assert part.status == 206 and len(part.body()) == 100
    assert part.headers["content-range"].startswith("bytes 0-99/")


def test_sign_in_with_a_key_and_be_refused_without_one(browser: Any, site: Site) -> None:
    from pixseek.access.keys import create_key

    settings = Settings(data_dir=site.data_dir, database_url=None)
    with session_scope(settings) as session:
        _, key = create_key(session, "web-test", "ingest")
    context = browser.new_context(base_url=site.url)
    page = context.new_page()
    try:
        assert page.request.get(f"{site.url}/v1/jobs").status == 401
        page.goto("/duplicates")
        assert "/login?next=%2Fduplicates" in page.url
        page.fill("#key", "x" * 40)
        page.click("form[action='/login'] button")
        assert "unknown or revoked" in page.inner_text("#login-error")
        screenshot(page, "login")
        page.fill("#key", key)
        page.click("form[action='/login'] button")
        page.wait_for_url(re.compile(r"/duplicates$"))
        cookie = next(c for c in context.cookies() if c["name"] == "pixseek_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        page.wait_for_selector("#progress-text")
        # The pages' own calls pass with the cookie; a state change without the CSRF header does not.
        status = page.evaluate("async () => (await fetch('/v1/jobs')).status")
        assert status == 200
        refused = page.evaluate(
            """async () => (await fetch('/v1/duplicates/detect', {method: 'POST',
                headers: {'Content-Type': 'application/json'}, body: '{}'})).status"""
        )
        assert refused == 403
        page.click(".signout button")
        page.wait_for_url(re.compile(r"/login"))
        assert page.evaluate("async () => (await fetch('/v1/jobs')).status") == 401
    finally:
        context.close()
