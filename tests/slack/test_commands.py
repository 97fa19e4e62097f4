"""`/switchboard …` through Slack: the shared CommandProcessor, admin checks, audit, localisation."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.memory.models import AuditEntry, Conversation, Message
from tests.slack.conftest import ADMIN, ADMIN_IDENTITY, STAFF, SlackFactory, SlackHarness, dm
from tests.slack.fake_slack_api import TEAM


def last_response(slack: SlackHarness) -> str:
    body = slack.api.responses[-1]
    assert body["response_type"] == "ephemeral"
    return str(body["text"])


async def test_non_admin_policy_change_is_refused_and_audited(slack: SlackHarness) -> None:
    assert await slack.command("policy strategy general cascade") == 200
    await slack.settle()
    assert "only Switchboard admins" in last_response(slack)
    assert (await slack.services.policies.current()).version == 1
    with Session(slack.services.memory.engine) as s:
        [entry] = s.exec(select(AuditEntry)).all()
    assert (entry.actor, entry.allowed, entry.platform) == (f"slack:{TEAM}:{STAFF}", False, "slack")


async def test_refusal_in_the_users_locale(slack: SlackHarness) -> None:
    slack.api.users[STAFF] = {"locale": "de-DE"}
    await slack.command("model disable openai/us-small")
    await slack.settle()
    assert last_response(slack).startswith("Entschuldigung, nur Switchboard-Admins")


async def test_admin_change_applies_to_the_next_message(slack: SlackHarness) -> None:
    text = "Hello there, could you help me with something?"
    task = slack.services.classifier.classify(text).task
    await slack.command(f"policy set {task} openai/eu-large openai/eu-small", user=ADMIN)
    await slack.settle()
    assert "Policy v2 is in force" in last_response(slack)
    await slack.send_event(dm(text))
    await slack.settle()
    assert slack.llm.models_called() == ["eu-large"]
    history = await slack.services.memory.policy_history()
    assert (history[0].version, history[0].author) == (2, ADMIN_IDENTITY)


async def test_workspace_admins_are_not_admins_by_default(slack: SlackHarness) -> None:
    slack.api.users["UOWNER001"] = {"is_owner": True}
    await slack.command("model disable openai/us-small", user="UOWNER001")
    await slack.settle()
    assert "only Switchboard admins" in last_response(slack)
    assert (await slack.services.policies.current()).version == 1


async def test_workspace_admins_from_users_info_are_admins_when_the_setting_says_so(make_slack: SlackFactory) -> None:
    slack = await make_slack(SWITCHBOARD_SLACK_WORKSPACE_ADMINS="true")
    slack.api.users["UOWNER001"] = {"is_owner": True}
    await slack.command("model disable openai/us-small", user="UOWNER001")
    await slack.settle()
    assert "openai/us-small disabled" in last_response(slack)
    await slack.command("policy show", user="UOWNER001")
    await slack.settle()
    shown = last_response(slack)
    assert shown.startswith("```") and "DISABLED" in shown


async def test_why_explains_the_last_decision_in_the_channel(slack: SlackHarness) -> None:
    await slack.send_event(dm("Summarise: the van arrives on Tuesday."))
    await slack.settle()
    await slack.command("why", channel="D0DM00001")
    await slack.settle()
    assert "openai/us-small" in last_response(slack)


async def test_forget_erases_the_callers_conversations_and_confirms(slack: SlackHarness) -> None:
    slack.api.users[STAFF] = {"locale": "da-DK"}
    await slack.send_event(dm("Write a short job ad for a welder."))
    await slack.send_event(dm("Write a job ad for a driver.", user="UOTHER001"))
    await slack.settle()
    await slack.command("forget")
    await slack.settle()
    assert last_response(slack).startswith("Færdig: Jeg har slettet 2 af dine beskeder")  # question + answer
    with Session(slack.services.memory.engine) as s:
        assert {m.user for m in s.exec(select(Message)).all()} == {"UOTHER001"}
        assert {c.user for c in s.exec(select(Conversation)).all()} == {"UOTHER001"}


async def test_help_and_unknown_commands(slack: SlackHarness) -> None:
    await slack.command("")
    await slack.settle()
    assert "policy show" in last_response(slack)
    await slack.command("fly me to the moon")
    await slack.settle()
    assert "Unknown command" in last_response(slack)
