"""Schema migrations: brings a database to the schema of `bot.memory.models` with Alembic (`migrations/`).

A start that finds the database at `HEAD` costs one query and no Alembic import (admin commands stay fast).
Otherwise the upgrade runs under a lock, so replicas starting together do not race: PostgreSQL's transaction-level
advisory lock on a fixed key, SQLite's exclusive transaction; every revision then runs inside that one
transaction (both have transactional DDL), so an upgrade lands whole or not at all, and whoever waited finds
the database at head. A database created by a release before migrations has no `alembic_version`: the revision
its tables and columns match is recorded first (`legacy_revision`), then the rest is applied.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Inspector, inspect, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from bot.errors import SchemaError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# the newest revision, from the file names (NNNN_slug.py, numbered in order: a test checks that the chain of
# revisions agrees), so that checking a database needs no Alembic import
HEAD = max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
LOCK_KEY = 0x53574442  # PostgreSQL advisory lock key of schema upgrades ("SWDB")
TABLES = frozenset({"conversation", "message", "decision", "feedback", "processedevent", "policyversion",
                    "auditentry", "budget", "pendingdelivery"})  # the tables of releases before migrations


def _columns(insp: Inspector, table: str) -> set[str]:
    return {c["name"] for c in insp.get_columns(table)}


# What each revision brought, as a release before migrations left it: such a database matches the last
# revision of the longest run of these that hold (revisions up to 0005 skip what they find already there)
_MARKERS: tuple[tuple[str, Any], ...] = (
    ("0001", lambda insp, tables: "conversation" in tables),
    ("0002", lambda insp, tables: "budget" in tables),
    ("0003", lambda insp, tables: {"platform", "tenant"} <= _columns(insp, "message")
     and "tenant" in _columns(insp, "decision") and {"platform", "tenant"} <= _columns(insp, "feedback")),
    ("0004", lambda insp, tables: "pendingdelivery" in tables),
    ("0005", lambda insp, tables: "reference" in _columns(insp, "pendingdelivery")),
)


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a database stands: its recorded revision, or for an unstamped one the revision it matches."""

    revision: str | None  # alembic_version's, None when not recorded
    legacy: str | None = None  # unstamped: the revision its tables match (None: no Switchboard tables)

    def describe(self) -> str:
        if self.revision is not None:
            return f"{self.revision} (head)" if self.revision == HEAD else \
                f"{self.revision} (head is {HEAD}: run `switchboard db upgrade`)"
        if self.legacy is None:
            return "empty: no Switchboard tables yet (`switchboard db upgrade` creates them)"
        return f"not recorded: created before migrations, matches {self.legacy} (`switchboard db upgrade` records it)"


def recorded_revision(engine: Engine) -> str | None:
    """The revision in `alembic_version`, or None when there is none (one query)."""
    with engine.connect() as conn:
        return _recorded(conn)


def _recorded(conn: Connection) -> str | None:
    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):  # no such table (an unreachable server fails again later)
        conn.rollback()
        return None


def state(engine: Engine) -> SchemaState:
    with engine.connect() as conn:
        revision = _recorded(conn)
        return SchemaState(revision, None if revision is not None else legacy_revision(conn))


def legacy_revision(conn: Connection) -> str | None:
    """The revision an unstamped database matches; None for one without Switchboard tables."""
    insp = inspect(conn)
    tables = set(insp.get_table_names())
    found = None
    for revision, holds in _MARKERS:
        if not holds(insp, tables):
            break
        found = revision
    if found is None and tables & TABLES:
        raise SchemaError(f"the database has Switchboard tables ({', '.join(sorted(tables & TABLES))}) but no "
                          "conversation table and no alembic_version: it is not a schema any release created; "
                          "point SWITCHBOARD_DATABASE_URL at the right database")
    return found


def upgrade(engine: Engine, *, target: str = HEAD) -> list[str]:
    """Bring the database to `target` (the newest revision unless a test wants an older schema); returns the
    revisions applied, oldest first (none when it was there)."""
    if recorded_revision(engine) == target:
        return []
    with engine.connect() as conn:
        _lock(conn)
        fresh = not inspect(conn).has_table("conversation")
        applied = _upgrade_locked(conn, target)
        conn.commit()
    if applied:  # a new database is no news; an existing one changed under its operators' eyes is
        (log.info if fresh else log.warning)("database schema %s: %s", "created" if fresh else "upgraded",
                                             " -> ".join(applied))
    return applied


def _lock(conn: Connection) -> None:
    """Begin the upgrade's transaction holding the migration lock (released at its end)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        # the database's write lock from the start (others wait up to the engine's busy timeout); pysqlite
        # issues no BEGIN of its own before DDL, so this is also what makes the DDL transactional
        conn.exec_driver_sql("BEGIN EXCLUSIVE")


def _upgrade_locked(conn: Connection, target: str) -> list[str]:
    from alembic import command
    from alembic.script.revision import RevisionError
    from alembic.util.exc import CommandError

    cfg = _config(conn)
    script = _script(cfg)
    start = None
    if inspect(conn).has_table("alembic_version"):  # (a failing query here would end the locked transaction)
        start = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if start is None:
        start = legacy_revision(conn)
        if start is not None:
            log.warning("database created before migrations: its schema matches revision %s, recorded", start)
            command.stamp(cfg, start)
    elif start == target:
        return []  # another replica upgraded it while this one waited for the lock
    try:
        pending = [s.revision for s in script.iterate_revisions(target, start)]
        command.upgrade(cfg, target)
    except (CommandError, RevisionError) as exc:
        raise SchemaError(f"the database schema is at revision {start}, which this Switchboard does not know "
                          f"(its newest is {HEAD}): run the Switchboard release that wrote it, or a newer one") \
            from exc
    return list(reversed(pending))


def _config(conn: Connection | None = None, *, migrations: Path = MIGRATIONS) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    cfg.attributes["connection"] = conn
    return cfg


def _script(cfg: Config) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(cfg)


def history() -> list[tuple[str, str]]:
    """(revision, first line of its description) for every revision, oldest first."""
    script = _script(_config())
    return [(s.revision, (s.doc or "").strip().splitlines()[0] if s.doc else "")
            for s in reversed(list(script.walk_revisions()))]


def script_head() -> str | None:
    return _script(_config()).get_current_head()


def new_revision(message: str, *, migrations: Path = MIGRATIONS) -> Path:
    """Write the next revision: what Alembic finds between the newest revision and the models (for developers,
    in a source checkout; the file needs reading and finishing by hand, see migrations/versions)."""
    from alembic import command

    from bot.memory.store import build_engine

    with tempfile.TemporaryDirectory(prefix="switchboard-revision-") as scratch:
        engine = build_engine(f"sqlite:///{scratch}/head.db")
        try:
            with engine.connect() as conn:
                cfg = _config(conn, migrations=migrations)
                head = _script(cfg).get_current_head()
                _lock(conn)
                command.upgrade(cfg, "head")
                written = command.revision(cfg, message=message, autogenerate=True,
                                           rev_id=f"{int(head or 0) + 1:04d}")
        finally:
            engine.dispose()
    scripts = written if isinstance(written, list) else [written]
    if not scripts or scripts[0] is None:
        raise SchemaError("Alembic wrote no revision")
    return Path(scripts[0].path)
