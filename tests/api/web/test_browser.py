"""The web UI in a real headless Chromium against a live server: search, an example image,
the heatmap, a region, a duplicate decision, an ingest, and sign-in (last: it turns keys on)."""

from __future__ import annotations

import base64
import re
import time
from typing import Any

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
    page.reload()  # the decision stuck
    page.wait_for_selector("#progress-text")
    page.wait_for_function(f"() => document.querySelectorAll('#group-list li').length === {before - 1}")


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
