"""The fuzz harness: the production app served on loopback from its own event loop in a daemon thread,
and a raw-socket HTTP client in the test thread.

The server runs apart from the client so that a handler that blocks its event loop or never answers
shows up as a client timeout, not as a test that silently waits with it. The client writes requests
byte for byte, so it can send what well-behaved HTTP libraries refuse to: duplicated, oversized or
non-ASCII headers, bodies that are not what their Content-Type says.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import hashlib
import hmac
import logging
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

HANG_S = 15.0  # a request that takes longer than this counts as a hang
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})")


class LoopThread:
    """An asyncio event loop running in a daemon thread; `run` executes a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-server", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Cancel what still runs here (LiteLLM's logging worker binds to the first loop that calls it: left
        pending, it would be destroyed with the loop, in the middle of some later test), then stop."""
        self.run(_cancel_pending())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        assert not asyncio.all_tasks(self.loop), asyncio.all_tasks(self.loop)
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


async def _cancel_pending() -> None:
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True)
class Response:
    status: int  # 0: the server closed the connection without a status line
    body: bytes
    elapsed_s: float


Header = tuple[str | bytes, str | bytes]


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def raw_request(port: int, method: str, path: str, *, headers: Iterable[Header] = (), body: bytes = b"",
                content_length: bool = True, timeout_s: float = HANG_S) -> Response:
    """One HTTP/1.1 request on a fresh connection (`Connection: close`), written exactly as given."""
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: 127.0.0.1:{port}".encode(), b"Connection: close"]
    if content_length:
        lines.append(f"Content-Length: {len(body)}".encode())
    lines += [_bytes(name) + b": " + _bytes(value) for name, value in headers]
    request = b"\r\n".join(lines) + b"\r\n\r\n" + body
    started = time.monotonic()
    chunks: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.settimeout(timeout_s)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused before reading it all
            sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    data = b"".join(chunks)
    while (match := _STATUS_LINE.match(data)) and match.group(1).startswith(b"1"):  # 100 Continue first
        data = data.partition(b"\r\n\r\n")[2]
    return Response(status=int(match.group(1)) if match else 0, body=data.partition(b"\r\n\r\n")[2],
                    elapsed_s=time.monotonic() - started)


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature over raw bytes (slack_sdk's `generate_signature` takes text only; for text
    bodies the harness uses it, see `fuzz/conftest.py`)."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def rss_bytes() -> int:
    """Resident memory of this process (the server under test runs in it), after a garbage collection
    and, with glibc, after handing freed heap pages back (so the figure is what is still held, not what
    the allocator keeps around after a burst of 1 MB bodies)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    fields = Path("/proc/self/status").read_text().split("VmRSS:")[1].split()
    return int(fields[0]) * 1024


class ErrorLog(logging.Handler):
    """Collects ERROR records: a listener crashing in the background never shows as an HTTP status."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        taken = [f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" if r.exc_info else f"{r.name}: {r.getMessage()}"
                 for r in self.records]
        self.records.clear()
        return taken


@dataclass
class Tally:
    """Statuses per fuzz family, printed at the end of the run (pytest -s or -rA shows them)."""

    statuses: dict[str, Counter[int]] = field(default_factory=dict)

    def add(self, family: str, status: int) -> None:
        self.statuses.setdefault(family, Counter())[status] += 1

    def report(self) -> str:
        return "\n".join(f"  {family}: {sum(c.values())} requests, " +
                         ", ".join(f"{s}×{n}" for s, n in sorted(c.items()))
                         for family, c in self.statuses.items())
