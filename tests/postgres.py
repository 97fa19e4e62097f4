"""Starts a throw-away PostgreSQL server on loopback for the tests (Debian's server binaries)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str | None]:
    """Yields a SQLAlchemy URL of a fresh database, or None when no server binaries exist."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        yield None
        return
    data = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(data, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run([*prefix, initdb, "-D", str(data / "db"), "-A", "trust", "-U", "postgres"], **run)
    subprocess.run([*prefix, pg_ctl, "-D", str(data / "db"), "-w", "-l", str(data / "log"), "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start"], **run)
    try:
        subprocess.run([*prefix, _bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(port), "-U",
                        "postgres", "switchboard"], **run)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/switchboard"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data / "db"), "-m", "immediate", "stop"], check=False,
                       capture_output=True, timeout=60)
        shutil.rmtree(data, ignore_errors=True)
