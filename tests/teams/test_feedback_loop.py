"""Teams as an AI app, through the real botbuilder stack and the fake connector: answers labelled AI-generated
with Teams' own 👍/👎 (feedbackLoopEnabled), the message/submitAction vote answered with an empty 200 and stored
through the database's activity → decision mapping (any replica can take it), and an introduction card when the
app is added to a conversation, once."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from bot.memory.models import Decision, Feedback, SentAnswer
from tests.teams.conftest import BOT_ID, TeamsFactory, TeamsHarness
from tests.teams.fake_connector import FakeConnector

AI_LABEL = {"type": "https://schema.org/Message", "@type": "Message", "@context": "https://schema.org",
            "additionalType": ["AIGeneratedContent"]}


def vote(teams: TeamsHarness, reply_to: str, reaction: str, **extra: object) -> dict[str, object]:
    """The invoke Teams sends when someone presses its 👍/👎 under a message and submits the form."""
    return teams.activity(None, kind="invoke", name="message/submitAction", replyToId=reply_to,
                          value={"actionName": "feedback",
                                 "actionValue": {"reaction": reaction, "feedback": '{"feedbackText":"ok"}'}},
                          **extra)


def votes(teams: TeamsHarness) -> list[tuple[int, int]]:
    with Session(teams.services.memory.engine) as s:
        return [(v.decision_id, v.score) for v in s.exec(select(Feedback)).all()]


async def test_answers_are_labelled_and_carry_teams_feedback_buttons(
        make_teams: TeamsFactory, connector: FakeConnector) -> None:
    teams = await make_teams()
    await teams.say("Write a slogan for our pumps.", conv="groupChat")
    [final] = connector.messages()
    assert final.body["channelData"] == {"feedbackLoopEnabled": True}
    assert AI_LABEL in final.body["entities"]
    with Session(teams.services.memory.engine) as s:
        [row] = s.exec(select(SentAnswer)).all()
        decision = s.exec(select(Decision)).one()
    assert (row.platform, row.message_ref, row.decision_id) == ("teams", final.id, decision.id)
    await teams.say("why", conv="groupChat")  # a command's reply is no model answer: no label, no buttons
    command = connector.messages()[-1]
    assert "feedbackLoopEnabled" not in (command.body.get("channelData") or {})
    assert AI_LABEL not in (command.body.get("entities") or [])


async def test_a_vote_is_answered_with_an_empty_200_and_stored_by_any_replica(
        make_teams: TeamsFactory, connector: FakeConnector, tmp_path: Path) -> None:
    db = {"SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    first = await make_teams(**db)
    await first.say("Write a slogan for our pumps.")
    final = connector.messages()[-1]
    resp = await first.client.post("/api/messages", json=vote(first, final.id, "like"))
    assert resp.status == 200 and await resp.read() == b""  # as Teams documents: no body
    [(decision_id, score)] = votes(first)
    assert score == 1
    second = await make_teams(**db)  # another replica, which never saw the answer go out
    status, body = await second.post(vote(second, final.id, "dislike"))
    assert (status, body) == (200, "")
    assert votes(second) == [(decision_id, -1)]  # the later vote wins
    assert [c.type for c in connector.calls if c.type == "invokeResponse"] == []  # nothing posted back


async def test_votes_for_unknown_or_foreign_answers_count_for_nothing(
        make_teams: TeamsFactory, connector: FakeConnector) -> None:
    teams = await make_teams()
    await teams.say("Write a slogan for our pumps.")
    final = connector.messages()[-1]
    assert (await teams.post(vote(teams, "act-unknown", "like")))[0] == 200
    assert (await teams.post(vote(teams, final.id, "like", conversation={
        "id": "a:personal-chat-1", "conversationType": "personal", "tenantId": "another-tenant"},
        channelData={"tenant": {"id": "another-tenant"}})))[0] == 200
    assert (await teams.post(vote(teams, final.id, "meh")))[0] == 200
    assert votes(teams) == []


async def test_votes_from_footer_buttons_of_earlier_versions_still_count(
        make_teams: TeamsFactory, connector: FakeConnector) -> None:
    teams = await make_teams()
    await teams.say("Write a slogan for our pumps.")
    with Session(teams.services.memory.engine) as s:
        decision_id = s.exec(select(Decision)).one().id
    assert decision_id is not None
    assert await teams.say(None, value={"switchboard": "feedback", "decision_id": decision_id, "score": -1}) == 200
    assert connector.messages()[-1].text == "Thanks for the feedback!"
    assert votes(teams) == [(decision_id, -1)]
    await teams.say(None, value={"switchboard": "feedback", "decision_id": 999_999, "score": 1}, locale="de-DE")
    assert connector.messages()[-1].text.startswith("Diese Antwort gibt es nicht mehr")


async def test_added_to_a_team_the_bot_introduces_itself_once(
        make_teams: TeamsFactory, connector: FakeConnector) -> None:
    teams = await make_teams()
    added = teams.activity(None, kind="conversationUpdate", conv="channel", locale="de-DE",
                           conversation_id="19:general@thread.tacv2",
                           membersAdded=[{"id": BOT_ID}, {"id": "29:someone"}])
    assert (await teams.post(added))[0] == 200
    [welcome] = connector.messages()
    assert welcome.conversation_id == "19:general@thread.tacv2"
    assert welcome.text.startswith("Hallo! Ich bin Switchboard")
    [card] = welcome.cards
    assert card["body"][0]["text"] == "Switchboard"
    assert card["body"][2]["text"].startswith("Im Chat mit mir schreibst du einfach")
    again = {**added, "id": "msg-redelivered"}  # installed again, or delivered twice: no second introduction
    assert (await teams.post(again))[0] == 200
    joined = teams.activity(None, kind="conversationUpdate", conv="groupChat",
                            membersAdded=[{"id": "29:new-colleague"}])  # someone else joined: nothing to say
    assert (await teams.post(joined))[0] == 200
    assert len(connector.messages()) == 1
    personal = teams.activity(None, kind="conversationUpdate", membersAdded=[{"id": BOT_ID}])
    assert (await teams.post(personal))[0] == 200
    assert connector.messages()[-1].text.startswith("Hi! I'm Switchboard")
