"""Files sent with a message, shared by both platforms: fetched with a byte cap, their text extracted in a
child process with a time and memory budget (`bot.file_extract`), and what could not be read said plainly.

Adapters only translate: each turns its payload's files into `FileRef`s and gives the pipeline a
`FileSource` that knows how its platform serves them (Slack: `url_private_download` with the bot token;
Teams: the pre-authorised `downloadUrl` of a file attachment). The pipeline reads them with `FileReader`,
adds their text to the message (`with_files`), and from there it is a message like any other: one privacy
verdict over all of it, stored with the user's turn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol

from bot.file_extract import KINDS
from bot.types import FileRef

if TYPE_CHECKING:  # aiohttp and yarl are imported where a file is fetched: the CLI's start does not pay them
    from yarl import URL

log = logging.getLogger(__name__)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])

# what each kind is recognised by: the file name's extension first (platforms guess MIME types loosely)
_EXTENSIONS = {
    "pdf": {"pdf"},
    "docx": {"docx"},
    "xlsx": {"xlsx", "xlsm"},
    "csv": {"csv", "tsv"},
    "text": {
        "txt", "text", "md", "markdown", "rst", "log", "json", "jsonl", "yaml", "yml", "toml", "ini", "cfg",
        "conf", "xml", "html", "htm", "css", "sql", "py", "js", "mjs", "ts", "tsx", "jsx", "java", "kt", "kts",
        "scala", "go", "rs", "c", "h", "cc", "cpp", "hpp", "cs", "fs", "vb", "bas", "swift", "rb", "php", "pl",
        "r", "m", "lua", "sh", "bash", "zsh", "ps1", "bat", "cmd", "dockerfile", "gradle", "properties", "env",
        "tf", "hcl", "proto", "graphql", "vue", "svelte", "dart", "ex", "exs", "erl", "hs", "clj", "groovy",
        "abap", "cbl", "f90", "asm", "tex", "srt", "vtt",
    },
}
_MIME_TYPES = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
}
# Slack's and Teams' own names for a file's type, when the name has no extension
_PLATFORM_TYPES = {"pdf": "pdf", "docx": "docx", "xlsx": "xlsx", "csv": "csv", "text": "text", "markdown": "text",
                   "post": "text", "python": "text", "javascript": "text", "sql": "text", "shell": "text"}
SUPPORTED_DESCRIPTION = "PDF, Word (.docx), Excel (.xlsx), CSV, text, Markdown, code"


def kind_of(ref: FileRef) -> str | None:
    """Which of `bot.file_extract.KINDS` a file is, from its name, MIME type or platform file type; None for
    anything else (images, archives, audio, legacy .doc/.xls, slides)."""
    suffix = PurePosixPath(ref.name.lower()).suffix.lstrip(".") or ref.name.lower()
    for kind, extensions in _EXTENSIONS.items():
        if suffix in extensions:
            return kind
    mime = ref.mimetype.split(";")[0].strip().lower()
    if mime in _MIME_TYPES:
        return _MIME_TYPES[mime]
    if mime.startswith("text/"):
        return "text"
    return _PLATFORM_TYPES.get(ref.filetype.lower())


@dataclass(frozen=True, slots=True, kw_only=True)
class FileLimits:
    """How much of the files of one message is read (Settings: SWITCHBOARD_FILE_*)."""

    max_files: int = 5
    max_bytes: int = 10 * 1024 * 1024  # per file, as downloaded
    max_pages: int = 50  # PDF pages, spreadsheet sheets
    max_chars: int = 30_000  # text of all files of a message together
    timeout_s: float = 15.0  # per file: download and extraction each
    memory_mb: int = 768  # address space of the extracting process
    workers: int = 2  # extracting processes at once, across all messages


class Problem:
    """Why a file was not read; the keys of `bot.i18n` texts `files_<problem>`."""

    UNSUPPORTED = "unsupported"
    TOO_LARGE = "too_large"
    UNREADABLE = "unreadable"
    TOO_SLOW = "too_slow"
    NOT_FETCHED = "not_fetched"
    TOO_MANY = "too_many"


@dataclass(frozen=True, slots=True)
class ReadFile:
    name: str
    text: str
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Unread:
    name: str
    problem: str


@dataclass(frozen=True, slots=True)
class FileReading:
    read: tuple[ReadFile, ...] = ()
    unread: tuple[Unread, ...] = ()


class FileTooLargeError(Exception):
    """More bytes than the limit: the download was stopped."""


class FileFetchError(Exception):
    """The platform did not hand the file over (refused, not found, no URL we may fetch)."""


class FileSource(Protocol):
    """Where an adapter's files come from: the bytes of `ref`, at most `max_bytes` of them (else
    `FileTooLargeError`), within `timeout_s`; `FileFetchError` when they cannot be had."""

    async def fetch(self, ref: FileRef, *, max_bytes: int, timeout_s: float) -> bytes: ...


class HttpFileSource:
    """Files by URL over HTTP, streamed with a byte cap. `headers_for(url)` gives the headers for a URL the
    platform may serve a file from (its credentials, for its own hosts only), or None for any other URL,
    which is then not fetched: a payload cannot send the bot's token, or the bot itself, anywhere else."""

    def __init__(self, headers_for: Callable[[URL], dict[str, str] | None]) -> None:
        self._headers_for = headers_for

    async def fetch(self, ref: FileRef, *, max_bytes: int, timeout_s: float) -> bytes:
        if ref.size is not None and ref.size > max_bytes:
            raise FileTooLargeError(ref.name)
        import aiohttp
        from yarl import URL

        try:
            url = URL(ref.url)
        except (ValueError, TypeError) as exc:
            raise FileFetchError(f"not a URL: {ref.url[:100]!r}") from exc
        headers = self._headers_for(url) if url.scheme in ("https", "http") and url.host else None
        if headers is None:
            raise FileFetchError(f"not a file URL of this platform: {url.host}")
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        try:
            # no redirects: a redirect could take the token to another host, and a login page is no file
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.get(url, headers=headers, allow_redirects=False) as resp:
                if resp.status != 200:
                    raise FileFetchError(f"HTTP {resp.status}")
                if resp.content_length is not None and resp.content_length > max_bytes:
                    raise FileTooLargeError(ref.name)
                body = bytearray()
                async for chunk in resp.content.iter_chunked(1 << 16):
                    body += chunk
                    if len(body) > max_bytes:
                        raise FileTooLargeError(ref.name)
                return bytes(body)
        except aiohttp.ClientError as exc:
            raise FileFetchError(f"{type(exc).__name__}: {exc}"[:200]) from exc


