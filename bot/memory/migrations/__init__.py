"""Alembic migrations of Switchboard's database, run by `bot.memory.schema` (no alembic.ini): `env.py`, the
revision template and `versions/`."""
