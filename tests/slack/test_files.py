"""Files sent with a Slack message, through the real bolt stack: downloaded from the fake Web API with the bot
token, their text read into the message, judged by the same privacy verdict, remembered with the turn; what
cannot be read is answered plainly, in the user's language."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from bot.memory.models import Decision, Message
from tests.files.documents import docx, pdf, xlsx
from tests.slack.conftest import SlackHarness, dm

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CONTRACT = ["Employment contract", "Employee: Jan Kowalski, born 12 March 1988", "Monthly salary: 5,000 EUR"]


def file_share(text: str, *files: dict[str, Any], thread_ts: str | None = None) -> dict[str, Any]:
    """A file_share message event as Slack sends it."""
    event = dm(text, thread_ts=thread_ts)
    event["subtype"] = "file_share"
    event["upload"] = True
    event["files"] = list(files)
    return event


def stored_user_turns(slack: SlackHarness) -> list[str]:
    with Session(slack.services.memory.engine) as s:
        return [m.text for m in s.exec(select(Message).where(Message.role == "user").order_by(Message.id)).all()]


def decisions(slack: SlackHarness) -> list[Decision]:
    with Session(slack.services.memory.engine) as s:
        return list(s.exec(select(Decision).order_by(Decision.id)).all())


async def test_a_pdf_naming_a_person_is_read_and_pinned_to_an_eu_model(slack: SlackHarness) -> None:
    contract = slack.api.add_file("contract.pdf", pdf(CONTRACT), mimetype="application/pdf")
    event = file_share("Summarise this contract", contract)
    assert await slack.send_event(event) == 200
    await slack.settle()
    assert slack.api.downloads == [contract["id"]]  # fetched with the bot token
    assert slack.llm.models_called() == ["eu-small"]
    sent = slack.llm.requests[0]["messages"][-1]["content"]
    assert sent.startswith("Summarise this contract\n\n[Attached file: contract.pdf]")
    assert "Jan Kowalski" in sent
    [decision] = decisions(slack)
    assert decision.region == "eu" and "PERSON" in decision.entity_types.split(",")
    assert stored_user_turns(slack) == [sent]  # remembered as the model read it
    [answer] = slack.api.thread_messages(event["ts"])
    assert "answer from" in answer["text"] and "Note" not in answer["text"]


async def test_a_docx_alone_is_the_message_and_is_pinned(slack: SlackHarness) -> None:
    letter = slack.api.add_file("offer.docx", docx("Dear Anna Schmidt,", "we are pleased to offer you the position.",
                                                   table=[["Start", "1 June"], ["Salary", "4,200 EUR"]]),
                                mimetype=DOCX)
    event = file_share("", letter)
    await slack.send_event(event)
    await slack.settle()
    assert slack.llm.models_called() == ["eu-small"]
    sent = slack.llm.requests[0]["messages"][-1]["content"]
    assert sent.startswith("[Attached file: offer.docx]\nDear Anna Schmidt,")
    assert "Salary | 4,200 EUR" in sent
    [decision] = decisions(slack)
    assert decision.region == "eu" and "PERSON" in decision.entity_types.split(",")


async def test_spreadsheets_reach_the_model_and_follow_ups_remember_them(slack: SlackHarness) -> None:
    sheet = slack.api.add_file("q3.xlsx", xlsx([["Region", "Revenue"], ["North", 1200], ["South", 900]]),
                               mimetype=XLSX)
    table = slack.api.add_file("costs.csv", b"item;cost\nvan;300\nfuel;120\n", mimetype="text/csv")
    event = file_share("Which region sold more?", sheet, table)
    await slack.send_event(event)
    await slack.settle()
    sent = slack.llm.requests[0]["messages"][-1]["content"]
    assert "# Sales\nRegion | Revenue\nNorth | 1200\nSouth | 900" in sent
    assert "[Attached file: costs.csv]\nitem | cost\nvan | 300\nfuel | 120" in sent
    await slack.send_event(dm("And by how much?", thread_ts=event["ts"]))
    await slack.settle()
    history = slack.llm.requests[1]["messages"]
    assert any("North | 1200" in m["content"] for m in history if m["role"] == "user")  # the file is remembered


async def test_an_image_gets_the_localised_answer_naming_what_is_read(slack: SlackHarness) -> None:
    slack.api.users["USTAFF001"] = {"locale": "de-DE"}
    photo = slack.api.add_file("whiteboard.png", b"\x89PNG\r\n\x1a\n" + bytes(64), mimetype="image/png")
    event = file_share("", photo)
    assert await slack.send_event(event) == 200
    await slack.settle()
    [message] = slack.api.thread_messages(event["ts"])
    assert message["text"].startswith("whiteboard.png kann ich nicht lesen: Ich lese PDF, Word (.docx), Excel")
    assert slack.llm.requests == [] and slack.api.downloads == []  # nothing fetched, nothing sent
    assert stored_user_turns(slack) == [""]  # the message itself is kept


async def test_with_text_an_unreadable_file_is_noted_and_the_text_answered(slack: SlackHarness) -> None:
    archive = slack.api.add_file("drafts.zip", b"PK\x05\x06" + bytes(18), mimetype="application/zip")
    event = file_share("What should we check in a supplier contract?", archive)
    await slack.send_event(event)
    await slack.settle()
    [message] = slack.api.thread_messages(event["ts"])
    assert message["text"].startswith("I can't read drafts.zip: I read PDF, Word (.docx), Excel (.xlsx), CSV")
    assert "answer from" in message["text"]
    assert slack.llm.requests[0]["messages"][-1]["content"] == "What should we check in a supplier contract?"


async def test_an_oversized_file_is_not_downloaded_and_the_answer_says_the_limit(make_slack: Any) -> None:
    slack: SlackHarness = await make_slack(SWITCHBOARD_FILE_MAX_MB="0.01")  # 10 KiB
    big = slack.api.add_file("minutes.txt", b"Meeting minutes.\n" * 2_000, mimetype="text/plain")
    told_small = slack.api.add_file("notes.txt", b"Meeting minutes.\n" * 2_000, mimetype="text/plain", size=100)
    event = file_share("", big)
    await slack.send_event(event)
    await slack.settle()
    [message] = slack.api.thread_messages(event["ts"])
    assert message["text"] == "minutes.txt: too large for me to read (the limit is 0.01 MB per file)."
    assert slack.api.downloads == []  # Slack said its size: not fetched at all
    event = file_share("", told_small)  # a size that lies: the download stops at the cap
    await slack.send_event(event)
    await slack.settle()
    [message] = slack.api.thread_messages(event["ts"])
    assert message["text"].startswith("notes.txt: too large for me to read")
    assert slack.llm.requests == []


async def test_a_file_without_urls_is_said_to_be_not_downloaded(slack: SlackHarness) -> None:
    """A Slack Connect file not yet shared with the app comes without its URLs (mode: file_access)."""
    event = file_share("", {"id": "F12345678", "mode": "file_access", "file_access": "check_file_info"})
    await slack.send_event(event)
    await slack.settle()
    [message] = slack.api.thread_messages(event["ts"])
    assert message["text"].startswith("file: I could not download it.")
