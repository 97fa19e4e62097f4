"""Starts a throw-away PostgreSQL server on loopback for the tests (Debian's server binaries); it can
be stopped and started again on the same port and data (a database outage)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def free_port() -> int:
    """A loopback TCP port nobody listens on (for a server a test or bench starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_RUN: dict[str, Any] = {"check": True, "capture_output": True, "timeout": 120}


@dataclass
class PostgresServer:
    url: str  # SQLAlchemy URL of the `switchboard` database
    port: int
    data: Path
    pg_ctl: str
    prefix: list[str]  # runs the binaries as the postgres user when we are root

    def start(self) -> None:
        subprocess.run([*self.prefix, self.pg_ctl, "-D", str(self.data / "db"), "-w", "-l", str(self.data / "log"),
                        "-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       **_RUN)

    def running(self) -> bool:
        status = subprocess.run([*self.prefix, self.pg_ctl, "-D", str(self.data / "db"), "status"], check=False,
                                capture_output=True, timeout=60)
        return status.returncode == 0

    def stop(self) -> None:
        """Stop at once, like a crashed or restarted server: open connections break."""
        subprocess.run([*self.prefix, self.pg_ctl, "-D", str(self.data / "db"), "-m", "immediate", "-w", "stop"],
                       check=False, capture_output=True, timeout=60)


@contextmanager
def running_postgres() -> Iterator[PostgresServer | None]:
    """A fresh server with a `switchboard` database, or None when no server binaries exist."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        yield None
        return
    data = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(data, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    server = PostgresServer(url=f"postgresql+psycopg2://postgres@127.0.0.1:{port}/switchboard", port=port,
                            data=data, pg_ctl=pg_ctl, prefix=prefix)
    subprocess.run([*prefix, initdb, "-D", str(data / "db"), "-A", "trust", "-U", "postgres"], **_RUN)
    server.start()
    try:
        subprocess.run([*prefix, _bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(port), "-U",
                        "postgres", "switchboard"], **_RUN)
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str | None]:
    """Yields a SQLAlchemy URL of a fresh database, or None when no server binaries exist."""
    with running_postgres() as server:
        yield server.url if server is not None else None
