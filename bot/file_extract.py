"""Text out of a file's bytes: PDF (pypdf), Word .docx (python-docx), Excel .xlsx (openpyxl), CSV, plain text.

`extract` is pure CPU work over untrusted bytes, so `bot.files` runs it in a child process
(`python -m bot.file_extract KIND MAX_PAGES MAX_CHARS MEMORY_MB`, the file on stdin, JSON on stdout) that is
killed when it overruns its time budget and whose address space is capped: a PDF can be built to loop or to
inflate without end, an .xlsx/.docx is a zip that can unpack to gigabytes. Every failure of a library on bad
input becomes `ExtractionError`; the libraries are imported only in the child.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from typing import BinaryIO

KINDS = ("pdf", "docx", "xlsx", "csv", "text")
MAX_CSV_FIELD = 100_000  # the csv module's own limit is 128 KiB per field; an error beyond it, not a hang


class ExtractionError(Exception):
    """The file's bytes are not a readable file of its kind (damaged, encrypted, not text at all)."""


class _Text:
    """Collects text up to `limit` characters; `full` once reached (callers stop reading the file then)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    @property
    def full(self) -> bool:
        return self.size >= self.limit

    def add(self, text: str) -> None:
        if self.full:
            self.truncated = self.truncated or bool(text)
            return
        room = self.limit - self.size
        if len(text) > room:
            text, self.truncated = text[:room], True
        self.parts.append(text)
        self.size += len(text)

    def result(self) -> tuple[str, bool]:
        return "".join(self.parts).strip(), self.truncated


def extract(kind: str, data: bytes, *, max_pages: int, max_chars: int) -> tuple[str, bool]:
    """The text of a file of `kind` (one of `KINDS`), at most `max_chars` characters from at most `max_pages`
    pages (PDF) or sheets (XLSX); and whether the text was cut short. Raises `ExtractionError` for bytes that
    are not such a file, or hold no text."""
    out = _Text(max_chars)
    try:
        if kind == "pdf":
            _pdf(data, out, max_pages)
        elif kind == "docx":
            _docx(data, out)
        elif kind == "xlsx":
            _xlsx(data, out, max_pages)
        elif kind == "csv":
            _csv(_decode(data), out)
        elif kind == "text":
            out.add(_decode(data))
        else:
            raise ExtractionError(f"unknown kind {kind!r}")
    except ExtractionError:
        raise
    except RecursionError as exc:  # deeply nested PDF objects
        raise ExtractionError("nested too deeply") from exc
    except MemoryError:
        raise
    except Exception as exc:  # a library's own failure on bad input, whatever its type
        raise ExtractionError(f"{type(exc).__name__}: {exc}"[:300]) from exc
    text, truncated = out.result()
    if not text:
        raise ExtractionError("no text in the file")
    return text, truncated


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM; else Windows-1252, common for CSV exported from Excel.
    Bytes with NUL characters (and no UTF-16 BOM) are binary, not text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data[:8192]:
        raise ExtractionError("binary data, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _pdf(data: bytes, out: _Text, max_pages: int) -> None:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        raise ExtractionError("the PDF is encrypted")
    for number, page in enumerate(reader.pages):
        if number >= max_pages or out.full:
            out.truncated = True
            return
        out.add((page.extract_text() or "") + "\n\n")


def _docx(data: bytes, out: _Text) -> None:
    from docx import Document

    document = Document(io.BytesIO(data))
    for block in document.iter_inner_content():
        if out.full:
            out.truncated = True
            return
        if hasattr(block, "rows"):  # a table: one line per row, cells separated by " | "
            for row in block.rows:
                out.add(" | ".join(cell.text.strip() for cell in row.cells) + "\n")
        else:
            out.add(block.text + "\n")


def _xlsx(data: bytes, out: _Text, max_sheets: int) -> None:
    from openpyxl import load_workbook

    # read_only streams the sheets' XML instead of building the whole workbook; data_only: cached values
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        for number, sheet in enumerate(workbook.worksheets):
            if number >= max_sheets or out.full:
                out.truncated = True
                return
            out.add(f"# {sheet.title}\n")
            _rows(sheet.iter_rows(values_only=True), out)
    finally:
        workbook.close()


def _csv(text: str, out: _Text) -> None:
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    csv.field_size_limit(MAX_CSV_FIELD)
    _rows(csv.reader(io.StringIO(text, newline=""), dialect), out)


def _rows(rows: Iterable[Iterable[object]], out: _Text) -> None:
    """Rows as ` | `-separated lines, empty trailing cells and empty rows left out."""
    for row in rows:
        if out.full:
            out.truncated = True
            return
        cells = ["" if v is None else str(v).strip() for v in row]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            out.add(" | ".join(cells) + "\n")


def _limit_memory(megabytes: int) -> None:
    import resource

    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(1 << 16):
        yield chunk


def main(argv: list[str]) -> int:
    """The child process: argv KIND MAX_PAGES MAX_CHARS MEMORY_MB, the file on stdin; prints one JSON object,
    {"text": …, "truncated": …} or {"error": …}."""
    kind, max_pages, max_chars, memory_mb = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    if memory_mb > 0:
        _limit_memory(memory_mb)
    data = b"".join(_chunks(sys.stdin.buffer))
    try:
        text, truncated = extract(kind, data, max_pages=max_pages, max_chars=max_chars)
        result: dict[str, object] = {"text": text, "truncated": truncated}
    except ExtractionError as exc:
        result = {"error": str(exc)}
    except MemoryError:
        result = {"error": "memory", "memory": True}
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
