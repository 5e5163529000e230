"""Request bodies are counted as they stream: a chunked body cannot walk around the limits."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from pixseek.api.app import create_app
from pixseek.core.settings import Settings
from tests.support.api import assert_error


def _chunks(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


def test_chunked_json_body_over_the_limit_is_413(settings: Settings) -> None:
    small = settings.model_copy(update={"max_json_bytes": 4096})
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        # A generator body goes out with Transfer-Encoding: chunked and no Content-Length.
        body = iter([b'{"text": "a dog", "padding": "', *_chunks(64 * 1024), b'"}'])
        response = client.post("/v1/search/text", content=body, headers={"content-type": "application/json"})
        assert "content-length" not in {k.lower() for k in response.request.headers}
        assert_error(response, 413, "payload_too_large")


def test_json_body_with_a_large_content_length_is_refused_before_reading(settings: Settings) -> None:
    small = settings.model_copy(update={"max_json_bytes": 4096})
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        response = client.post("/v1/search/text", json={"text": "x" * 10_000})
        assert_error(response, 413, "payload_too_large")


def test_chunked_multipart_upload_over_the_limit_is_413(settings: Settings) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 1000})
    boundary = "pixseekboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    body = iter([head, *_chunks(512 * 1024), f"\r\n--{boundary}--\r\n".encode()])
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        response = client.post(
            "/v1/search/image",
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert_error(response, 413, "payload_too_large")


def test_a_small_chunked_json_body_is_read(settings: Settings) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        body = iter([b'{"text": ', b'"a dog"}'])
        response = client.post("/v1/search/text", content=body, headers={"content-type": "application/json"})
        # Read in full and answered on its merits: nothing is indexed yet.
        assert_error(response, 409, "index_not_ready")
