"""Schema upgrades for databases created by an older Switchboard.

`SQLModel.metadata.create_all` creates missing tables but never changes an existing one, so each
column added later is listed here with the statement that fills it for existing rows. Every step runs
in one transaction (both SQLite and PostgreSQL have transactional DDL): the column appears together
with its backfill or not at all. Replicas starting together race harmlessly: the loser's ALTER
fails, it rolls back and finds the column there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AddColumn:
    table: str
    column: str
    ddl: str  # the column's type and default, valid in SQLite and PostgreSQL
    backfill: str = ""  # run once, right after the column was added


_FROM_CONVERSATION = ("UPDATE {table} SET {column} = COALESCE((SELECT c.{column} FROM conversation c "
                      "WHERE c.id = {table}.conversation_id), '') WHERE {table}.conversation_id IS NOT NULL")
_FROM_DECISION = ("UPDATE feedback SET {column} = COALESCE((SELECT d.{column} FROM decision d "
                  "WHERE d.id = feedback.decision_id), '')")

# Identities are (platform, tenant, user): a message's author and a decision's asker are on the platform
# and in the tenant of their conversation; a vote was cast on its decision's platform and tenant.
STEPS: tuple[AddColumn, ...] = (
    AddColumn("message", "platform", "VARCHAR(32) NOT NULL DEFAULT ''", _FROM_CONVERSATION),
    AddColumn("message", "tenant", "VARCHAR(128) NOT NULL DEFAULT ''", _FROM_CONVERSATION),
    AddColumn("decision", "tenant", "VARCHAR(128) NOT NULL DEFAULT ''", _FROM_CONVERSATION),
    AddColumn("feedback", "platform", "VARCHAR(32) NOT NULL DEFAULT ''", _FROM_DECISION),
    AddColumn("feedback", "tenant", "VARCHAR(128) NOT NULL DEFAULT ''", _FROM_DECISION),
    AddColumn("pendingdelivery", "reference", "TEXT NOT NULL DEFAULT ''"),  # Slack rows need none
    AddColumn("decision", "privacy_action", "VARCHAR(16) NOT NULL DEFAULT ''"),  # unknown for older rows
    AddColumn("decision", "attempts", "TEXT NOT NULL DEFAULT ''"),  # older rows: only `model` is known
)


def upgrade_schema(engine: Engine, steps: tuple[AddColumn, ...] = STEPS) -> list[str]:
    """Add the columns an older database lacks and fill them; returns `table.column` for each one added."""
    added = []
    for step in steps:
        if _has_column(engine, step):
            continue
        try:
            with engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {step.table} ADD COLUMN {step.column} {step.ddl}"))
                if step.backfill:
                    conn.execute(text(step.backfill.format(table=step.table, column=step.column)))
        except DBAPIError:
            if not _has_column(engine, step):  # not another replica's doing: a real failure
                raise
            continue
        log.warning("database upgraded: added %s.%s to existing rows", step.table, step.column)
        added.append(f"{step.table}.{step.column}")
    return added


def _has_column(engine: Engine, step: AddColumn) -> bool:
    return step.column in {c["name"] for c in inspect(engine).get_columns(step.table)}
