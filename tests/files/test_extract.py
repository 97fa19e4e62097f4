"""The file readers on their own: each kind read, limits kept, unsupported kinds told apart; arbitrary bytes
end within the time budget with text or a named problem, never an exception; a file that inflates past the
memory cap is stopped; downloads stop at the byte cap and the token goes only to the platform's hosts."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from bot.adapters.slack import slack_file_headers
from bot.adapters.teams import teams_file_headers
from bot.file_extract import KINDS, ExtractionError, extract
from bot.files import FileLimits, FileReader, FileTooLargeError, HttpFileSource, Problem, kind_of, with_files
from bot.types import FileRef
from tests.fakes.loopback import LoopbackServer
from tests.files.documents import docx, pdf, xlsx

PROBLEMS = {Problem.UNSUPPORTED, Problem.TOO_LARGE, Problem.UNREADABLE, Problem.TOO_SLOW}


@pytest.mark.parametrize(("name", "mimetype", "filetype", "kind"), [
    ("Contract.PDF", "", "", "pdf"), ("offer.docx", "", "", "docx"), ("q3.xlsx", "", "", "xlsx"),
    ("costs.csv", "", "", "csv"), ("notes.md", "", "", "text"), ("main.py", "", "", "text"),
    ("query.sql", "", "", "text"), ("Dockerfile", "", "", "text"), ("report", "application/pdf", "", "pdf"),
    ("snippet", "", "python", "text"), ("readme", "text/plain; charset=utf-8", "", "text"),
    ("photo.png", "image/png", "png", None), ("drafts.zip", "application/zip", "zip", None),
    ("old.doc", "application/msword", "doc", None), ("deck.pptx", "", "pptx", None), ("image/*", "image/*", "", None),
])
def test_kinds_are_told_by_name_then_type(name: str, mimetype: str, filetype: str, kind: str | None) -> None:
    assert kind_of(FileRef(name=name, mimetype=mimetype, filetype=filetype)) == kind


def test_each_kind_is_read() -> None:
    limits = {"max_pages": 50, "max_chars": 10_000}
    assert extract("pdf", pdf(["Hello Anna"], ["Page two"]), **limits) == ("Hello Anna\n\n\nPage two", False)
    assert extract("docx", docx("Hi", table=[["a", "b"]]), **limits) == ("Hi\na | b", False)
    assert extract("xlsx", xlsx([["x", None, 2]], title="T"), **limits) == ("# T\nx |  | 2", False)
    assert extract("csv", b"a,b\r\n1,\"2,5\"\r\n", **limits) == ("a | b\n1 | 2,5", False)
    assert extract("csv", "name;city\nZoë;Kraków\n".encode("cp1252", errors="replace"), **limits)[0].startswith(
        "name | city")
    assert extract("text", "\ufeffZażółć gęślą jaźń".encode(), **limits) == ("Zażółć gęślą jaźń", False)
    assert extract("text", "Grüße".encode("utf-16"), **limits) == ("Grüße", False)


def test_page_and_character_limits_cut_the_text() -> None:
    assert extract("pdf", pdf(["one"], ["two"], ["three"]), max_pages=2, max_chars=100) == ("one\n\n\ntwo", True)
    assert extract("text", b"x" * 500, max_pages=1, max_chars=100) == ("x" * 100, True)
    assert extract("xlsx", xlsx([[i] for i in range(1000)]), max_pages=5, max_chars=50)[1] is True


@pytest.mark.parametrize(("kind", "data"), [
    ("text", b"\x00\x01\x02binary"), ("text", b"   \n\t "), ("pdf", b"%PDF-1.4\n%%EOF"), ("pdf", b""),
    ("docx", b"PK\x03\x04 not a zip"), ("xlsx", docx("a docx is no workbook")), ("csv", b""),
])
def test_bad_bytes_are_an_extraction_error(kind: str, data: bytes) -> None:
    with pytest.raises(ExtractionError):
        extract(kind, data, max_pages=5, max_chars=1000)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["text", "csv"]), data=st.binary(max_size=4096))
def test_text_readers_end_with_bounded_text_or_an_extraction_error(kind: str, data: bytes) -> None:
    started = time.process_time()
    try:
        text, _ = extract(kind, data, max_pages=5, max_chars=500)
    except ExtractionError:
        return
    finally:
        assert time.process_time() - started < 1.0
    assert 0 < len(text) <= 500


_HEADERS = {"pdf": b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", "docx": b"PK\x03\x04", "xlsx": b"PK\x03\x04"}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["pdf", "docx", "xlsx", "csv", "text"]), data=st.binary(max_size=2048),
       with_header=st.booleans())
async def test_any_bytes_end_within_the_budget_as_text_or_a_problem(kind: str, data: bytes,
                                                                     with_header: bool) -> None:
    """Through the child process, as the pipeline reads files: never raises, never outlives the budget."""
    reader = FileReader(FileLimits(timeout_s=5.0, max_chars=1000))
    payload = _HEADERS.get(kind, b"") + data if with_header else data
    started = time.monotonic()
    outcome = await reader.extract(kind, payload)
    assert time.monotonic() - started < 5.0 + 2.0
    assert outcome in PROBLEMS if isinstance(outcome, str) else len(outcome[0]) <= 1000


async def test_the_time_budget_stops_the_work() -> None:
    reader = FileReader(FileLimits(timeout_s=0.05))
    started = time.monotonic()
    assert await reader.extract("pdf", pdf(["slow"])) == Problem.TOO_SLOW
    assert time.monotonic() - started < 2.0


async def test_a_file_that_inflates_past_the_memory_cap_is_stopped() -> None:
    """A .docx whose document part unpacks to 400 MB from a ~400 KB zip: refused, the process gone."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        with z.open("word/document.xml", "w") as part:
            for _ in range(400):
                part.write(b" " * (1 << 20))
    reader = FileReader(FileLimits(timeout_s=20.0, memory_mb=256))
    assert await reader.extract("docx", out.getvalue()) in (Problem.TOO_LARGE, Problem.UNREADABLE)


