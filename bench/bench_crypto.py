"""What encryption at rest costs per message: Fernet encrypt + decrypt, and one message written and read
back through SQLite with and without a key.

Usage, from the project checkout:
    .venv/bin/python bench/bench_crypto.py [--rounds 2000]

Prints medians in microseconds per message for a short chat message (80 characters), a typical one
(600) and the largest accepted (16,000, SWITCHBOARD_MAX_MESSAGE_CHARS).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Column, Connection, Integer, MetaData, Table, create_engine, select
from sqlalchemy.pool import StaticPool

from bot.memory.crypto import EncryptedText, attach_cipher, build_cipher, new_key

SIZES = (80, 600, 16_000)
SAMPLE = "Anna Nowak asked whether the offer for the Gdańsk plant can ship before Friday. "


def _text(size: int) -> str:
    return (SAMPLE * (size // len(SAMPLE) + 1))[:size]


def _median_us(fn: object, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


def _roundtrip(conn: Connection, table: Table, text: str) -> None:
    conn.execute(table.delete())
    conn.execute(table.insert().values(id=1, text=text))
    conn.execute(select(table.c.text)).scalar_one()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2000)
    rounds = ap.parse_args().rounds
    cipher = build_cipher(new_key())
    assert cipher is not None
    print(f"{'chars':>6} {'encrypt+decrypt µs':>19} {'SQL write+read µs, plain':>25} {'with key':>9} "
          f"{'stored/plain':>13}")
    for size in SIZES:
        text = _text(size)
        crypt = _median_us(lambda: cipher.decrypt(cipher.encrypt(text)), rounds)  # noqa: B023
        sql = []
        for keyed in (False, True):
            engine = create_engine("sqlite://", poolclass=StaticPool)
            table = Table("m", MetaData(), Column("id", Integer, primary_key=True), Column("text", EncryptedText))
            table.metadata.create_all(engine)
            attach_cipher(engine, cipher if keyed else None)
            with engine.connect() as conn:
                sql.append(_median_us(partial(_roundtrip, conn, table, text), max(200, rounds // 4)))
        ratio = len(cipher.encrypt(text)) / len(text.encode("utf-8"))
        print(f"{size:>6} {crypt:>19.1f} {sql[0]:>25.1f} {sql[1]:>9.1f} {ratio:>13.2f}")


if __name__ == "__main__":
    main()
