"""Schema migrations (Alembic) on real SQLite files and a real PostgreSQL: the revisions build exactly the models,
an old database with data in it is upgraded and its new columns filled, a database from before migrations is
recognised, and replicas upgrading at once wait for each other."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlmodel import Session, SQLModel, select

from bot.errors import SchemaError
from bot.memory import schema
from bot.memory.models import Decision, Feedback, Message, PendingDelivery
from bot.memory.store import SqlMemoryStore, build_engine
from bot.types import ChatMessage, Identity
from tests.postgres import PostgresServer, free_port

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgresServer | None) -> Iterator[str]:
    """An empty database of its own: a SQLite file, or a new database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'switchboard.db'}"
        return
    if postgres is None:
        pytest.skip("PostgreSQL server binaries not installed (.ci/run installs them)")
    with pg_database(postgres) as pg_url:
        yield pg_url


@contextmanager
def pg_database(server: PostgresServer) -> Iterator[str]:
    name = f"mig_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield f"{server.url.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    eng = build_engine(url)
    yield eng
    eng.dispose()


def drift(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                     SQLModel.metadata))


def columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_head_is_the_newest_revision_and_the_chain_is_linear() -> None:
    assert schema.script_head() == schema.HEAD
    assert [rev for rev, _doc in schema.history()] == [f"{n:04d}" for n in range(1, int(schema.HEAD) + 1)]


def test_a_database_migrated_from_empty_is_exactly_the_models(engine: Engine) -> None:
    """The drift test: a change to bot/memory/models.py without a revision fails here."""
    assert schema.upgrade(engine) == [f"{n:04d}" for n in range(1, int(schema.HEAD) + 1)]
    differences = drift(engine)
    assert differences == [], (f"bot/memory/models.py and the migrations differ: {differences}; add a revision "
                               "(`switchboard db revision -m ...`, see bot/memory/migrations/versions/__init__.py)")
    assert schema.upgrade(engine) == []
    assert schema.recorded_revision(engine) == schema.HEAD


def _first_schema_rows(engine: Engine) -> None:
    """Two conversations (Slack, Teams) with a turn, an answer's decision and a vote each, as release one wrote them."""
    with engine.begin() as conn:
        for cid, platform, tenant in ((1, "slack", "T1"), (2, "teams", "aad-1")):
            conn.execute(text("INSERT INTO conversation (id, platform, tenant, channel, thread, \"user\", pii_seen, "
                              "created_at, updated_at) VALUES (:id, :p, :t, 'C1', :th, 'U1', false, :ts, :ts)"),
                         {"id": cid, "p": platform, "t": tenant, "th": f"th{cid}", "ts": T0})
            conn.execute(text("INSERT INTO message (id, conversation_id, role, \"user\", text, created_at) "
                              "VALUES (:id, :id, 'user', 'U1', :text, :ts)"),
                         {"id": cid, "text": f"{platform} question", "ts": T0})
            conn.execute(text("INSERT INTO decision (id, conversation_id, message_id, platform, channel, \"user\", "
                              "policy_version, sensitivity, entity_types, task, strategy, model, region, reason, "
                              "prompt_tokens, completion_tokens, cost_usd, latency_ms, outcome, fallback, cached, "
                              "escalated, created_at) VALUES (:id, :id, :id, :p, 'C1', 'U1', 1, 'public', '', "
                              "'general', 'task', 'mistral/x', 'eu', 'r', 3, 4, 0.01, 120, 'answered', false, false, "
                              "false, :ts)"), {"id": cid, "p": platform, "ts": T0})
            conn.execute(text("INSERT INTO feedback (id, decision_id, \"user\", score, created_at) "
                              "VALUES (:id, :id, 'U1', 1, :ts)"), {"id": cid, "ts": T0})
        conn.execute(text("INSERT INTO decision (id, platform, channel, \"user\", policy_version, sensitivity, "
                          "entity_types, task, strategy, model, region, reason, prompt_tokens, completion_tokens, "
                          "cost_usd, latency_ms, outcome, fallback, cached, escalated, created_at) VALUES (3, 'cli', "
                          "'cli', 'admin', 1, 'public', '', 'general', 'task', 'm', 'eu', '', 0, 0, 0, 0, 'offline', "
                          "false, false, false, :ts)"), {"ts": T0})  # a dry run: no conversation
        conn.execute(text("INSERT INTO policyversion (id, version, body, author, comment, created_at) "
                          "VALUES (1, 1, 'version: 1', 'seed', '', :ts)"), {"ts": T0})
        conn.execute(text("INSERT INTO auditentry (id, actor, platform, command, allowed, outcome, created_at) "
                          "VALUES (1, 'U9', 'slack', 'policy show', true, 'ok', :ts)"), {"ts": T0})
        conn.execute(text("INSERT INTO processedevent (event_key, created_at) VALUES ('slack:T1:Ev1', :ts)"),
                     {"ts": T0})
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them, as inserts would
            for table in ("conversation", "message", "decision", "feedback", "policyversion", "auditentry"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 10)"))


