"""Which bind addresses count as loopback, where the API may run open."""

from __future__ import annotations

import pytest

from pixseek.access.exposure import check_exposure, is_loopback
from pixseek.core.errors import ConfigError


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "10.0.0.1", "192.168.0.2", "example.org", "localhost.evil.org"]
)
def test_other_addresses(host: str) -> None:
    assert not is_loopback(host)


def test_open_only_on_loopback_before_the_first_key() -> None:
    assert "OPEN" in check_exposure("127.0.0.1", 8000, keys_exist=False, active_keys=0)
    assert "OPEN" not in check_exposure("127.0.0.1", 8000, keys_exist=True, active_keys=0)
    assert "1 active" in check_exposure("0.0.0.0", 8000, keys_exist=True, active_keys=1)
    with pytest.raises(ConfigError, match="pixseek keys create"):
        check_exposure("0.0.0.0", 8000, keys_exist=False, active_keys=0)
