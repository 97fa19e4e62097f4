"""Files sent with a message: not read yet, and the user is told so in their language (never "empty")."""

from __future__ import annotations

from typing import Any

from tests.slack.conftest import SlackHarness, dm


def file_share(text: str, *names: str) -> dict[str, Any]:
    """A file_share message event as Slack sends it (files trimmed to the fields that matter here)."""
    event = dm(text)
    event["subtype"] = "file_share"
    event["upload"] = True
    event["files"] = [{"id": f"F0FILE{i:04d}", "name": name, "title": name, "mimetype": "application/pdf",
                       "filetype": "pdf", "size": 48_213, "mode": "hosted",
                       "url_private": f"https://files.slack.com/files-pri/T0TEAM001-F0FILE{i:04d}/{name}"}
                      for i, name in enumerate(names)]
    return event


async def test_a_file_without_text_is_not_called_empty(slack: SlackHarness) -> None:
    slack.api.users["USTAFF001"] = {"locale": "de-DE"}
    event = file_share("", "Vertrag_2026.pdf")
    assert await slack.send_event(event) == 200
    await slack.settle()
    [message] = slack.api.thread_messages(event["ts"])
    assert message["text"].startswith("Angehängte Dateien kann ich noch nicht lesen (Vertrag_2026.pdf)")
    assert "leer" not in message["text"]
    assert slack.llm.requests == []


async def test_a_file_with_text_is_answered_and_the_note_says_it_was_not_read(slack: SlackHarness) -> None:
    event = file_share("What should we check in this contract?", "contract.pdf", "annex.docx")
    await slack.send_event(event)
    await slack.settle()
    [message] = slack.api.thread_messages(event["ts"])
    assert message["text"].startswith("Note: I can't read attached files yet (contract.pdf, annex.docx)")
    assert "answer from" in message["text"]
    sent = slack.llm.requests[0]["messages"][-1]["content"]
    assert sent == "What should we check in this contract?"  # the file names go to no model


async def test_a_slack_connect_file_without_a_name_is_still_a_file(slack: SlackHarness) -> None:
    event = file_share("")
    event["files"] = [{"id": "F12345678", "mode": "file_access", "file_access": "check_file_info"}]
    await slack.send_event(event)
    await slack.settle()
    [message] = slack.api.thread_messages(event["ts"])
    assert "(file)" in message["text"]
