"""The web UI's sign-in session: a signed, HttpOnly, SameSite=Strict cookie made from an API key.

The cookie holds the key's id, the key's stored hash (so revoking the key ends the session),
an expiry and a random nonce, signed with HMAC-SHA256 under the session secret
(`PIXSEEK_SESSION_SECRET`, or one generated once into `<data_dir>/session.secret`, mode
0600). The key itself never leaves the sign-in form.

CSRF: a cookie is sent by the browser whatever page asks, so a state-changing request
(POST, PUT, PATCH, DELETE) authenticated by the cookie must also carry the session's CSRF
token in the `X-CSRF-Token` header (the pages read it from a meta tag and their script always
sends it; another site can neither read it nor set a custom header without CORS, which
pixseek does not allow). Bearer-key requests need no token: browsers never add those.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from pixseek.core.settings import Settings

COOKIE = "pixseek_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class WebSession:
    key_id: int
    key_hash: str
    expires: float
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Makes and checks session cookies and their CSRF tokens."""

    def __init__(self, secret: bytes, hours: float) -> None:
        if len(secret) < 32:
            raise ValueError("the session secret must be at least 32 bytes")
        self._secret = secret
        self.max_age = int(hours * 3600)

    def _mac(self, purpose: str, payload: bytes) -> bytes:
        return hmac.new(self._secret, purpose.encode() + b"\0" + payload, hashlib.sha256).digest()

    def issue(self, key_id: int, key_hash: str, now: float | None = None) -> str:
        body = {
            "k": key_id,
            "h": key_hash,
            "e": (now or time.time()) + self.max_age,
            "n": secrets.token_urlsafe(16),
        }
        payload = json.dumps(body, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._mac('session', payload))}"

    def verify(self, cookie: str, now: float | None = None) -> WebSession | None:
        """The session a cookie holds, or None: forged, malformed or expired."""
        try:
            payload_text, mac_text = cookie.split(".", 1)
            payload = _unb64(payload_text)
            if not hmac.compare_digest(_unb64(mac_text), self._mac("session", payload)):
                return None
            body = json.loads(payload)
            found = WebSession(int(body["k"]), str(body["h"]), float(body["e"]), str(body["n"]))
        except (ValueError, KeyError, TypeError):
            return None
        return found if found.expires > (now or time.time()) else None

    def csrf_token(self, session: WebSession) -> str:
        return _b64(self._mac("csrf", session.nonce.encode()))

    def check_csrf(self, session: WebSession, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf_token(session))


def session_secret(settings: Settings) -> bytes:
    """PIXSEEK_SESSION_SECRET, or the secret kept in the data dir (made once, mode 0600)."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    path = settings.data_dir / "session.secret"
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return _read_secret(path)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    secret = path.read_text().strip().encode()
    if len(secret) < 32:
        raise ValueError(f"{path} holds no usable session secret: delete it to make a new one")
    return secret
