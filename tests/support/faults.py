"""Servers a fault test may break: a Redis and a PostgreSQL cluster of its own, on free ports,
and a size-limited filesystem. Never the shared servers of the other tests.

Where the machine cannot give one (no `redis-server`, no PostgreSQL binaries, no right to
mount), the test skips with the reason, or fails under `CI=true` like a missing service.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import redis

from tests.support.services import service_missing

PG_BIN = Path(os.environ.get("PIXSEEK_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
# Only a hang guard for servers starting on a loaded machine.
START_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: object, what: str, timeout: float = START_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


class OwnRedis:
    """`redis-server` on a free port, without persistence (as `.ci/run` starts the shared one)."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            service_missing("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        no_persistence = ["--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", *no_persistence],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(lambda: redis.Redis(port=self.port, socket_connect_timeout=1).ping(), "redis-server to start")

    def kill(self) -> None:
        """Gone at once, like a crashed server: every queued and unacknowledged message with it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def restart_empty(self) -> None:
        self.kill()
        self.start()


class OwnPostgres:
    """A PostgreSQL cluster in a temp folder, on a free port, trust auth; stopped and started at will.

    initdb refuses to run as root, so as root the cluster belongs to the `postgres` user.
    """

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            service_missing(f"PostgreSQL binaries not found in {PG_BIN} (PIXSEEK_TEST_PG_BIN)")
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pixseek-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.socket_dir.mkdir()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        self._run(PG_BIN / "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: object) -> None:
        done = subprocess.run([*self._as, *map(str, args)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{args[0]} failed: {done.stderr[-2000:]}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-o", options, "-l", self.root / "log", "-w", "start")

    def stop(self) -> None:
        """`pg_ctl stop -m fast`: every connection is cut, new ones are refused."""
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        with contextlib.suppress(AssertionError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@contextlib.contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@contextlib.contextmanager
def small_filesystem(path: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of `size` mounted on `path` (made if missing), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        reason = done.stderr.strip()
        service_missing(f"cannot mount a tmpfs here (needs root in a sandbox that allows it): {reason}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(folder: Path, name: str = ".filler") -> Path:
    """Fill the filesystem of `folder` to the last byte; returns the file to delete to free it."""
    filler = folder / name
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        size = 1 << 20
        while size >= 1:  # big writes first, then smaller ones: not one byte is left
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(fd)
    return filler
