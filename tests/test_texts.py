"""The bot's own texts say what happened (issue 14): no "fallback" when preferred models only lack keys,
no "(?)" for a thread pinned by its history, no "no keys configured" when offline is forced, no "only any
region", no "your message is saved" when it was not. Real pipeline, real SQL, fake provider on loopback."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bot.adapters.slack_render import footer
from bot.adapters.teams_cards import footer_text
from bot.i18n import SUPPORTED, TEXTS, t
from bot.memory.models import Decision, Message
from bot.types import ChatMessage, ReplyKind
from privacy.verdict import PrivacyAction, PrivacyVerdict, Sensitivity
from routing.policy import load_policy
from routing.router import decide
from tests.conftest import FAKE_KEYS, ServicesFactory
from tests.fakes.openai_server import FakeOpenAI


def msg(text: str, *, locale: str = "en", thread: str = "t1") -> ChatMessage:
    return ChatMessage(platform="test", tenant="T", channel="C", thread=thread, user="U1", text=text, locale=locale)


def test_every_text_exists_in_every_language() -> None:
    assert all(set(table) >= set(SUPPORTED) for table in TEXTS.values())


async def test_a_model_without_a_key_skipped_is_not_called_a_fallback(make_services: ServicesFactory,
                                                                        fake_llm: FakeOpenAI) -> None:
    services = await make_services(environ={"FAKE_EU_KEY": "sk-eu"})  # the rule's US models have no key
    reply = await services.pipeline.handle(msg("Summarise: the van arrives on Tuesday and leaves on Friday."))
    assert reply.kind is ReplyKind.ANSWER and reply.model == "openai/eu-small"
    assert not reply.fallback
    for locale in SUPPORTED:
        assert t("slack_footer_fallback", locale) not in (footer(reply, locale) or "")
    assert "fallback" not in footer_text(reply)
    with Session(services.memory.engine) as s:
        assert not s.exec(select(Decision)).one().fallback


@pytest.mark.parametrize("locale", SUPPORTED)
async def test_a_thread_pinned_by_its_history_says_so(make_services: ServicesFactory, locale: str) -> None:
    services = await make_services(environ={})  # offline: the reply describes the privacy verdict
    await services.pipeline.handle(msg("Write to jan.nowak@example.com that the order shipped.", locale=locale))
    reply = await services.pipeline.handle(msg("Now make the tone friendlier.", locale=locale))
    assert reply.kind is ReplyKind.OFFLINE and reply.region == "eu"
    assert "(?)" not in reply.text
    assert t("privacy_sticky", locale, regions="eu/local") in reply.text


@pytest.mark.parametrize("locale", SUPPORTED)
async def test_forced_offline_mode_does_not_claim_missing_keys(make_services: ServicesFactory, locale: str) -> None:
    services = await make_services(environ=FAKE_KEYS, SWITCHBOARD_OFFLINE=True)
    reply = await services.pipeline.handle(msg("Summarise: the van arrives on Tuesday.", locale=locale))
    assert reply.kind is ReplyKind.OFFLINE
    assert "SWITCHBOARD_OFFLINE" in reply.text
    assert reply.text.split("]")[0] != t("offline", locale, task="", model="", region="", tier="", privacy="",
                                         env="").split("]")[0]  # not the "no provider keys" label


async def test_keys_missing_everywhere_still_says_so(make_services: ServicesFactory) -> None:
    services = await make_services(environ={})
    reply = await services.pipeline.handle(msg("Summarise: the van arrives on Tuesday."))
    assert reply.text.startswith("[offline mode — no provider keys configured]")


def test_personal_data_allowed_everywhere_is_not_called_any_region_only() -> None:
    verdict = PrivacyVerdict(level=Sensitivity.PERSONAL, action=PrivacyAction.PSEUDONYMISE, allowed_regions=None,
                             reason="personal data pseudonymised")
    decision = decide(policy=load_policy(), task="general", task_confidence=0.9, verdict=verdict)
    assert "only any region" not in decision.reason
    assert "every region allowed" in decision.reason


@pytest.mark.parametrize("locale", SUPPORTED)
async def test_a_message_that_could_not_be_saved_is_not_called_saved(make_services: ServicesFactory,
                                                                     locale: str) -> None:
    services = await make_services()
    # a lone surrogate (JSON allows "\ud800") cannot be encoded for the database
    reply = await services.pipeline.handle(msg("Hello \ud800 there", locale=locale))
    assert reply.kind is ReplyKind.ERROR
    assert reply.text == t("internal_unsaved", locale) != t("internal", locale)
    with Session(services.memory.engine) as s:
        assert s.exec(select(Message)).all() == []
