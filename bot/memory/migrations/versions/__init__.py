"""Alembic revisions of Switchboard's schema, oldest first: 0001 is the first release's schema, the newest
is exactly `bot.memory.models`.

Adding a table or a column
--------------------------
1. Change `bot/memory/models.py`.
2. Generate the revision from a scratch database migrated to the current head:

       switchboard db revision -m "what changes"

   It writes `versions/NNNN_what_changes.py` (NNNN: the next number) with the operations Alembic finds between
   the head and the models, and prints its path.
3. Read it and finish it by hand: a NOT NULL column added to a table that has rows needs a `server_default`
   (or a backfill `op.execute("UPDATE ...")` right after `op.add_column`, as 0003 does); Alembic does not see
   renames (it writes a drop and an add: replace them with `op.alter_column(..., new_column_name=...)`).
4. Run `pytest tests/test_migrations.py`: the drift test compares a database migrated from empty with the
   models on SQLite and PostgreSQL and fails with the differences when a change has no revision.

Revision ids are the file names' numbers, one after the other (`bot.memory.schema.HEAD` is the highest, read
from the file names: a start compares it with the database's `alembic_version` in one query and imports Alembic
only when they differ). Two branches that each add the same number make two heads: the chain test in
tests/test_migrations.py fails, and the later one is renumbered (file name, `revision`, `down_revision`).

Revisions run inside one transaction under the migration lock (`bot.memory.schema.upgrade`): keep them to
statements both SQLite and PostgreSQL accept (on SQLite, use `op.batch_alter_table` to drop or alter columns).
"""
