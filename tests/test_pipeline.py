"""End to end through the real pipeline: real Presidio, real classifier, real SQL, LiteLLM over HTTP
to a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import itertools

from sqlmodel import Session, col, select

from bot.commands import CommandContext, CommandProcessor
from bot.memory.models import Decision, Message
from bot.types import ChatMessage, ReplyKind
from tests.conftest import ServicesFactory
from tests.fakes.openai_server import FakeOpenAI, Fault
from tests.postgres import PostgresServer


def msg(text: str, *, thread: str = "t1", user: str = "U1", locale: str = "en", event_id: str = "") -> ChatMessage:
    return ChatMessage(platform="test", tenant="T", channel="C", thread=thread, user=user, text=text, locale=locale,
                       event_id=event_id)


async def test_chosen_model_is_called_over_http_and_turn_is_stored(make_services: ServicesFactory,
                                                                   fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    reply = await services.pipeline.handle(msg("Summarise: the van arrives on Tuesday and leaves on Friday."))
    assert reply.kind is ReplyKind.ANSWER
    assert fake_llm.models_called() == ["us-small"]
    assert reply.model == "openai/us-small" and reply.region == "us"
    assert reply.text.startswith("answer from us-small")
    assert reply.cost_usd > 0
    with Session(services.memory.engine) as s:
        texts = [(m.role, m.text) for m in s.exec(select(Message)).all()]
        decision = s.exec(select(Decision)).one()
    assert texts[0] == ("user", "Summarise: the van arrives on Tuesday and leaves on Friday.")
    assert texts[1] == ("assistant", reply.text)
    assert decision.outcome == "answered" and decision.model == "openai/us-small"
    assert decision.prompt_tokens > 0 and decision.completion_tokens > 0 and decision.cost_usd == reply.cost_usd


async def test_next_turn_carries_the_history(make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    await services.pipeline.handle(msg("What is a good name for a newsletter about valves?"))
    await services.pipeline.handle(msg("Make it shorter."))
    second = fake_llm.requests[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[1]["content"] == "What is a good name for a newsletter about valves?"
    assert second[3]["content"] == "Make it shorter."
    other = await services.pipeline.handle(msg("Hello there", thread="t2"))
    assert other.kind is ReplyKind.ANSWER
    assert len(fake_llm.requests[2]["messages"]) == 2  # a new thread starts without history


async def test_personal_data_is_answered_by_an_eu_model_only(make_services: ServicesFactory,
                                                             fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    text = "Draft a reply to anna.kowalska@example.pl and call her back on +48 601 234 567 about the offer."
    reply = await services.pipeline.handle(msg(text))
    assert reply.region == "eu"
    assert fake_llm.models_called() == ["eu-small"]
    with Session(services.memory.engine) as s:
        decision = s.exec(select(Decision)).one()
    assert decision.sensitivity == "personal"
    assert "EMAIL_ADDRESS" in decision.entity_types
    assert "anna" not in decision.entity_types.lower() and "601" not in decision.reason  # types only, no values


async def test_thread_with_personal_data_stays_pinned(make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    await services.pipeline.handle(msg("Write to jan.nowak@example.com that the order shipped."))
    reply = await services.pipeline.handle(msg("Now make the tone friendlier."))
    assert reply.region == "eu"
    assert fake_llm.models_called() == ["eu-small", "eu-small"]


async def test_a_follow_up_keeps_its_threads_task(make_services: ServicesFactory) -> None:
    services = await make_services()
    await services.pipeline.handle(msg("Draft an offer for Hoffmann Logistik for 12 pallet racks, delivery in May."))
    await services.pipeline.handle(msg("Now make it shorter."))
    await services.pipeline.handle(msg("Hello? Did you get my last message?"))
    await services.pipeline.handle(msg("Now make it shorter.", thread="t2"))  # no thread behind it
    with Session(services.memory.engine) as s:
        decisions = s.exec(select(Decision).order_by(col(Decision.id))).all()
    assert [d.task for d in decisions[:3]] == ["creative", "creative", "creative"]
    assert "follow-up in a thread" in decisions[1].reason
    assert decisions[3].task != "creative"


async def test_fallback_stays_inside_the_allowed_region(make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    fake_llm.fail("eu-small", Fault(status=500), Fault(status=500), Fault(status=500))
    reply = await services.pipeline.handle(msg("Send the contract to piotr.zielinski@example.pl please."))
    assert reply.kind is ReplyKind.ANSWER and reply.fallback
    assert reply.model == "openai/eu-large"
    assert not any(m.startswith("us-") for m in fake_llm.models_called())


async def test_every_allowed_model_down_gives_a_clear_apology(make_services: ServicesFactory,
                                                              fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    for model in ("eu-small", "eu-large"):
        fake_llm.fail(model, *[Fault(status=503)] * 3)
    reply = await services.pipeline.handle(msg("Call Maria Schmidt at +49 151 23456789 tomorrow", locale="de"))
    assert reply.kind is ReplyKind.ERROR
    assert "Entschuldigung" in reply.text
    assert not any(m.startswith("us-") for m in fake_llm.models_called())


async def test_offline_mode_labels_the_answer_and_names_the_model(make_services: ServicesFactory,
                                                                 fake_llm: FakeOpenAI) -> None:
    services = await make_services(environ={})
    reply = await services.pipeline.handle(msg("Summarise: the van arrives on Tuesday."))
    assert reply.kind is ReplyKind.OFFLINE
    assert "offline" in reply.text and "openai/us-small" in reply.text and "FAKE_US_KEY" in reply.text
    assert fake_llm.requests == []


async def test_missing_key_for_the_chosen_region_names_the_variable(make_services: ServicesFactory,
                                                                    fake_llm: FakeOpenAI) -> None:
    services = await make_services(environ={"FAKE_US_KEY": "sk-us"})  # online, but no EU key
    reply = await services.pipeline.handle(msg("Email ola.nowak@example.pl the invoice."))
    assert reply.kind is ReplyKind.ERROR
    assert "FAKE_EU_KEY" in reply.text
    assert fake_llm.requests == []  # never re-routed to the US model that has a key


async def test_empty_and_oversized_messages_get_clear_errors(make_services: ServicesFactory,
                                                             fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    empty = await services.pipeline.handle(msg("   "))
    assert empty.kind is ReplyKind.ERROR and "empty" in empty.text
    huge = await services.pipeline.handle(msg("x" * 100_000, locale="pl"))
    assert huge.kind is ReplyKind.ERROR and "100000" in huge.text and "16000" in huge.text
    assert fake_llm.requests == []


async def test_retried_delivery_is_taken_once(make_services: ServicesFactory) -> None:
    services = await make_services()
    first = msg("hi", event_id="Ev1")
    assert await services.pipeline.is_new_delivery(first)
    assert not await services.pipeline.is_new_delivery(first)


async def test_an_admitted_message_is_stored_once_and_answered_with_its_history(
        make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    await services.pipeline.handle(msg("What is a good name for a newsletter about valves?"))
    question = msg("Make it shorter.", event_id="Ev9")
    admission = await services.pipeline.admit(question)
    assert admission is not None and admission.turn is not None
    assert await services.pipeline.admit(question) is None  # the platform's retry
    reply = await services.pipeline.handle(question, admission=admission)
    assert reply.kind is ReplyKind.ANSWER
    assert [m["role"] for m in fake_llm.requests[-1]["messages"]] == ["system", "user", "assistant", "user"]
    with Session(services.memory.engine) as s:
        assert len(s.exec(select(Message).where(Message.text == "Make it shorter.")).all()) == 1
    invalid = await services.pipeline.admit(msg("   ", event_id="Ev10"))
    assert invalid is not None and invalid.turn is None  # claimed, not stored: it only gets its explanation
    assert (await services.pipeline.handle(msg("   "), admission=invalid)).kind is ReplyKind.ERROR


async def test_with_the_database_down_the_user_is_told_nothing_was_taken(
        make_services: ServicesFactory, pg: PostgresServer, fake_llm: FakeOpenAI) -> None:
    services = await make_services(SWITCHBOARD_DATABASE_URL=pg.url)
    pg.stop()
    reply = await services.pipeline.handle(msg("Summarise: the van arrives on Tuesday.", locale="de"))
    assert reply.kind is ReplyKind.ERROR and reply.text.startswith("Entschuldigung — ich erreiche meine Datenbank")
    assert fake_llm.requests == []


async def test_streaming_delivers_growing_partials(make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    partials: list[str] = []

    async def on_partial(text: str) -> None:
        partials.append(text)

    reply = await services.pipeline.handle(msg("What time is the canteen open?"), on_partial=on_partial)
    assert len(partials) > 2
    assert all(b.startswith(a) for a, b in itertools.pairwise(partials))
    assert partials[-1] == reply.text
    assert fake_llm.requests[0]["stream"] is True


async def test_pseudonymised_request_hides_values_from_the_provider_and_restores_them(
        make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    admin = CommandContext(platform="test", tenant="T", channel="C", user="boss", is_admin=True)
    commands = CommandProcessor(memory=services.memory, policies=services.policies)
    assert (await commands.execute(admin, "policy pin personal pseudonymise")).ok
    partials: list[str] = []

    async def on_partial(text: str) -> None:
        partials.append(text)

    reply = await services.pipeline.handle(msg("Email anna.kowalska@example.pl that the order shipped."),
                                           on_partial=on_partial)
    sent = fake_llm.requests[0]["messages"][-1]["content"]
    assert "anna.kowalska" not in sent
    assert "<EMAIL_ADDRESS_1>" in sent
    assert fake_llm.models_called() == ["us-small"]  # pseudonymised data may use the cheapest model
    assert "anna.kowalska@example.pl" in reply.text
    assert "<EMAIL_ADDRESS_1>" not in reply.text
    assert all("<EMAIL" not in p for p in partials)


async def test_semantic_cache_serves_a_paraphrase_once_and_obeys_the_policy(
        make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    first = await services.pipeline.handle(msg("How do I reset my VPN password?", thread="a"))
    second = await services.pipeline.handle(msg("How can I reset my VPN password?", thread="b", user="U2"))
    assert second.cached
    assert second.text == first.text
    assert len(fake_llm.requests) == 1
    different = await services.pipeline.handle(msg("How do I reset my email password?", thread="c"))
    assert not different.cached
    admin = CommandContext(platform="test", tenant="T", channel="C", user="boss", is_admin=True)
    commands = CommandProcessor(memory=services.memory, policies=services.policies)
    task = second.task or "general"
    assert (await commands.execute(admin, f"policy cache {task} off")).ok
    again = await services.pipeline.handle(msg("How do I reset my VPN password?", thread="d"))
    assert not again.cached



async def test_warm_up_imports_litellm(make_services: ServicesFactory) -> None:
    """LiteLLM's import (3-6 s with its cost map) is part of warm-up (run in a thread, before readiness),
    not left to the first staff message on the event loop."""
    from routing.litellm_env import import_litellm

    services = await make_services()
    import_litellm.cache_clear()
    await services.warm_up(all_models=True)  # what serve does before /readyz says ready
    assert import_litellm.cache_info().currsize == 1