def _pending_rows(engine: Engine) -> None:
    """A pending delivery as release 0004 wrote it (no reference column yet)."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO pendingdelivery (message_id, platform, tenant, channel, thread, \"user\", "
                          "placeholder, state, owner, lease_until, created_at) VALUES (1, 'slack', 'T1', 'C1', 'th1', "
                          "'U1', '1700000000.000100', 'pending', 'r1', :ts, :ts)"), {"ts": T0})


def _check_upgraded_rows(engine: Engine) -> None:  # after _first_schema_rows and _pending_rows
    with Session(engine) as s:
        assert sorted((m.id, m.platform, m.tenant, m.user, m.text) for m in s.exec(select(Message)).all()) == [
            (1, "slack", "T1", "U1", "slack question"), (2, "teams", "aad-1", "U1", "teams question")]
        assert sorted((d.id, d.platform, d.tenant) for d in s.exec(select(Decision)).all()) == [
            (1, "slack", "T1"), (2, "teams", "aad-1"), (3, "cli", "")]  # no conversation: nothing to take
        assert sorted((f.id, f.platform, f.tenant) for f in s.exec(select(Feedback)).all()) == [
            (1, "slack", "T1"), (2, "teams", "aad-1")]
        [pending] = s.exec(select(PendingDelivery)).all()
        assert (pending.message_id, pending.placeholder, pending.reference) == (1, "1700000000.000100", "")


async def _check_the_store_works(engine: Engine) -> None:
    store = SqlMemoryStore(engine)
    assert await store.create_schema() == []
    assert [t.text for t in await store.history(1, limit=5)] == ["slack question"]
    # identities are qualified now: forgetting the Teams user leaves the Slack user with the same id alone
    assert await store.forget_user(Identity(platform="teams", tenant="aad-1", user="U1")) == 1
    assert [t.text for t in await store.history(1, limit=5)] == ["slack question"]
    turn = await store.add_user_turn(ChatMessage(platform="slack", tenant="T1", channel="C1", thread="th1", user="U1",
                                                 text="follow-up", event_id="Ev2"), event_key="slack:T1:Ev2")
    assert turn is not None and turn.conversation.id == 1
    assert await store.add_user_turn(ChatMessage(platform="slack", tenant="T1", channel="C1", thread="th1", user="U1",
                                                 text="again", event_id="Ev1"), event_key="slack:T1:Ev1") is None
    assert (await store.latest_policy()) is not None


async def test_the_first_schema_with_data_is_upgraded_to_head_and_its_new_columns_filled(engine: Engine) -> None:
    assert schema.upgrade(engine, target="0001") == ["0001"]
    assert "platform" not in columns(engine, "message") and not inspect(engine).has_table("budget")
    _first_schema_rows(engine)
    assert schema.upgrade(engine, target="0004") == ["0002", "0003", "0004"]
    _pending_rows(engine)
    assert schema.upgrade(engine) == ["0005", "0006", "0007", "0008", "0009"]
    _check_upgraded_rows(engine)
    with engine.connect() as conn:  # decisions from before 0006: no calls or action known
        assert set(conn.execute(text("SELECT attempts, privacy_action FROM decision")).all()) == {("", "")}
    assert drift(engine) == []
    await _check_the_store_works(engine)


@pytest.mark.parametrize(("revision", "without", "recognised"), [
    ("0001", (), "0001"),
    ("0003", (), "0003"),
    ("0004", (), "0004"),
    ("0005", (), "0005"),
    # the old steps ran in one transaction each: a start killed after adding message.platform and message.tenant
    ("0005", (("decision", "tenant"), ("feedback", "platform"), ("feedback", "tenant"),
              ("pendingdelivery", "reference")), "0002"),
])
async def test_a_database_from_before_migrations_is_recognised_recorded_and_upgraded(
        engine: Engine, revision: str, without: tuple[tuple[str, str], ...], recognised: str) -> None:
    # a release before migrations created its tables with `create_all` of its models: the same DDL as these
    # revisions (the drift test checks the newest; 0001 is the first release's models rendered by Alembic)
    schema.upgrade(engine, target="0001")
    _first_schema_rows(engine)
    schema.upgrade(engine, target=revision)
    if revision >= "0004":
        _pending_rows(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        for table, column in without:
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    assert schema.state(engine) == schema.SchemaState(None, recognised)
    assert schema.upgrade(engine) == [f"{n:04d}" for n in range(int(recognised) + 1, int(schema.HEAD) + 1)]
    assert schema.recorded_revision(engine) == schema.HEAD
    assert drift(engine) == []
    if revision < "0004":
        _pending_rows(engine)
    _check_upgraded_rows(engine)
    await _check_the_store_works(engine)


def test_a_database_of_unknown_tables_or_a_newer_release_is_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE message (id INTEGER PRIMARY KEY)"))
    with pytest.raises(SchemaError, match="no conversation table"):
        schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE message"))
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    with pytest.raises(SchemaError, match=r"revision 0999, which this Switchboard does not know"):
        schema.upgrade(engine)


def test_a_database_at_head_is_checked_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'head.db'}"
    engine = build_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    code = ("import sys; from bot.memory import schema; from bot.memory.store import build_engine; "
            f"assert schema.upgrade(build_engine({url!r})) == []; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('alembic', 'mako')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"


def _cli_db(url: str, *words: str) -> subprocess.Popen[str]:
    code = "import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, "db", *words], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "SWITCHBOARD_DATABASE_URL": url})


def _race(url: str, hold_lock: Callable[[], AbstractContextManager[None]], waiting: Callable[[], bool]) -> list[str]:
    """Two replicas upgrade while the test holds the migration lock, as a third one in the middle of its upgrade
    would; the lock is released once both wait for it."""
    with hold_lock():
        replicas = [_cli_db(url, "upgrade") for _ in range(2)]
        deadline = time.monotonic() + 60
        while not waiting() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert waiting()
        assert [r.poll() for r in replicas] == [None, None]
    outputs = []
    for replica in replicas:
        out, err = replica.communicate(timeout=90)
        assert replica.returncode == 0, err
        outputs.append(out.strip())
    return sorted(outputs)


RACE_OUTCOME = [f"already at {schema.HEAD} (head)",
                "upgraded: 0001 -> 0002 -> 0003 -> 0004 -> 0005 -> 0006 -> 0007 -> 0008 -> 0009"]


def test_two_replicas_upgrading_one_postgresql_at_once_wait_for_each_other(postgres: PostgresServer | None) -> None:
    if postgres is None:
        pytest.skip("PostgreSQL server binaries not installed (.ci/run installs them)")
    with pg_database(postgres) as url:
        locker = create_engine(url)

        @contextmanager
        def hold() -> Iterator[None]:
            with locker.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": schema.LOCK_KEY})
                conn.commit()
                yield
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": schema.LOCK_KEY})
                conn.commit()

        assert _race(url, hold, lambda: _advisory_waiters(locker) == 2) == RACE_OUTCOME
        locker.dispose()
        engine = build_engine(url)
        assert schema.recorded_revision(engine) == schema.HEAD and drift(engine) == []
        engine.dispose()


def test_two_replicas_upgrading_one_sqlite_file_at_once_wait_for_each_other(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    creator = build_engine(f"sqlite:///{path}")
    creator.connect().close()  # a WAL database, as Switchboard creates it
    creator.dispose()
    started = time.monotonic()

    @contextmanager
    def hold() -> Iterator[None]:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        yield
        conn.execute("COMMIT")
        conn.close()

    def waiting() -> bool:  # SQLite shows no waiters: give both time to start (they import in ~1 s)
        return time.monotonic() - started > 5

    assert _race(f"sqlite:///{path}", hold, waiting) == RACE_OUTCOME
    engine = build_engine(f"sqlite:///{path}")
    assert schema.recorded_revision(engine) == schema.HEAD and drift(engine) == []
    engine.dispose()


def test_db_current_and_history_say_where_the_database_stands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*words: str) -> str:
        proc = _cli_db(url, *words)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        return out

    assert run("current").startswith("empty: no Switchboard tables yet")
    history = run("history").splitlines()
    assert history[0].startswith("0001  The first release's schema.") and history[-1].endswith("(head)")
    assert run("upgrade").strip() == "upgraded: 0001 -> 0002 -> 0003 -> 0004 -> 0005 -> 0006 -> 0007 -> 0008 -> 0009"
    assert run("current").strip() == f"{schema.HEAD} (head)"


def test_the_drift_test_sees_a_column_without_a_revision(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'drifted.db'}")
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE pendingdelivery DROP COLUMN reference"))
    [(op, table, column)] = [(d[0], d[2], d[3].name) for d in drift(engine)]
    assert (op, table, column) == ("add_column", "pendingdelivery", "reference")
    engine.dispose()


def test_db_revision_writes_what_the_models_have_and_the_revisions_lack(tmp_path: Path) -> None:
    """Without its revisions from 0005 on, the migrations lack pendingdelivery.reference: a new revision adds it."""
    migrations = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    for later in (migrations / "versions").glob("0*.py"):
        if later.name >= "0005":
            later.unlink()
    written = schema.new_revision("pending delivery reference again", migrations=migrations)
    assert written == migrations / "versions" / "0005_pending_delivery_reference_again.py"
    body = written.read_text(encoding="utf-8")
    assert "down_revision = '0004'" in body
    # batch operations: they work on SQLite (which rebuilds the table to drop or alter a column) and PostgreSQL
    assert "with op.batch_alter_table('pendingdelivery', schema=None) as batch_op:" in body
    assert "batch_op.add_column(sa.Column('reference', sa.Text(), nullable=False))" in body
    assert "sqlmodel" not in body  # plain SQLAlchemy types


def test_a_command_that_opens_a_database_from_before_migrations_upgrades_it_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = build_engine(url)
    schema.upgrade(engine, target="0001")
    _first_schema_rows(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    code = "import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "audit"], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "SWITCHBOARD_DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    assert "policy show" in done.stdout  # release one's audit entry, read through today's store
    assert "database schema upgraded: 0002 -> 0003 -> 0004 -> 0005 -> 0006 -> 0007 -> 0008 -> 0009" in done.stderr
    assert schema.recorded_revision(engine) == schema.HEAD
    engine.dispose()


def test_db_upgrade_on_a_database_that_does_not_answer_says_so() -> None:
    proc = _cli_db("postgresql+psycopg2://postgres@127.0.0.1:1/switchboard", "upgrade")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert err.startswith("switchboard: the database postgresql+psycopg2://postgres@127.0.0.1:1/switchboard does not "
                          "answer"), err


@pytest.mark.timeout(300)
def test_two_serve_replicas_starting_together_on_a_new_postgresql_upgrade_it_once(
        postgres: PostgresServer | None, tmp_path: Path) -> None:
    """`serve` upgrades before it listens: both replicas wait for the lock, then one creates the schema and the
    other finds it done; both then answer /healthz."""
    if postgres is None:
        pytest.skip("PostgreSQL server binaries not installed (.ci/run installs them)")
    with pg_database(postgres) as url:
        locker = create_engine(url)
        ports = [free_port(), free_port()]
        logs = [tmp_path / f"serve{i}.log" for i in range(2)]
        env = {**{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_BASE"))},
               "PYTHONPATH": str(ROOT), "SWITCHBOARD_DATABASE_URL": url, "SWITCHBOARD_DATA_DIR": str(tmp_path),
               "SWITCHBOARD_LOG_LEVEL": "INFO", "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        code = "import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))"
        replicas: list[subprocess.Popen[bytes]] = []
        try:
            with locker.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": schema.LOCK_KEY})
                conn.commit()
                for port, log in zip(ports, logs, strict=True):
                    with log.open("wb") as out:
                        replicas.append(subprocess.Popen(
                            [sys.executable, "-c", code, "serve", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
                _wait(lambda: _advisory_waiters(locker) == 2, within_s=120, what="both replicas waiting")
                assert not any(_healthy(port) for port in ports)  # no listening before the schema is there
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": schema.LOCK_KEY})
                conn.commit()
            _wait(lambda: all(_healthy(port) for port in ports), within_s=180, what="both replicas alive",
                  logs=logs)
            texts = [log.read_text(encoding="utf-8", errors="replace") for log in logs]
            assert sum("database schema created: 0001 -> 0002 -> 0003 -> 0004 -> 0005" in t for t in texts) == 1
        finally:
            for replica in replicas:
                replica.kill()
                replica.wait(timeout=30)
            locker.dispose()
        engine = build_engine(url)
        assert schema.recorded_revision(engine) == schema.HEAD and drift(engine) == []
        engine.dispose()



def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _advisory_waiters(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                     "AND database = (SELECT oid FROM pg_database WHERE datname = "
                                     "current_database())")).scalar() or 0)


def _wait(condition: Callable[[], bool], *, within_s: float, what: str, logs: list[Path] | None = None) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(log.read_text(encoding="utf-8", errors="replace")[-2000:] for log in logs or [])
            pytest.fail(f"{what}: not within {within_s:.0f} s\n{tails}")
        time.sleep(0.1)
