"""The fixtures every folder of tests shares: settings, buckets, API clients, databases, clusters.

A folder's own `conftest.py` holds only what its tests alone use; helpers that are not
fixtures live in `tests/support/`.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import torch
from fastapi.testclient import TestClient

from pixseek.api.app import create_app
from pixseek.core.db import dispose_engines, migrate
from pixseek.core.settings import Settings
from pixseek.ingest.run import run_ingest
from tests.support.cluster import Cluster, cluster_env
from tests.support.images import write_images
from tests.support.live_server import LiveServer, live_server
from tests.support.services import (
    create_database,
    drop_database,
    postgres_available,
    postgres_database,
    redis_available,
    redis_url,
    service_missing,
)
from tests.support.settings import configured

# Settings built anywhere in the suite's processes (benchmarks' smoke runs included) embed
# on torch, and so do the commands they start, unless they ask for a runtime themselves.
os.environ["PIXSEEK_RUNTIME"] = "torch"

# One thread: the tiny model's batches are too small to gain from more, and the suite runs
# one worker per core, so extra OpenMP threads would only spin against the other worker.
torch.set_num_threads(1)

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.services)]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `gpu` tests without CUDA; keep each file on one xdist worker, slow files first.

    The suite runs with `--dist loadgroup` (pyproject.toml): a file's tests share module and
    session fixtures (a library ingested once, a server started once), so a file is one unit
    of work unless its tests name a group of their own (the benchmark smoke groups). Units are
    handed out in order, so the files with a `slow` test go first and the short ones fill in
    around them at the end, instead of one long file starting last.
    """
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
    slow_groups = set()
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
        if item.get_closest_marker("slow") is not None:
            slow_groups.add(_group_of(item))
    items.sort(key=lambda item: _group_of(item) not in slow_groups)  # stable: files stay in order


def _group_of(item: pytest.Item) -> str:
    marker = item.get_closest_marker("xdist_group")
    return str(marker.args[0]) if marker is not None and marker.args else ""


# --- settings and buckets -------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings for one test: its own data dir and SQLite file, the tiny model.

    The same values are put in the environment, so code that reads `get_settings()`
    (the CLI, Celery tasks) sees them too.
    """
    with configured(monkeypatch, data_dir, None) as current:
        yield current


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    """A folder with six distinct PNG images."""
    folder = tmp_path / "bucket"
    write_images(folder, 6)
    return folder


@pytest.fixture
def indexed(settings: Settings, bucket: Path) -> Path:
    """The `bucket` fixture ingested; returns its folder."""
    run_ingest(settings, str(bucket))
    return bucket


# --- the HTTP API ----------------------------------------------------------------------


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    # raise_server_exceptions=False: a 500 must show up as a response the tests can reject.
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        test_client.app.state.warmup.wait()  # type: ignore[attr-defined]  # readiness: loaded, not loading
        yield test_client


# --- SQLite and PostgreSQL ---------------------------------------------------------------


@pytest.fixture
def pg_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Like `settings`, with the catalog in a fresh PostgreSQL database."""
    with postgres_database() as url, configured(monkeypatch, settings.data_dir, url) as current:
        yield current


@pytest.fixture(params=BACKENDS)
def backend_settings(request: pytest.FixtureRequest) -> Settings:
    """`settings` on SQLite, then on PostgreSQL."""
    name = "settings" if request.param == "sqlite" else "pg_settings"
    value: Settings = request.getfixturevalue(name)
    return value


@pytest.fixture(scope="module", params=BACKENDS)
def module_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """Settings shared by one module's tests (catalogs costly to build), on each backend."""
    data_dir = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as monkeypatch:
        if request.param == "sqlite":
            with configured(monkeypatch, data_dir, None) as current:
                yield current
        else:
            with postgres_database() as url, configured(monkeypatch, data_dir, url) as current:
                yield current


# --- a cluster: PostgreSQL, Redis and worker processes -------------------------------------


@pytest.fixture(scope="session")
def postgres() -> None:
    if not postgres_available():
        service_missing("PostgreSQL is not reachable on 127.0.0.1:5432")


@pytest.fixture(scope="session")
def broker_url() -> str:
    """This worker's Redis database; each cluster also has a queue of its own."""
    if not redis_available():
        service_missing("Redis is not reachable on 127.0.0.1:6379")
    return redis_url()


@pytest.fixture
def pg_url(postgres: None) -> Iterator[str]:
    url = create_database()
    yield url
    dispose_engines()
    drop_database(url)


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str, broker_url: str) -> Iterator[Cluster]:
    """A migrated database, a data dir and a queue of their own; workers are started by the test."""
    env = cluster_env(tmp_path / "cluster-data", pg_url, broker_url, f"pixseek-test-{uuid.uuid4().hex[:10]}")
    settings = Settings(
        **{k[len("PIXSEEK_") :].lower(): v for k, v in env.items() if k.startswith("PIXSEEK_")}  # type: ignore[arg-type]
    )
    migrate(settings)
    logs = tmp_path / "logs"
    logs.mkdir()
    cluster = Cluster(env=env, settings=settings, logs=logs)
    yield cluster
    cluster.stop()
    # Leave nothing of this queue in Redis, including the unacknowledged messages of workers
    # the test killed (kombu keeps them in one hash per database, with their queue).
    queue = env["PIXSEEK_QUEUE"]
    client = redis.Redis.from_url(broker_url)
    queues = {queue, env.get("PIXSEEK_ENRICH_QUEUE", queue)}
    for name in queues:
        client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
    for tag, raw in client.hgetall("unacked").items():
        if json.loads(raw)[2] in queues:  # [message, exchange, routing key]
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


# --- a live server ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`pixseek serve` with an admin key over an ingested bucket, once per worker: the files
    that use it share the xdist group `live-server` (the contract fuzzer, the client)."""
    with live_server(tmp_path_factory.mktemp("live")) as server:
        yield server
