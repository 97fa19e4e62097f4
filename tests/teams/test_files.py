"""Files sent to the bot in Teams, through the real botbuilder stack: file download info attachments fetched
from their pre-authorised downloadUrl (served by the fake connector), read into the message, judged by the same
privacy verdict; images answered plainly in the user's language; Teams' own HTML copy of a message is no file."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.memory.models import Decision, Message
from tests.fakes.openai_server import FakeOpenAI
from tests.files.documents import docx, pdf
from tests.teams.conftest import TeamsFactory, TeamsHarness
from tests.teams.fake_connector import FakeConnector


def decisions(teams: TeamsHarness) -> list[Decision]:
    with Session(teams.services.memory.engine) as s:
        return list(s.exec(select(Decision).order_by(Decision.id)).all())


async def test_a_pdf_naming_a_person_is_read_and_pinned_to_an_eu_model(
        make_teams: TeamsFactory, connector: FakeConnector, fake_llm: FakeOpenAI) -> None:
    teams = await make_teams()
    contract = connector.add_file("contract.pdf", pdf(["Employment contract", "Employee: Jan Kowalski",
                                                        "Monthly salary: 5,000 EUR"]))
    assert await teams.say("Summarise this contract", attachments=[contract]) == 200
    assert connector.downloads == ["tok0001"]
    assert fake_llm.models_called() == ["eu-small"]
    sent = fake_llm.requests[0]["messages"][-1]["content"]
    assert sent.startswith("Summarise this contract\n\n[Attached file: contract.pdf]\nEmployment contract")
    assert "Jan Kowalski" in sent
    [decision] = decisions(teams)
    assert decision.region == "eu" and "PERSON" in decision.entity_types.split(",")
    with Session(teams.services.memory.engine) as s:
        assert [m.text for m in s.exec(select(Message).where(Message.role == "user")).all()] == [sent]
    final = connector.messages()[-1]
    assert final.text.startswith("answer from eu-small")


async def test_a_docx_alone_is_the_message_and_is_pinned(
        make_teams: TeamsFactory, connector: FakeConnector, fake_llm: FakeOpenAI) -> None:
    teams = await make_teams()
    letter = connector.add_file("offer.docx", docx("Dear Anna Schmidt,", "we are pleased to offer you the job."))
    assert await teams.say(None, attachments=[letter]) == 200
    assert fake_llm.models_called() == ["eu-small"]
    assert fake_llm.requests[0]["messages"][-1]["content"].startswith(
        "[Attached file: offer.docx]\nDear Anna Schmidt,")
    [decision] = decisions(teams)
    assert decision.region == "eu" and "PERSON" in decision.entity_types.split(",")


async def test_an_image_gets_the_localised_answer_and_html_is_no_file(
        make_teams: TeamsFactory, connector: FakeConnector, fake_llm: FakeOpenAI) -> None:
    teams = await make_teams()
    image = {"contentType": "image/*", "contentUrl": f"{connector.service_url}v3/attachments/img-1/views/original"}
    html = {"contentType": "text/html", "content": "<div>please check it</div>"}
    assert await teams.say(None, attachments=[image, html], locale="pl-PL") == 200
    texts = [m.text for m in connector.messages()]
    assert texts[-1].startswith("Nie umiem odczytać image/*: czytam pliki PDF, Word (.docx), Excel (.xlsx), CSV")
    assert fake_llm.requests == [] and connector.downloads == []
    assert await teams.say("please check it", attachments=[html]) == 200  # no file: answered as usual
    assert fake_llm.requests[-1]["messages"][-1]["content"] == "please check it"
    assert not connector.messages()[-1].text.startswith("Nie umiem")


async def test_an_oversized_file_gets_a_clear_answer(
        make_teams: TeamsFactory, connector: FakeConnector, fake_llm: FakeOpenAI) -> None:
    teams = await make_teams(SWITCHBOARD_FILE_MAX_MB="0.01")
    notes = connector.add_file("notes.md", b"# Minutes\n" + b"- item\n" * 3_000)
    assert await teams.say("Summarise these notes", attachments=[notes]) == 200
    final = connector.messages()[-1]
    assert final.text.startswith("notes.md: too large for me to read (the limit is 0.01 MB per file).")
    assert fake_llm.requests[0]["messages"][-1]["content"] == "Summarise these notes"
