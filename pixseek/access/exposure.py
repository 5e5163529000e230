"""Whether `pixseek serve` may listen where it was asked: open only on loopback."""

from __future__ import annotations

import ipaddress

from pixseek.core.errors import ConfigError

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """True for addresses only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name that may resolve anywhere


def check_exposure(host: str, port: int, *, keys_exist: bool, active_keys: int) -> str:
    """The start-up line for serving on `host`; ConfigError where that would be unsafe.

    On loopback with no key the API is open. Anywhere else it needs an active key.
    """
    where = f"http://{host}:{port}"
    if is_loopback(host):
        if not keys_exist:
            return (
                f"pixseek API on {where}: OPEN, no API key exists, so anyone who can reach {host} may "
                "call every route; `pixseek keys create` turns keys on"
            )
        return f"pixseek API on {where}: API keys required ({active_keys} active)"
    if active_keys == 0:
        raise ConfigError(
            f"refusing to serve on {host} without an API key: anyone who can reach it could search, "
            "ingest and read the catalog. Create one with `pixseek keys create --name NAME --scope admin` "
            "(docker-compose: set PIXSEEK_BOOTSTRAP_API_KEY, e.g. to `openssl rand -hex 32`), "
            "or serve on 127.0.0.1"
        )
    return f"pixseek API on {where}: API keys required ({active_keys} active)"
