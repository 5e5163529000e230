"""What operators see: /metrics in Prometheus format, liveness and readiness apart."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pixseek.api.app import create_app
from pixseek.core.settings import Settings
from tests.support.api import assert_error

# Credentials that must never come back in a response body.
SECRET = "s3cret-pw"


def scrape(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of GET /metrics, by name and labels; the body must parse as Prometheus text."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_health_is_liveness_and_touches_no_dependency(settings: Settings) -> None:
    # A database and a broker that cannot be reached: the process is still alive.
    broken = settings.model_copy(
        update={
            "database_url": f"postgresql+psycopg://pixseek:{SECRET}@127.0.0.1:1/pixseek",
            "broker_url": f"redis://:{SECRET}@127.0.0.1:1/0",
            "auto_migrate": False,
        }
    )
    with TestClient(create_app(broken), raise_server_exceptions=False) as client:
        assert client.get("/v1/health").status_code == 200
        client.app.state.warmup.wait()  # type: ignore[attr-defined]
        response = client.get("/v1/ready")
    body = assert_error(response, 503, "not_ready")
    assert set(body["detail"]) == {"database", "broker"}  # type: ignore[arg-type]
    assert "unreachable" in body["detail"]["database"]  # type: ignore[index]
    assert SECRET not in response.text and "127.0.0.1" not in response.text


def test_ready_before_any_ingest_says_nothing_is_indexed(client: TestClient) -> None:
    response = client.get("/v1/ready")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["index"].startswith("empty: nothing ingested yet")
    assert checks["broker"].startswith("none configured")


def test_ready_after_ingest_has_the_index_loaded(client: TestClient, indexed: Path) -> None:
    response = client.get("/v1/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["index"] == "generation 1 loaded, 6 vectors"
    samples = scrape(client)
    assert value(samples, "pixseek_index_generation", state="loaded") == 1


def test_index_of_another_model_is_not_ready(settings: Settings, indexed: Path) -> None:
    other = settings.model_copy(update={"pretrained": "laion2b_s34b_b79k", "preload_model": False})
    with TestClient(create_app(other), raise_server_exceptions=False) as client:
        body = assert_error(client.get("/v1/ready"), 503, "not_ready")
    assert set(body["detail"]) == {"index"}  # type: ignore[arg-type]


def test_request_latency_is_labelled_by_route_template(client: TestClient) -> None:
    route = "/v1/images/{image_id}"
    before = scrape(client)
    assert client.get("/v1/images/123").status_code == 404
    assert client.get("/v1/images/456").status_code == 404
    assert client.get("/no/such/path/789").status_code == 404
    after = scrape(client)
    count = "pixseek_http_request_duration_seconds_count"
    assert (
        value(after, count, method="GET", route=route, status="404")
        - value(before, count, method="GET", route=route, status="404")
        == 2
    )
    assert (
        value(after, count, method="GET", route="unmatched", status="404")
        - value(before, count, method="GET", route="unmatched", status="404")
        == 1
    )
    text = client.get("/metrics").text
    assert "/v1/images/123" not in text and "/no/such/path" not in text


def test_searches_count_by_mode_and_the_text_cache_hits(client: TestClient, indexed: Path) -> None:
    count = "pixseek_search_duration_seconds_count"
    cache = "pixseek_text_cache_lookups_total"
    before = scrape(client)
    for _ in range(2):
        response = client.post("/v1/search/text", json={"text": "a red square on a lawn", "k": 3})
        assert response.status_code == 200, response.text
    response = client.post("/v1/search", json={"parts": [{"text": "img003"}], "mode": "keyword"})
    assert response.status_code == 200, response.text
    assert client.get("/v1/images/1/similar").status_code == 200
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(count, mode="semantic") == 2
    assert delta(count, mode="keyword") == 1
    assert delta(count, mode="similar") == 1
    # The second search of the same text finds its embedding in the cache.
    assert delta(cache, result="miss") >= 1
    assert delta(cache, result="hit") >= 1


def test_scrape_reports_catalog_jobs_and_index(client: TestClient, indexed: Path) -> None:
    samples = scrape(client)
    assert value(samples, "pixseek_images", status="indexed") == 6
    assert value(samples, "pixseek_index_vectors") == 6
    assert value(samples, "pixseek_index_bytes") > 0
    assert value(samples, "pixseek_index_generation", state="published") == 1
    assert ("pixseek_jobs", frozenset({("kind", "ingest"), ("status", "running")})) in samples
    assert value(samples, "pixseek_jobs", kind="ingest", status="running") == 0
    # Embedded mode: no broker, so no queue to measure.
    assert not any(name == "pixseek_queue_messages" for name, _ in samples)
