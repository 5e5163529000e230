"""Saved searches: kept current by the next publish, with what is new since last viewed."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from pixseek.api.app import create_app
from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest
from tests.support.api import assert_error
from tests.support.cli import cli_json
from tests.support.images import write_images


def test_a_saved_search_follows_the_next_publish(settings: Settings, indexed: Path, tmp_path: Path) -> None:
    with TestClient(create_app(settings)) as client:
        query = {"parts": [{"text": "blocks"}], "filters": {"key_prefix": "img"}, "limit": 100}
        made = client.post("/v1/saved-searches", json={"name": "all blocks", "query": query})
        assert made.status_code == 201, made.text
        saved = made.json()
        assert (saved["matches"], saved["new_matches"]) == (6, 6)  # never viewed: all are new
        assert_error(client.post("/v1/saved-searches", json={"name": "all blocks", "query": query}), 409)

        view = client.get(f"/v1/saved-searches/{saved['id']}").json()
        assert len(view["results"]) == 6 and len(view["new"]) == 6
        assert client.get("/v1/saved-searches").json()[0]["new_matches"] == 0  # viewed

        write_images(indexed, 2, start=40)  # the next ingest publishes two more
        run_ingest(settings, str(indexed))
        listed = client.get("/v1/saved-searches").json()[0]
        assert (listed["matches"], listed["new_matches"]) == (8, 2)
        view = client.get(f"/v1/saved-searches/{saved['id']}", params={"mark_viewed": False}).json()
        assert sorted(view["new"]) == sorted(h["id"] for h in view["results"] if h["key"] >= "img040")
        assert client.delete(f"/v1/saved-searches/{saved['id']}").status_code == 204
        assert_error(client.get(f"/v1/saved-searches/{saved['id']}"), 404, "saved_search_not_found")


def test_the_saved_command_and_an_ingest_from_the_command_line(settings: Settings, indexed: Path) -> None:
    made = cli_json("saved", "add", "blocks", "blocks", "--limit", "100")
    assert made["matches"] == 6
    shown = cli_json("saved", "show", str(made["id"]))
    assert len(shown["results"]) == 6 and all(row["new"] for row in shown["results"])
    write_images(indexed, 1, start=60)
    cli_json("ingest", str(indexed))  # `pixseek ingest` runs the saved searches after it publishes
    (listed,) = cli_json("saved", "list")["saved_searches"]
    assert (listed["matches"], listed["new_matches"]) == (7, 1)
