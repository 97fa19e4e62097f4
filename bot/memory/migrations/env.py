"""Alembic's environment for Switchboard: always online, on the connection `bot.memory.schema` hands over.

`bot.memory.schema` opens the connection, takes the migration lock and begins the transaction; every revision
then runs inside it (SQLite and PostgreSQL both have transactional DDL), so an upgrade lands whole or not at all.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

import bot.memory.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from bot.memory.crypto import EncryptedText


def _render_item(type_: str, obj: Any, _autogen_context: Any) -> str | Literal[False]:
    # SQLModel's types in plain SQLAlchemy spelling, so revisions do not import sqlmodel
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length is not None else "sa.String()"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, EncryptedText):
        return "sa.Text()"  # encrypted in Python (bot/memory/crypto.py): TEXT in the database
    return False


def run() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run migrations through `switchboard db upgrade` (bot.memory.schema), not bare alembic")
    context.configure(connection=connection, target_metadata=SQLModel.metadata, render_item=_render_item,
                      compare_type=True, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


run()
