"""Teams end to end: activities posted over HTTP to the production app; replies read from a fake
Bot Framework connector; answers from the fake OpenAI-compatible server; real privacy and routing."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.adapters.teams import TeamsOptions
from bot.memory.models import AuditEntry
from tests.fakes.openai_server import FakeOpenAI
from tests.teams.conftest import ADMIN, ADMIN_IDENTITY, BOT_ID, TeamsFactory
from tests.teams.fake_connector import FakeConnector


async def test_personal_chat_streams_then_sends_final_message_with_footer_card(
        make_teams: TeamsFactory, connector: FakeConnector, fake_llm: FakeOpenAI) -> None:
    teams = await make_teams()
    assert await teams.say("Summarise: the van arrives on Tuesday and leaves on Friday.") == 200
    calls = connector.calls
    informative, *updates, final = calls
    assert informative.type == "typing" and informative.stream == {
        "type": "streaminfo", "streamType": "informative", "streamSequence": 1}
    assert informative.text == "Working on it…"
    stream_id = informative.id
    assert updates and all(u.type == "typing" and u.stream is not None for u in updates)
    assert [u.stream["streamSequence"] for u in updates if u.stream] == list(range(2, len(updates) + 2))
    assert all(u.stream and u.stream["streamId"] == stream_id and u.stream["streamType"] == "streaming"
               for u in updates)
    assert all(b.text.startswith(a.text) for a, b in itertools.pairwise(updates))  # cumulative text
    assert final.text.startswith(updates[-1].text.rstrip())
    assert final.type == "message" and final.text.startswith("answer from us-small")
    assert final.stream == {"type": "streaminfo", "streamType": "final", "streamId": stream_id}
    assert final.body["channelData"]["streamType"] == "final"
    footer = final.cards[0]
    assert "openai/us-small · us · $" in footer["body"][0]["text"]
    assert "actions" not in footer  # votes: Teams' own 👍/👎 (tests/teams/test_feedback_loop.py)
    assert final.body["channelData"]["feedbackLoopEnabled"] is True
    assert fake_llm.models_called() == ["us-small"]


async def test_channel_mention_is_removed_reply_chain_is_one_conversation(
        make_teams: TeamsFactory, connector: FakeConnector, fake_llm: FakeOpenAI) -> None:
    teams = await make_teams()
    assert await teams.say("Which Switchboard plan fits a team of 12?", conv="channel", mention=True) == 200
    assert await teams.say("And for 40 people?", conv="channel", mention=True) == 200
    other_chain = "19:general@thread.tacv2;messageid=1700000000999"
    assert await teams.say("Hello there", conv="channel", mention=True, conversation_id=other_chain) == 200
    first, second, third = (r["messages"] for r in fake_llm.requests)
    assert first[-1]["content"] == "Which Switchboard plan fits a team of 12?"  # only the <at> mention went
    assert [m["content"] for m in second[1:]] == [first[-1]["content"], teams_answer(connector, 0),
                                                  "And for 40 people?"]
    assert len(third) == 2  # a new reply chain starts without history
    assert not any(c.stream for c in connector.calls)  # no streaming outside personal chat
    assert [c.type for c in connector.calls].count("message") == 3
    assert "typing" in [c.type for c in connector.calls]
    assert {c.conversation_id for c in connector.messages()} == {
        "19:general@thread.tacv2;messageid=1700000000001", other_chain}


def teams_answer(connector: FakeConnector, index: int) -> str:
    return connector.messages()[index].text


async def test_group_chat_gets_a_single_message(make_teams: TeamsFactory, connector: FakeConnector) -> None:
    teams = await make_teams()
    assert await teams.say("What is a good name for a newsletter about valves?", conv="groupChat",
                           mention=True) == 200
    [message] = connector.messages()
    assert message.stream is None and message.cards


async def test_personal_data_is_answered_by_an_eu_model(make_teams: TeamsFactory, connector: FakeConnector,
                                                        fake_llm: FakeOpenAI) -> None:
    teams = await make_teams()
    text = "Draft a reply to anna.kowalska@example.pl and call her back on +48 601 234 567 about the offer."
    assert await teams.say(text, conv="channel", mention=True) == 200
    assert fake_llm.models_called() == ["eu-small"]
    [message] = connector.messages()
    assert "openai/eu-small · eu ·" in message.cards[0]["body"][0]["text"]


async def test_teams_is_not_mounted_unless_configured(make_services: Any) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app

    services = await make_services(SWITCHBOARD_ADMINS=ADMIN_IDENTITY)  # no app id, no development switch
    async with TestClient(TestServer(build_app(services), host="127.0.0.1")) as client:
        admin_command = {"type": "message", "id": "1", "channelId": "msteams", "serviceUrl": "http://127.0.0.1:9/",
                         "from": {"id": "29:x", "aadObjectId": ADMIN}, "recipient": {"id": BOT_ID},
                         "conversation": {"id": "a:1"}, "text": "model disable openai/us-small"}
        resp = await client.post("/api/messages", json=admin_command)
        assert resp.status == 404  # no anonymous door: the admin command never ran
        assert (await client.get("/healthz")).status == 200


@pytest.mark.parametrize(("env", "host", "refused"), [
    ({"SWITCHBOARD_TEAMS_ANONYMOUS": "true"}, "0.0.0.0", True),
    ({"SWITCHBOARD_TEAMS_ANONYMOUS": "true"}, "127.0.0.1", False),
    ({"SWITCHBOARD_TEAMS_ANONYMOUS": "force"}, "0.0.0.0", False),
    ({"TEAMS_APP_ID": "id-only"}, "127.0.0.1", True),
    ({"TEAMS_APP_ID": "id", "TEAMS_APP_PASSWORD": "pw"}, "0.0.0.0", False),
    ({}, "0.0.0.0", False),
])
def test_anonymous_teams_is_refused_on_a_public_address(env: dict[str, str], host: str, refused: bool) -> None:
    from bot.errors import ConfigurationError
    from bot.settings import Settings

    settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    if refused:
        with pytest.raises(ConfigurationError):
            settings.check_teams_bind(host)
    else:
        settings.check_teams_bind(host)


async def test_a_colleagues_mention_is_a_name_the_privacy_check_reads(
        make_teams: TeamsFactory, fake_llm: FakeOpenAI) -> None:
    teams = await make_teams()
    body = teams.activity("<at>Switchboard</at> please ask <at>Pranav Smith</at> to review the Q3 offer",
                          conv="channel")
    body["entities"] = [
        {"type": "mention", "text": "<at>Switchboard</at>", "mentioned": {"id": BOT_ID, "name": "Switchboard"}},
        {"type": "mention", "text": "<at>Pranav Smith</at>",
         "mentioned": {"id": "29:colleague", "name": "Pranav Smith"}},
    ]
    status, _ = await teams.post(body)
    assert status == 200
    assert fake_llm.models_called() == ["eu-small"]  # a person is named: never a US model
    assert fake_llm.requests[0]["messages"][-1]["content"] == "please ask Pranav Smith to review the Q3 offer"


async def test_admin_commands_change_policy_at_once_and_show_it_as_a_card(
        make_teams: TeamsFactory, connector: FakeConnector) -> None:
    teams = await make_teams()
    await teams.say("policy show", user=ADMIN, conv="channel", mention=True)
    card = connector.messages()[-1].cards[0]
    assert card["body"][0]["text"] == "Policy v1"
    assert {"title": "general", "value": "task → openai/us-small, openai/us-premium, openai/eu-small, "
                                         "openai/eu-large"} in card["body"][3]["facts"]
    await teams.say("policy strategy general cascade", user=ADMIN)
    assert "Policy v2 is in force" in connector.messages()[-1].text
    assert (await teams.services.policies.current()).rules["general"].strategy.value == "cascade"
    await teams.say("policy set general openai/nope", user=ADMIN)
    assert (await teams.services.policies.current()).version == 2  # invalid change refused
    with Session(teams.services.memory.engine) as s:
        audit = [(a.actor, a.allowed) for a in s.exec(select(AuditEntry)).all()]
    assert audit == [(ADMIN_IDENTITY, True)] * 2  # the change and the rejected change; `policy show` only reads


async def test_non_admin_is_refused_in_their_language_and_audited(
        make_teams: TeamsFactory, connector: FakeConnector, fake_llm: FakeOpenAI) -> None:
    teams = await make_teams()
    await teams.say("policy pin personal block", locale="pl-PL")
    assert connector.messages()[-1].text.startswith("Przepraszam, tylko administratorzy")
    assert (await teams.services.policies.current()).version == 1
    with Session(teams.services.memory.engine) as s:
        [entry] = s.exec(select(AuditEntry)).all()
    assert not entry.allowed and entry.command == "policy pin personal block"
    await teams.say("   ", conv="channel", mention=True, locale="pl-PL")
    assert connector.messages()[-1].text.startswith("Twoja wiadomość jest pusta")
    assert fake_llm.requests == []


async def test_why_and_forget(make_teams: TeamsFactory, connector: FakeConnector) -> None:
    teams = await make_teams()
    await teams.say("Translate 'good morning' into German.", conv="channel", mention=True)
    await teams.say("why", conv="channel", mention=True)
    assert "model *openai/us-small* (us)" in connector.messages()[-1].text
    await teams.say("forget", conv="channel", mention=True, locale="da-DK")
    assert connector.messages()[-1].text.startswith("Færdig: Jeg har slettet 2")


async def test_auth_on_rejects_unauthenticated_requests(make_teams: TeamsFactory, connector: FakeConnector,
                                                        fake_llm: FakeOpenAI) -> None:
    teams = await make_teams(TEAMS_APP_ID="00000000-0000-0000-0000-00000000beef", TEAMS_APP_PASSWORD="secret")
    body = teams.activity("hello")
    assert (await teams.post(body))[0] == 401
    assert (await teams.post(body, headers={"Authorization": "Bearer not-a-jwt"}))[0] == 401
    forged = "Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2V2aWwifQ.c2ln"
    assert (await teams.post(body, headers={"Authorization": forged}))[0] == 401
    assert (await teams.post(teams.activity(None, kind="conversationUpdate")))[0] == 401
    assert connector.calls == [] and fake_llm.requests == []


async def test_malformed_activities_get_400_and_unknown_types_are_ignored(
        make_teams: TeamsFactory, connector: FakeConnector) -> None:
    teams = await make_teams()
    resp = await teams.client.post("/api/messages", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    deep = b"[" * 100_000 + b"]" * 100_000  # RecursionError in the parser, before authentication
    resp = await teams.client.post("/api/messages", data=deep, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    digits = b'{"type": "message", "x": ' + b"9" * 5_000 + b"}"  # Python refuses ints over 4,300 digits
    resp = await teams.client.post("/api/messages", data=digits, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    for body in ([1, 2], {"text": "no type"}, teams.activity("x", serviceUrl="ftp://x"),
                 teams.activity("x", conversation="c1"), teams.activity("x", **{"from": {"name": "no id"}}),
                 teams.activity("x", entities="nope"), {**teams.activity(None), "text": 42},
                 teams.activity("x", id={}), teams.activity("x", locale=5), teams.activity("x", replyToId=[1]),
                 teams.activity("x", recipient={"id": {"a": 1}}), teams.activity("x", entities=[{"type": []}]),
                 teams.activity("x", conversation={"id": "c", "isGroup": "yes"}), teams.activity("x", entities=[None])):
        assert (await teams.post(body))[0] == 400, body
    resp = await teams.client.post("/api/messages", data=b"hi", headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    for kind in ("conversationUpdate", "messageReaction", "somethingNew"):
        assert (await teams.post(teams.activity(None, kind=kind)))[0] == 200
    status, _ = await teams.post(teams.activity(None, kind="invoke", name="unknown/thing"))
    assert status == 200
    for value in ("x", 42, ["a"], {"actionName": "feedback", "actionValue": "up"}):  # odd shapes: ignored, no 5xx
        status, _ = await teams.post(teams.activity(None, kind="invoke", name="message/submitAction", value=value))
        assert 200 <= status < 500, value
    assert [c.type for c in connector.calls] == []


async def test_json_is_read_as_utf8_whatever_charset_is_declared(make_teams: TeamsFactory,
                                                                    connector: FakeConnector) -> None:
    teams = await make_teams()
    body = json.dumps(teams.activity("Write a haiku about valves.", conv="groupChat")).encode()
    resp = await teams.client.post("/api/messages", data=body,
                                   headers={"Content-Type": "application/json; charset=bogus"})
    assert resp.status == 200 and connector.messages()


async def test_redelivered_activity_is_answered_once(make_teams: TeamsFactory, connector: FakeConnector,
                                                     fake_llm: FakeOpenAI) -> None:
    teams = await make_teams()
    body = teams.activity("Write a haiku about valves.", conv="groupChat")
    assert (await teams.post(body))[0] == 200
    assert (await teams.post(body))[0] == 200
    assert len(fake_llm.requests) == 1 and len(connector.messages()) == 1


async def test_throttled_connector_is_retried(make_teams: TeamsFactory, connector: FakeConnector) -> None:
    teams = await make_teams()
    connector.fail(429, retry_after=0.01)
    connector.fail(502)
    assert await teams.say("Write a haiku about valves.", conv="groupChat") == 200
    assert connector.rejected == [429, 502]
    assert len(connector.messages()) == 1


async def test_a_connector_answering_html_is_a_502(make_teams: TeamsFactory, connector: FakeConnector) -> None:
    teams = await make_teams()
    connector.fail(502, times=4, html=True)  # a proxy's error page: no JSON to read, nothing to retry on
    assert await teams.say("Write a haiku about valves.", conv="groupChat") == 502
    assert connector.rejected and set(connector.rejected) == {502}  # the typing indicator and the answer
    connector.faults.clear()
    assert await teams.say("Write a haiku about pumps.", conv="groupChat") == 200


async def test_slow_answer_is_delivered_proactively(make_teams: TeamsFactory, connector: FakeConnector,
                                                    fake_llm: FakeOpenAI) -> None:
    teams = await make_teams(options=TeamsOptions(turn_budget_s=0.2, stream_interval_s=0.0, typing_interval_s=0.05,
                                                  retry_base_s=0.01, retry_max_s=0.05))
    fake_llm.delay_s = 1.0
    started = asyncio.get_running_loop().time()
    asked = teams.activity("Write a haiku about valves.", conv="channel", mention=True)
    assert (await teams.post(asked))[0] == 200
    assert asyncio.get_running_loop().time() - started < 0.9  # the HTTP turn ended before the answer
    assert connector.messages()[0].text.startswith("This takes a little longer")
    connector.fail(429, times=2, retry_after=0.01)
    await connector.wait_for(lambda calls: sum(c.type == "message" for c in calls) == 2)
    answer = connector.messages()[1]
    assert answer.text.startswith("answer from us-small") and answer.cards
    assert answer.activity_id == asked["id"] == answer.body.get("replyToId")  # a reply to the staff message
    assert answer.conversation_id == asked["conversation"]["id"]  # in its reply chain (`;messageid=`)
    assert connector.rejected == [429, 429]


async def test_slow_answer_in_personal_chat_closes_the_stream_proactively(
        make_teams: TeamsFactory, connector: FakeConnector, fake_llm: FakeOpenAI) -> None:
    teams = await make_teams(options=TeamsOptions(turn_budget_s=0.2, stream_interval_s=0.0, retry_base_s=0.01))
    fake_llm.delay_s = 0.6
    assert await teams.say("Write a haiku about valves.") == 200
    await connector.wait_for(lambda calls: any(c.type == "message" for c in calls))
    informative, final = connector.calls[0], connector.messages()[0]
    assert final.stream == {"type": "streaminfo", "streamType": "final", "streamId": informative.id}


async def test_a_mention_counts_as_a_person_even_by_a_nickname(
        make_teams: TeamsFactory, fake_llm: FakeOpenAI) -> None:
    """"Bobo" is no name the analyzer knows; the mention entity says it is someone."""
    teams = await make_teams()
    body = teams.activity("<at>Switchboard</at> please ask <at>Bobo</at> to review the Q3 offer", conv="channel")
    body["entities"] = [
        {"type": "mention", "text": "<at>Switchboard</at>", "mentioned": {"id": BOT_ID, "name": "Switchboard"}},
        {"type": "mention", "text": "<at>Bobo</at>", "mentioned": {"id": "29:colleague", "name": "Bobo"}},
    ]
    status, _ = await teams.post(body)
    assert status == 200
    assert fake_llm.models_called() == ["eu-small"]
    assert fake_llm.requests[0]["messages"][-1]["content"] == "please ask Bobo to review the Q3 offer"
