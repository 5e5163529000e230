"""Fixtures for the distributed tests: a fresh PostgreSQL database, a Redis broker, a cluster."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pixseek.core.db import dispose_engines, migrate
from pixseek.core.settings import Settings
from tests.distributed.services import (
    REDIS_URL,
    Cluster,
    cluster_env,
    create_database,
    drop_database,
    postgres_available,
    redis_available,
)
from tests.services_needed import service_missing


@pytest.fixture(scope="session")
def postgres() -> None:
    if not postgres_available():
        service_missing("PostgreSQL is not reachable on 127.0.0.1:5432")


@pytest.fixture(scope="session")
def broker_url() -> str:
    if not redis_available():
        service_missing("Redis is not reachable on 127.0.0.1:6379")
    # A Redis database of its own (others may use db 0); each cluster also has its own queue.
    return f"{REDIS_URL}/{random.randint(1, 15)}"


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
    # Leave nothing of this queue in the shared Redis, including the unacknowledged messages
    # of workers the test killed (kombu keeps them in one hash per database, with their queue).
    queue = env["PIXSEEK_QUEUE"]
    client = redis.Redis.from_url(broker_url)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    for tag, raw in client.hgetall("unacked").items():
        if json.loads(raw)[2] == queue:  # [message, exchange, routing key]
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
