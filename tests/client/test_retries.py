"""Retries on 429 and 503 after Retry-After; error answers as exceptions with the server's code."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from pixseek.client import AsyncClient, Client, NotFound, RateLimited


def _flaky(statuses: list[int], seen: list[httpx.Request]) -> httpx.MockTransport:
    """Answers the given statuses in turn (errors with Retry-After: 0), then a health body."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = statuses.pop(0) if statuses else 200
        if status == 200:
            return httpx.Response(200, json={"status": "ok", "random_weights": True})
        body = {"error": "rate_limited" if status == 429 else "database_unavailable", "detail": "later"}
        return httpx.Response(status, json=body, headers={"Retry-After": "0"})

    return httpx.MockTransport(handler)


def test_429_and_503_are_retried_after_retry_after() -> None:
    seen: list[httpx.Request] = []
    with Client("http://px", api_key="k", transport=_flaky([429, 503], seen)) as client:
        assert client.health()["status"] == "ok"
    assert len(seen) == 3
    assert seen[0].headers["Authorization"] == "Bearer k"


def test_retries_give_up_with_the_servers_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXSEEK_API_KEY", "from-env")
    seen: list[httpx.Request] = []
    client = Client("http://px", retries=1, transport=_flaky([429, 429, 429], seen))
    with client, pytest.raises(RateLimited) as caught:
        client.health()
    assert caught.value.status == 429 and caught.value.code == "rate_limited"
    assert len(seen) == 2 and seen[0].headers["Authorization"] == "Bearer from-env"


def test_async_client_retries_and_raises_typed_errors() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(
                503, json={"error": "database_unavailable", "detail": "x"}, headers={"Retry-After": "0"}
            )
        return httpx.Response(
            404, json={"error": "image_not_found", "detail": "image 9 is not in the catalog"}
        )

    async def run() -> None:
        async with AsyncClient("http://px", transport=httpx.MockTransport(handler)) as client:
            with pytest.raises(NotFound) as caught:
                await client.image(9)
        assert caught.value.code == "image_not_found"

    asyncio.run(run())
    assert len(seen) == 2