def test_files_join_the_text_under_their_names() -> None:
    from bot.files import ReadFile

    assert with_files("Compare", [ReadFile("a.txt", "A"), ReadFile("b.txt", "B", truncated=True)]) == (
        "Compare\n\n[Attached file: a.txt]\nA\n[End of a.txt]\n\n[Attached file: b.txt (truncated)]\nB\n[End of b.txt]")


class _Files(LoopbackServer):
    """Serves bytes, with or without a Content-Length (chunked), and records the Authorization it got."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str | None] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/sized", self._sized)
        app.router.add_get("/chunked", self._chunked)

    async def _sized(self, request: web.Request) -> web.Response:
        self.seen.append(request.headers.get("Authorization"))
        return web.Response(body=b"x" * 50_000)

    async def _chunked(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request.headers.get("Authorization"))
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b"y" * 10_000)
        await resp.write_eof()
        return resp


async def test_downloads_stop_at_the_byte_cap() -> None:
    server = _Files()
    await server.start()
    try:
        assert server.server is not None
        base = str(server.server.make_url("/"))
        source = HttpFileSource(slack_file_headers("xoxb-t", base + "api/"))
        for path in ("sized", "chunked"):
            with pytest.raises(FileTooLargeError):
                await source.fetch(FileRef(name=path, url=base + path), max_bytes=20_000, timeout_s=5)
        assert await source.fetch(FileRef(name="s", url=base + "sized"), max_bytes=60_000, timeout_s=5) == (
            b"x" * 50_000)
        assert server.seen == ["Bearer xoxb-t"] * 3
    finally:
        await server.close()
    await asyncio.sleep(0)


@pytest.mark.parametrize(("url", "sent"), [
    ("https://files.slack.com/files-pri/T1-F1/a.pdf", True), ("https://slack.com/x", True),
    ("http://files.slack.com/files-pri/T1-F1/a.pdf", False), ("https://files.slack.com.evil.example/a", False),
    ("https://evil.example/files-pri/a.pdf", False), ("http://127.0.0.1:9/files-pri/a", False),
    ("http://127.0.0.1:8080/files-pri/a", True),  # where SLACK_API_BASE_URL points
])
def test_the_slack_token_goes_only_to_slack(url: str, sent: bool) -> None:
    headers_for = slack_file_headers("xoxb-t", "http://127.0.0.1:8080/api/")
    assert (headers_for(URL(url)) == {"Authorization": "Bearer xoxb-t"}) is sent
    if not sent:
        assert headers_for(URL(url)) is None


def test_teams_downloads_are_https_or_loopback_in_development() -> None:
    assert teams_file_headers(loopback=False)(URL("https://contoso.sharepoint.com/a")) == {}
    assert teams_file_headers(loopback=False)(URL("http://127.0.0.1:5/download/a")) is None
    assert teams_file_headers(loopback=True)(URL("http://127.0.0.1:5/download/a")) == {}
    assert teams_file_headers(loopback=True)(URL("http://intranet.local/a")) is None


def test_kinds_match_the_extractor() -> None:
    assert set(KINDS) == {"pdf", "docx", "xlsx", "csv", "text"}
