"""Shared fixtures: real NLP components loaded once, a fake OpenAI-compatible server per test,
and services built by the production factory on an in-memory SQLite database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, create_engine, text
from sqlmodel import SQLModel

from bot.memory.store import SqlMemoryStore, build_memory_store
from bot.services import Services, build_services
from bot.settings import Settings
from privacy.engine import PrivacyEngine, build_privacy_engine
from routing.classifier import TaskClassifier, build_task_classifier
from tests.fakes.openai_server import FakeOpenAI
from tests.postgres import PostgresServer, running_postgres
from tests.redis_server import RedisServer, running_redis

FAKE_KEYS = {"FAKE_EU_KEY": "sk-eu-test", "FAKE_US_KEY": "sk-us-test"}
ALL_TASKS = ["creative", "code", "analysis", "translation", "summarization", "general"]


@pytest.fixture(scope="session")
def privacy_engine() -> PrivacyEngine:
    engine = build_privacy_engine(timeout_s=5.0)
    engine.warm_up()
    return engine


@pytest.fixture(scope="session")
def classifier() -> TaskClassifier:
    clf = build_task_classifier()
    clf.warm_up()
    return clf


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.close()


def fake_policy(base_url: str, **rule_overrides: Any) -> dict[str, Any]:
    """Two EU and two US models, all served by the fake server."""

    def model(name: str, region: str, tier: str, key: str) -> dict[str, Any]:
        return {"id": f"openai/{name}", "region": region, "tier": tier, "tasks": ALL_TASKS, "env": [key],
                "api_key_env": key, "api_base": base_url, "input_price": 0.5, "output_price": 1.5}

    models = [model("us-small", "us", "cheap", "FAKE_US_KEY"), model("us-premium", "us", "premium", "FAKE_US_KEY"),
              model("eu-small", "eu", "cheap", "FAKE_EU_KEY"), model("eu-large", "eu", "mid", "FAKE_EU_KEY")]
    order = ["openai/us-small", "openai/us-premium", "openai/eu-small", "openai/eu-large"]
    rules = {task: {"strategy": "task", "candidates": order} for task in ALL_TASKS}
    rules.update(rule_overrides)
    return {"version": 1, "models": models, "rules": rules,
            "system_prompt": "You are a helpful assistant for the staff of a company."}


ServicesFactory = Callable[..., Awaitable[Services]]


@pytest.fixture
def make_services(tmp_path: Path, privacy_engine: PrivacyEngine, classifier: TaskClassifier,
                  fake_llm: FakeOpenAI) -> ServicesFactory:
    async def make(*, environ: dict[str, str] | None = None, policy: dict[str, Any] | None = None,
                   warm: bool = True, **settings: Any) -> Services:
        policy_file = tmp_path / "policy.yaml"
        policy_file.write_text(yaml.safe_dump(policy or fake_policy(fake_llm.base_url)), encoding="utf-8")
        values: dict[str, Any] = {"SWITCHBOARD_DATABASE_URL": "sqlite://", "SWITCHBOARD_POLICY_FILE": policy_file,
                                  "SWITCHBOARD_RETRY_BASE_S": 0.01}
        values.update(settings)
        services = await build_services(Settings(_env_file=None, **values),
                                        environ=FAKE_KEYS if environ is None else environ,
                                        privacy=privacy_engine, classifier=classifier)
        if warm:
            await services.warm_up()  # what serve does before /readyz says ready
        return services

    return make


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | None]:
    """One throw-away PostgreSQL server for the session (None without the server binaries)."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def pg(postgres: PostgresServer | None) -> Iterator[PostgresServer]:
    """The session's PostgreSQL for one test that may stop it: running and emptied afterwards."""
    if postgres is None:
        pytest.skip("PostgreSQL server binaries not installed (.ci/run installs them)")
    yield postgres
    if not postgres.running():
        postgres.start()
    engine = create_engine(postgres.url)
    empty_postgres(engine)
    engine.dispose()


def empty_postgres(engine: Engine) -> None:
    """Every Switchboard table emptied: the session's PostgreSQL is shared by the tests."""
    with engine.begin() as conn:
        tables = ", ".join(f'"{name}"' for name in SQLModel.metadata.tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@contextlib.asynccontextmanager
async def replica_stores(kind: str, tmp_path: Path, postgres: PostgresServer | None,
                         count: int = 2) -> AsyncIterator[list[SqlMemoryStore]]:
    """`count` memory stores on one database (`sqlite` file or `postgresql`), an engine each: replicas."""
    if kind == "postgresql" and postgres is None:
        pytest.skip("PostgreSQL server binaries not installed (.ci/run installs them)")
    url = postgres.url if kind == "postgresql" and postgres else f"sqlite:///{tmp_path / 'shared.db'}"
    stores = [build_memory_store(url) for _ in range(count)]
    for store in stores:
        await store.create_schema()
    try:
        yield stores
    finally:
        if kind == "postgresql":
            empty_postgres(stores[0].engine)
        for store in stores:
            store.engine.dispose()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | None]:
    """One throw-away Redis server for the session (None without Debian's redis-server)."""
    with running_redis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer | None) -> Iterator[str]:
    """The session's Redis for one test, emptied afterwards."""
    if redis_server is None:
        pytest.skip("redis-server not installed (.ci/run installs it)")
    yield redis_server.url
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, postgres: PostgresServer | None) -> AsyncIterator[SqlMemoryStore]:
    """A fresh memory store on SQLite, and on PostgreSQL when its server binaries are installed."""
    if request.param == "sqlite":
        url = "sqlite://"
    elif postgres is None:
        pytest.skip("PostgreSQL server binaries not installed (.ci/run installs them)")
    else:
        url = postgres.url
    memory = build_memory_store(url)
    await memory.create_schema()
    yield memory
    if request.param == "postgresql":
        empty_postgres(memory.engine)
    memory.engine.dispose()
