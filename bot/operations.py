"""Data-protection operations behind the CLI: audit export and residency check, purge, erasure, keys.

Each works on the database alone (no NLP component loads) and writes its report to `out`; the exit
status says whether it succeeded (`audit --verify-residency`: 1 when a record broke residency).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TextIO

from bot.audit import PolicyHistory, ResidencyReport, TrailFilter, to_csv, to_json, trail_rows, verify_residency
from bot.memory.crypto import new_key
from bot.memory.store import SqlMemoryStore, build_memory_store
from bot.retention import purge_expired
from bot.settings import Settings
from bot.types import Identity

SINCE_EVER = datetime(1970, 1, 1, tzinfo=UTC)


async def open_store(settings: Settings) -> SqlMemoryStore:
    memory = build_memory_store(settings.resolved_database_url, cipher=settings.cipher())
    await memory.create_schema()
    return memory


async def export_trail(memory: SqlMemoryStore, out: TextIO, *, since: timedelta, keep: TrailFilter,
                       fmt: str) -> int:
    decisions, entries = await memory.audit_trail(since=datetime.now(UTC) - since)
    rows = trail_rows(decisions, entries, keep)
    out.write(await asyncio.to_thread(to_csv if fmt == "csv" else to_json, rows))
    out.flush()
    return 0


async def check_residency(memory: SqlMemoryStore, out: TextIO, *, since: timedelta | None,
                          page: int = 5000) -> int:
    """Verify the records of the period page by page (a long history never sits in memory at once)."""
    start = SINCE_EVER if since is None else datetime.now(UTC) - since
    history = PolicyHistory(await memory.policy_versions())
    report, after = ResidencyReport(0, 0, 0, ()), 0
    while True:
        records = await memory.decisions_after(since=start, after_id=after, limit=page)
        if not records:
            break
        report = report.joined(await asyncio.to_thread(verify_residency, records, history))
        after = records[-1].id or after
    out.write(report.describe() + "\n")
    return 1 if report.violations else 0


async def purge(memory: SqlMemoryStore, out: TextIO, *, older_than: timedelta) -> int:
    removed = await purge_expired(memory, older_than=older_than)
    out.write(f"Purged conversation content older than {_days(older_than)} "
              f"(decision records, feedback and the admin trail are kept):\n")
    out.writelines(f"  {table}: {n} deleted\n" for table, n in removed.deleted.items())
    return 0


async def forget(memory: SqlMemoryStore, out: TextIO, *, user: Identity) -> int:
    removed = await memory.erase_user(user)
    out.write(f"Erased {user} (GDPR Art. 17):\n")
    out.writelines(f"  {table}: {n} deleted\n" for table, n in removed.deleted.items())
    out.writelines(f"  {table}: {n} anonymised (id replaced)\n" for table, n in removed.changed.items())
    out.write("  semantic cache and pseudonym vault: not in the database (each `serve` process holds its own in "
              "memory); their entries expire after SWITCHBOARD_CACHE_TTL_S and SWITCHBOARD_PSEUDONYM_TTL_S\n")
    return 0


async def rotate_key(memory: SqlMemoryStore, out: TextIO) -> int:
    done = await memory.rotate_keys()
    out.write("Re-encrypted under the current key (the first of SWITCHBOARD_ENCRYPTION_KEY); older keys may now be "
              "removed from it:\n")
    out.writelines(f"  {column}: {n} rows\n" for column, n in done.items())
    return 0


def keygen(out: TextIO) -> int:
    out.write(new_key() + "\n")
    return 0


def _days(period: timedelta) -> str:
    return f"{period.total_seconds() / 86400:g} days"