def is_loopback(url: URL) -> bool:
    return url.host in ("127.0.0.1", "::1", "localhost")


class FileReader:
    """Reads the files of a message within `FileLimits`; never raises for a file it cannot read."""

    def __init__(self, limits: FileLimits | None = None) -> None:
        self.limits = limits or FileLimits()
        self._workers = asyncio.Semaphore(self.limits.workers)

    async def read(self, refs: Sequence[FileRef], source: FileSource | None) -> FileReading:
        """Each file's text (in order, all together within `max_chars`) and why any other was not read."""
        read: list[ReadFile] = []
        unread: list[Unread] = []
        room = self.limits.max_chars
        for index, ref in enumerate(refs):
            kind = kind_of(ref)
            if kind is None and not (ref.url or ref.mimetype or ref.filetype):  # nothing known but a name
                unread.append(Unread(ref.name, Problem.NOT_FETCHED))
            elif kind is None:
                unread.append(Unread(ref.name, Problem.UNSUPPORTED))
            elif index >= self.limits.max_files or room <= 0:
                unread.append(Unread(ref.name, Problem.TOO_MANY))
            elif source is None:
                unread.append(Unread(ref.name, Problem.NOT_FETCHED))
            else:
                outcome = await self._read_one(ref, kind, source, room)
                if isinstance(outcome, ReadFile):
                    read.append(outcome)
                    room -= len(outcome.text)
                else:
                    unread.append(outcome)
        return FileReading(read=tuple(read), unread=tuple(unread))

    async def _read_one(self, ref: FileRef, kind: str, source: FileSource, max_chars: int) -> ReadFile | Unread:
        try:
            data = await source.fetch(ref, max_bytes=self.limits.max_bytes, timeout_s=self.limits.timeout_s)
        except FileTooLargeError:
            return Unread(ref.name, Problem.TOO_LARGE)
        except (FileFetchError, TimeoutError, ValueError) as exc:
            log.warning("files: %s not fetched: %r", kind, exc)
            return Unread(ref.name, Problem.NOT_FETCHED)
        outcome = await self.extract(kind, data, max_chars=max_chars)
        if isinstance(outcome, str):
            return Unread(ref.name, outcome)
        return ReadFile(ref.name, *outcome)

    async def extract(self, kind: str, data: bytes, *, max_chars: int | None = None) -> tuple[str, bool] | str:
        """(text, truncated), or the `Problem` that stopped it: `bot.file_extract` in a child process, killed
        when it runs past `timeout_s`, its address space capped at `memory_mb`."""
        if kind not in KINDS:
            return Problem.UNSUPPORTED
        limits = self.limits
        args = [kind, str(limits.max_pages), str(max_chars or limits.max_chars), str(limits.memory_mb)]
        async with self._workers:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.file_extract", *args, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=_child_environment())
            try:
                out, _ = await asyncio.wait_for(proc.communicate(data), limits.timeout_s)
            except TimeoutError:
                log.warning("files: extracting a %s file ran past %.0f s: stopped", kind, limits.timeout_s)
                return Problem.TOO_SLOW
            except (BrokenPipeError, ConnectionResetError):  # the child died before reading it all
                out = b""
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        try:
            result = json.loads(out)
            text, truncated = result["text"], result["truncated"]
        except (ValueError, KeyError, TypeError):  # killed by the memory cap, or an error (below)
            if out:
                log.info("files: a %s file was not read: %s", kind, out[:300].decode(errors="replace"))
            return Problem.TOO_LARGE if b'"memory"' in out else Problem.UNREADABLE
        if not isinstance(text, str) or not isinstance(truncated, bool):
            return Problem.UNREADABLE
        return text, truncated


def _child_environment() -> dict[str, str]:
    # the child imports the same `bot` package as this process, wherever it was loaded from
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    return env


def with_files(text: str, read: Sequence[ReadFile]) -> str:
    """The message as the model (and the privacy check, and the memory) sees it: the user's text, then each
    file's text under its name."""
    parts = [text.strip()] if text.strip() else []
    for f in read:
        cut = " (truncated)" if f.truncated else ""
        parts.append(f"[Attached file: {f.name}{cut}]\n{f.text}\n[End of {f.name}]")
    return "\n\n".join(parts)
