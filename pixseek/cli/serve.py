"""`pixseek serve`: the HTTP API, open on loopback until a key exists, refused elsewhere without one."""

from __future__ import annotations

import click

from pixseek.access.exposure import check_exposure
from pixseek.access.keys import count_active_keys, keys_exist
from pixseek.cli.common import handle_errors
from pixseek.core.db import session_scope
from pixseek.core.settings import get_settings


@click.command("serve")
@click.option("--host", default=None, help="Bind address (default PIXSEEK_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default PIXSEEK_PORT, 8000).")
@click.option(
    "--proxy-headers/--no-proxy-headers",
    default=True,
    show_default=True,
    help="Take the client address and scheme from X-Forwarded-* headers of trusted proxies.",
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    help="Proxies trusted for those headers, comma-separated (default: FORWARDED_ALLOW_IPS, else 127.0.0.1).",
)
@handle_errors
def serve_command(
    host: str | None, port: int | None, proxy_headers: bool, forwarded_allow_ips: str | None
) -> None:
    """Serve the search API (OpenAPI docs at /docs) and the web UI (at /).

    With no API key the API is open, so it only listens on loopback; create a key with
    `pixseek keys create` to serve on other addresses.
    """
    import uvicorn

    from pixseek.api.app import create_app

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    app = create_app(settings)  # migrates (if on) and stores PIXSEEK_BOOTSTRAP_API_KEY first
    with session_scope(settings) as session:
        line = check_exposure(
            host, port, keys_exist=keys_exist(session), active_keys=count_active_keys(session)
        )
    click.echo(line, err=True)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"web UI on http://{shown}:{port}/", err=True)
    # SIGTERM (docker stop, Kubernetes): the listening socket closes at once, so new
    # connections are refused and a load balancer moves on; requests in flight get
    # `shutdown_grace_seconds` to finish, then their connections are closed.
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
    )
