"""Semantic cache with the real MiniLM embedder (loaded once per session)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import ConfigurationError
from routing.cache import (
    Embedder,
    SemanticCache,
    build_embedder,
    load_guard_rules,
    near_miss_reason,
    signature,
)
from routing.cache_words import DEFAULT_WORDS_FILE, content_difference, load_word_rules, words_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    emb = build_embedder()
    emb.embed(["warm up"])
    return emb


@pytest.fixture
def cache(embedder: Embedder) -> SemanticCache:
    return SemanticCache(embedder=embedder)


PARAPHRASES = [
    ("How do I change my Outlook password?", "How can I change my Outlook password?"),
    ("Summarise the audit report in three bullet points.", "Please summarize the audit report in three bullet points."),
    ("Wie kann ich meinen Urlaub beantragen?", "Wie beantrage ich meinen Urlaub?"),
    ("Jak zgłosić awarię drukarki?", "Jak mogę zgłosić awarię drukarki?"),
    ("Hvordan bestiller jeg visitkort?", "Hvordan kan jeg bestille visitkort?"),
    ("Cum schimb parola de la email?", "Cum pot schimba parola de la email?"),
    ("Как оформить командировку?", "Как мне оформить командировку?"),
    # compounds split or joined, separable verbs, the object moved
    ("Wo reiche ich meine Reisekostenabrechnung ein?", "Wo kann ich die Abrechnung meiner Reisekosten einreichen?"),
    ("Hvordan booker jeg et mødelokale?", "Hvordan kan jeg booke et lokale til et møde?"),
    ("How do I print double-sided from Word?", "From Word, how can I print double-sided?"),
    # known-equivalent words (routing/data/cache_lexicon.yaml), light words, prepositions of one relation
    ("Can you book a desk for the visitor?", "Could you reserve a desk for the visitor?"),
    ("Welche Unterlagen brauche ich für den Zollantrag?", "Welche Dokumente benötige ich für den Zollantrag?"),
    ("Куда сдавать путевой лист?", "Куда сдать путевой лист?"),
    ("Where can I find the canteen menu?", "Where is the canteen menu?"),
    ("Write a thank-you note for the supplier.", "Write a thank-you note to the supplier."),
    ("How do I get access to the drive of the sales team?", "How do I get access to the sales team's drive?"),
]

NEAR_MISSES = [
    ("numbers", "Summarise the audit report in three bullet points.", "Summarise the audit report in 5 bullet points."),
    ("numbers", "Can we ship order 7781 by truck?", "Can we ship order 7718 by truck?"),
    ("content words", "Tell Jonas that the canteen is closed.", "Tell Petra that the canteen is closed."),
    ("content words", "Send the price list to Bosch.", "Send the price list to Siemens."),
    ("entities", "How do I export contacts from SAP?", "How do I export contacts from MES?"),
    ("direction", "Translate EN→DE: 'Your order has shipped.'", "Translate DE→EN: 'Your order has shipped.'"),
    ("language of the text", "Wie beantrage ich Urlaub?", "Jak złożyć wniosek o urlop?"),
    ("content words", "What is the VAT rate for cleaning services?", "What is the VAT rate for catering services?"),
    ("content words", "Wie hoch ist die Mehrwertsteuer auf Reinigungsleistungen?",
     "Wie hoch ist die Mehrwertsteuer auf Beratungsleistungen?"),
    ("function words", "What is the notice period during probation?", "What is the notice period after probation?"),
    ("dates", "Book the meeting room for Tuesday.", "Book the meeting room for Thursday."),
    ("dates", "Przypomnij mi jutro o przeglądzie auta.", "Przypomnij mi dziś o przeglądzie auta."),
    ("negation", "Why does the scanner work in hall B?", "Why does the scanner not work in hall B?"),
    ("negation", "Warum druckt der Drucker?", "Warum druckt der Drucker nicht?"),
    ("reversed", "Convert 250 EUR to PLN.", "Convert 250 PLN to EUR."),
    ("languages", "Translate into German: 'See you on Friday.'", "Translate into Danish: 'See you on Friday.'"),
    ("languages", "Oversæt fra tysk til engelsk.", "Oversæt fra engelsk til tysk."),
    ("quoted text", "Translate to Polish: 'The order shipped.'", "Translate to Polish: 'The order is late.'"),
    ("opposites", "How do I increase the margin in Word?", "How do I reduce the margin in Word?"),
    ("opposites", "Ist die Kantine offen?", "Ist die Kantine geschlossen?"),
    ("content words", "Where is the spare printer kept?", "Where is the spare scanner kept?"),
    # a synonym does not join two different objects, and a light word does not hide a substituted one
    ("content words", "Reserve a parking space for the visitor.", "Reserve a desk for the visitor."),
    ("content words", "Where can I find the canteen menu?", "Where can I find the canteen staff?"),
    ("dates", "Book a desk for Monday.", "Reserve a desk for Tuesday."),
]


@pytest.mark.parametrize(("first", "second"), PARAPHRASES)
def test_paraphrases_hit(cache: SemanticCache, first: str, second: str) -> None:
    assert cache.would_hit(first, second)


@pytest.mark.parametrize(("guard", "first", "second"), NEAR_MISSES)
def test_near_misses_are_refused_by_the_right_guard(cache: SemanticCache, guard: str, first: str, second: str) -> None:
    rules = load_guard_rules()
    assert near_miss_reason(signature(first, rules), signature(second, rules)) == guard
    assert not cache.would_hit(first, second)


def test_unrelated_requests_miss(cache: SemanticCache) -> None:
    assert not cache.would_hit("Write a job ad for a welder.", "How do I reset my VPN password?")


async def test_store_then_lookup_returns_the_answer(cache: SemanticCache) -> None:
    await cache.store(
        tenant="acme", user=None, task="general", text="Is the office open on Sunday?", answer="No.", model="m1"
    )
    hit = await cache.lookup(tenant="acme", user=None, task="general", text="Is the office open on Sunday ?")
    assert hit is not None
    assert (hit.answer, hit.model, hit.key_text) == ("No.", "m1", "Is the office open on Sunday?")
    assert hit.similarity >= 0.9


async def test_tenants_and_users_do_not_share(cache: SemanticCache) -> None:
    text = "When is the payslip for Jonas ready?"
    await cache.store(tenant="acme", user="u1", task="general", text=text, answer="Friday", model="m")
    assert await cache.lookup(tenant="acme", user="u1", task="general", text=text) is not None
    assert await cache.lookup(tenant="acme", user="u2", task="general", text=text) is None
    assert await cache.lookup(tenant="acme", user=None, task="general", text=text) is None
    assert await cache.lookup(tenant="other", user="u1", task="general", text=text) is None
    assert await cache.lookup(tenant="acme", user="u1", task="analysis", text=text) is None


async def test_entries_expire_after_ttl(embedder: Embedder) -> None:
    clock = FakeClock()
    cache = SemanticCache(embedder=embedder, ttl_s=60, clock=clock)
    await cache.store(tenant="t", user=None, task="general", text="Where is the first-aid kit?", answer="a", model="m")
    clock.now += 59
    assert await cache.lookup(tenant="t", user=None, task="general", text="Where is the first-aid kit?")
    clock.now += 2
    assert await cache.lookup(tenant="t", user=None, task="general", text="Where is the first-aid kit?") is None
    assert len(cache) == 0


@pytest.mark.parametrize("enabled", [{"general"}, lambda task: task == "general"])
async def test_admins_disable_caching_per_task(embedder: Embedder, enabled: object) -> None:
    cache = SemanticCache(embedder=embedder, enabled_tasks=enabled)  # type: ignore[arg-type]
    for task in ("general", "analysis"):
        await cache.store(tenant="t", user=None, task=task, text="Check the contract.", answer="ok", model="m")
    assert await cache.lookup(tenant="t", user=None, task="general", text="Check the contract.")
    assert await cache.lookup(tenant="t", user=None, task="analysis", text="Check the contract.") is None
    assert len(cache) == 1


async def test_lru_bound_evicts_the_least_recently_used(embedder: Embedder) -> None:
    cache = SemanticCache(embedder=embedder, max_entries=2)
    texts = ["Where is the canteen?", "How do I order toner?", "Who approves overtime?"]
    await cache.store(tenant="t", user=None, task="general", text=texts[0], answer="0", model="m")
    await cache.store(tenant="t", user=None, task="general", text=texts[1], answer="1", model="m")
    assert await cache.lookup(tenant="t", user=None, task="general", text=texts[0])  # 0 is now the most recent
    await cache.store(tenant="t", user=None, task="general", text=texts[2], answer="2", model="m")
    assert await cache.lookup(tenant="t", user=None, task="general", text=texts[1]) is None
    assert await cache.lookup(tenant="t", user=None, task="general", text=texts[0])


async def test_clear_one_tenant(cache: SemanticCache) -> None:
    for tenant in ("a", "b"):
        await cache.store(tenant=tenant, user=None, task="general", text="Where is the canteen?", answer="x", model="m")
    cache.clear("a")
    assert await cache.lookup(tenant="a", user=None, task="general", text="Where is the canteen?") is None
    assert await cache.lookup(tenant="b", user=None, task="general", text="Where is the canteen?")
    cache.clear()
    assert len(cache) == 0


def test_broken_guard_file_says_how_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "guards.yaml"
    path.write_text("negations: [not]\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="restore the file"):
        load_guard_rules(path)


def test_broken_lexicon_says_how_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.yaml"
    path.write_text("synonyms: {en: [[book, reserve]]}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="restore the file"):
        load_word_rules(DEFAULT_WORDS_FILE, path)


def test_lexicon_pairs_words_only_within_one_group() -> None:
    rules = load_word_rules()
    def differ(first: str, second: str) -> tuple[frozenset[str], frozenset[str]]:
        pieces = [tuple((w,) for w in t.lower().split()) for t in (first, second)]
        return content_difference(words_of(pieces[0], "en", rules), words_of(pieces[1], "en", rules))
    assert differ("book room", "reserve room") == (frozenset(), frozenset())
    assert differ("find room", "room") == (frozenset(), frozenset())  # "find" is light
    assert differ("book room", "reserve desk") == (frozenset({"room"}), frozenset({"desk"}))
    assert differ("book room", "repair room") == (frozenset({"book"}), frozenset({"repair"}))


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=400), other=st.text(max_size=400),
       language=st.sampled_from(["en", "de", "pl", "da", "ro", "ru", None]))
def test_lexicon_agreement_takes_any_unicode_in_bounded_time(text: str, other: str, language: str | None) -> None:
    rules = load_word_rules()
    pieces = [tuple(tuple(w.lower().split("-")) for w in t.split()) for t in (text, other)]
    a, b = words_of(pieces[0], language, rules), words_of(pieces[1], language, rules)
    started = time.perf_counter()
    assert content_difference(a, a) == (frozenset(), frozenset())  # a text always agrees with itself
    only_a, only_b = content_difference(a, b)
    assert only_a <= a.content and only_b <= b.content
    assert time.perf_counter() - started < 0.5


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.text(max_size=400), second=st.text(max_size=400))
def test_guards_take_any_unicode_in_bounded_time(first: str, second: str) -> None:
    rules = load_guard_rules()
    a, b = signature(first, rules), signature(second, rules)
    started = time.perf_counter()
    assert near_miss_reason(a, a) is None  # a text always agrees with itself
    near_miss_reason(a, b)
    assert time.perf_counter() - started < 0.5


@settings(max_examples=200, deadline=1000)
@given(words=st.lists(st.text(alphabet=st.characters(categories=["L", "Pd"]), min_size=1, max_size=80), max_size=200))
def test_compound_splitting_is_bounded_on_long_words(words: list[str]) -> None:
    rules = load_guard_rules()
    a, b = signature(" ".join(words), rules), signature(" ".join(reversed(words)), rules)
    started = time.perf_counter()
    near_miss_reason(a, b)
    assert time.perf_counter() - started < 0.5
