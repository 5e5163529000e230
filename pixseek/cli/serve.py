"""`pixseek serve`: the HTTP API."""

from __future__ import annotations

import click

from pixseek.core.settings import get_settings


@click.command("serve")
@click.option("--host", default=None, help="Bind address (default PIXSEEK_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default PIXSEEK_PORT, 8000).")
def serve_command(host: str | None, port: int | None) -> None:
    """Serve the search API (OpenAPI docs at /docs)."""
    import uvicorn

    from pixseek.api.app import create_app

    settings = get_settings()
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port)
