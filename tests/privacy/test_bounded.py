"""Every reader of user text ends in bounded time and memory, whatever the text.

The privacy package reads every message, so an input that makes one reader loop, backtrack or
allocate without bound stalls or kills the bot (a capitalised particle alone once made
PersonRecognizer loop forever). Hypothesis feeds each reader arbitrary Unicode, text joined from
an adversarial vocabulary (particles in any case, honorifics, capitalised words, punctuation,
digits, "@", letters repeated thousands of times, "A-B-C-…" chains) and, for a few examples,
inputs of up to 16,000 characters; each call must

(a) return — a SIGALRM after ``HARD_LIMIT_S``, or once the process has grown by ``RUNAWAY_RSS_BYTES``,
    turns a runaway loop into a failure before it eats the machine's memory;
(b) take less than ``TIME_BOUND_S`` (the smaller of wall-clock and process CPU time, so other jobs on a
    shared machine do not count; measured here, so the bound is explicit);
(c) return no more than the input justifies, and only spans with 0 ≤ start < end ≤ len(text);
(d) peak below ``memory_bound(reader, len(text))`` of traced Python allocations (a second run under
    tracemalloc, whose overhead does not count against the time bound);
(e) at 16k, take at most ``GROWTH`` times as long as on a quarter of the text (no quadratic blow-up
    hiding under the time bound).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import cycle, islice

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from privacy import PrivacyEngine, PseudonymVault, build_privacy_engine
from privacy.langdetect import CANDIDATES, detect_languages
from privacy.lexicon import SUPPORTED, load_lexicon, stem_candidates
from privacy.names import PersonRecognizer
from privacy.pseudonymise import PLACEHOLDER
from privacy.recognizers import (
    AddressRecognizer,
    BirthDateRecognizer,
    CardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    NationalIdRecognizer,
    PhoneRecognizer,
    Recognizer,
    SpecialCategoryRecognizer,
)
from privacy.text import tokenize
from privacy.verdict import Finding

TIME_BOUND_S = 2.0  # per call, for inputs up to MAX_LEN characters (the engine's whole budget is 2 s)
HARD_LIMIT_S = 5.0  # a call still running after this is a runaway: interrupt it
RUNAWAY_RSS_BYTES = 256 << 20  # a call growing the process by this much is a runaway too: interrupt it
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
MAX_LEN = 16_000
GROWTH, GROWTH_SLACK_S = 8.0, 0.1  # 4× the input may take 8× the time (+ 0.1 s of noise), not 16×
LANGS = ("pl", "da", "ro", "ru", "de", "en", "nl")
LANGUAGE_CODES = frozenset({*CANDIDATES, "en", "ru", "uk"})


def memory_bound(name: str, length: int) -> int:
    """Peak traced bytes a call may allocate: 2 MB plus 3 kB per input character (50 MB at 16k; the rule
    readers peaked at 2.6 MB on 16k). The engine runs NER models over chunks of at most 2,000 characters,
    which take up to ~8 kB per character of a chunk (16 MB measured), whatever the length: 80 MB."""
    if name == "engine":
        return 80_000_000
    return 2_000_000 + 3_000 * length


# measuring -----------------------------------------------------------------------------------------


class Runaway(Exception):
    """A call still running after HARD_LIMIT_S, or growing the process by more than RUNAWAY_RSS_BYTES."""


def _rss() -> int:
    """Resident set size of this process (Linux; 0 elsewhere, which disables the memory guard)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return 0


@contextmanager
def hard_limit(seconds: float) -> Iterator[None]:
    """Interrupt the enclosed call after ``seconds`` or once it has grown the process by RUNAWAY_RSS_BYTES
    (a watcher thread signals the main thread); pytest-timeout's own alarm is put back afterwards."""
    why: list[str] = []

    def on_alarm(signum: int, frame: object) -> None:
        raise Runaway(why[0] if why else f"still running after {seconds:.0f} s")

    done = threading.Event()
    base = _rss()

    def watch() -> None:
        while base and not done.wait(0.05):
            if _rss() - base > RUNAWAY_RSS_BYTES:
                why.append(f"resident memory grew by more than {RUNAWAY_RSS_BYTES >> 20} MB")
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGALRM)
                return

    previous = signal.signal(signal.SIGALRM, on_alarm)
    outer_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    watcher = threading.Thread(target=watch, name="runaway-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay:
            signal.setitimer(signal.ITIMER_REAL, max(outer_delay - (time.monotonic() - started), 0.001))


@dataclass(frozen=True, slots=True)
class Output:
    """What a reader returned, reduced to what is bounded: how much came out, how much may, and spans."""

    size: int
    limit: int
    spans: tuple[tuple[int, int], ...] = ()


Call = Callable[[], Output]
Reader = Callable[[str, str], Call]  # (text, language) → the call to measure


@dataclass(frozen=True, slots=True)
class Measurement:
    seconds: float
    peak_bytes: int


def timed(call: Call) -> tuple[Output, float]:
    """The call's output and its time: the smaller of wall-clock and process CPU time, so that other
    jobs sharing the machine's cores (wall inflates) and library threads (CPU inflates) do not make a
    bounded call look unbounded; a call that blocks without computing is stopped by the hard limit."""
    with hard_limit(HARD_LIMIT_S):
        wall, cpu = time.perf_counter(), time.process_time()
        out = call()
        return out, min(time.perf_counter() - wall, time.process_time() - cpu)


def traced_peak(call: Call) -> int:
    """Peak of traced allocations during ``call`` above what was allocated before it."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with hard_limit(HARD_LIMIT_S * 6):  # the same call ended in time untraced; tracing slows it down
            call()
        _, peak = tracemalloc.get_traced_memory()
        return peak - before
    finally:
        if not was_tracing:
            tracemalloc.stop()


def assert_bounded(name: str, text: str, call: Call) -> Measurement:
    out, seconds = timed(call)
    n = len(text)
    assert seconds < TIME_BOUND_S, f"{name} took {seconds:.2f} s on {n} chars"
    assert 0 <= out.size <= out.limit, f"{name} returned {out.size} items for {n} chars (limit {out.limit})"
    bad = [(s, e) for s, e in out.spans if not 0 <= s < e <= n]
    assert not bad, f"{name} returned spans outside 0 ≤ start < end ≤ {n}: {bad[:5]}"
    peak = traced_peak(call)
    assert peak < memory_bound(name, n), f"{name} peaked at {peak / 1e6:.1f} MB on {n} chars"
    return Measurement(seconds, peak)


# the readers ---------------------------------------------------------------------------------------


def _findings(found: Sequence[Finding], text: str) -> Output:
    return Output(len(found), len(text), tuple((f.start, f.end) for f in found))


def _placeholder_len(entity_type: str) -> int:
    return len(f"<{entity_type}_999999>")  # PLACEHOLDER allows up to six digits


class Readers:
    """The readers by name; a short repr keeps hypothesis' falsifying examples readable."""

    def __init__(self, by_name: dict[str, Reader]) -> None:
        self._by_name = by_name

    def __getitem__(self, name: str) -> Reader:
        return self._by_name[name]

    def __repr__(self) -> str:
        return "readers"


def build_readers(engine: PrivacyEngine) -> Readers:
    lexicon = load_lexicon()
    persons = PersonRecognizer(lexicon)
    words = lexicon.words
    special = SpecialCategoryRecognizer({
        lang: words.get("special_categories", lang) | words.get("special_categories", "en") for lang in SUPPORTED
    })
    patterns: dict[str, Recognizer] = {
        "email": EmailRecognizer(), "iban": IbanRecognizer(), "card": CardRecognizer(),
        "national_id": NationalIdRecognizer(), "phone": PhoneRecognizer(), "ip": IpRecognizer(),
        "birth_date": BirthDateRecognizer(), "address": AddressRecognizer(), "special_category": special,
    }

    def tokens(text: str, lang: str) -> Call:
        def call() -> Output:
            toks = tokenize(text)
            assert all(text[t.start:t.end] == t.text for t in toks)
            return Output(len(toks), len(text), tuple((t.start, t.end) for t in toks))
        return call

    def language(text: str, lang: str) -> Call:
        def call() -> Output:
            guess = detect_languages(text)  # the word vote on short text, the n-gram model on long
            assert guess.plausible and set(guess.plausible) <= LANGUAGE_CODES, guess
            assert len(set(guess.plausible)) == len(guess.plausible), guess
            return Output(len(guess.plausible), len(LANGUAGE_CODES))
        return call

    def stems(text: str, lang: str) -> Call:
        items = [t.text for t in tokenize(text)] + [text]  # every word, and the whole text as one

        def call() -> Output:
            count = limit = 0
            for word in items:
                cands = stem_candidates(word)
                head = len(cands[0])  # the normalised word: NFC grows a string at most 3× (UAX #15)
                assert head <= 3 * len(word) and all(len(c) <= head for c in cands), (word, cands)
                count += len(cands)
                limit += 1 + 2 * head  # one stem per ending length, and at most one soft form per stem
            return Output(count, limit)
        return call

    def person(fixed: str | None) -> Reader:
        def reader(text: str, lang: str) -> Call:
            return lambda: _findings(persons.analyze(text, fixed or lang), text)
        return reader

    def pattern(name: str) -> Reader:
        rec = patterns[name]

        def reader(text: str, lang: str) -> Call:
            return lambda: _findings(rec.analyze(text, lang), text)
        return reader

    def whole_engine(text: str, lang: str) -> Call:
        def call() -> Output:
            result = engine.analyze(text)
            assert result.language in LANGUAGE_CODES, result.language
            return _findings(result.findings, text)
        return call

    def pseudonymise(text: str, lang: str) -> Call:
        findings = engine.analyze(text).findings  # not part of the measured call
        longest = max((f.end - f.start for f in findings), default=0)

        def call() -> Output:
            vault = PseudonymVault()
            safe = vault.pseudonymise("tenant", "conversation", text, findings)
            restored = vault.restore("tenant", "conversation", safe)
            assert len(restored) <= len(safe) + len(PLACEHOLDER.findall(safe)) * longest
            stream = vault.restorer("tenant", "conversation")
            streamed = "".join(stream.feed(safe[i:i + 7]) for i in range(0, len(safe), 7)) + stream.flush()
            assert streamed == restored  # a placeholder split across chunks is restored all the same
            return Output(len(safe), len(text) + sum(_placeholder_len(f.entity_type) for f in findings))
        return call

    readers: dict[str, Reader] = {
        "tokenize": tokens, "detect_language": language, "stem_candidates": stems, "person": person(None),
    }
    readers |= {f"person-{lang}": person(lang) for lang in LANGS}
    readers |= {name: pattern(name) for name in patterns}
    readers |= {"engine": whole_engine, "pseudonymise": pseudonymise}
    return Readers(readers)


PATTERNS = ("email", "iban", "card", "national_id", "phone", "ip", "birth_date", "address", "special_category")
TEXT = ("tokenize", "detect_language", "stem_candidates")
WHOLE = ("engine", "pseudonymise")  # everything at once, NER models included (and the vault on its findings)
PARTS = (*TEXT, *(f"person-{lang}" for lang in LANGS), *PATTERNS)
LONG_READERS = (*TEXT, "person", *PATTERNS, *WHOLE)  # at 16k one language per example


@pytest.fixture(scope="module")
def engine() -> PrivacyEngine:
    eng = build_privacy_engine(cache_size=0)  # no cache: the traced second call must redo the work
    eng.warm_up()
    return eng


@pytest.fixture(scope="module")
def readers(engine: PrivacyEngine) -> Readers:
    built = build_readers(engine)
    sample = "Anna Kowalski, tel. 601 234 567"
    for name in LONG_READERS:  # first use builds indexes (per language for names): not what is measured
        built[name](sample, "en")()
    for lang in LANGS:
        built["person"](sample, lang)()
    return built


# strategies ----------------------------------------------------------------------------------------

PARTICLES = ("de", "De", "DE", "den", "Den", "der", "Der", "la", "La", "van", "von", "da", "di", "le", "du", "zu",
             "ter")
HONORIFICS = ("Herr", "pan", "domnul", "господин", "Dr.")
CAPITALISED = ("Anna", "Kowalski", "Москва", "Ștefan")
PUNCTUATION = (".", ",", ";", ":", "!", "?", "-", "–", "—", '"', "„", "“", "«", "»", "'", "(", ")", "\n")
SEPARATORS = ("", " ", " ", " ", "  ", "\n", "\t", "\u00a0", "\u200b", ". ", ", ", "-", "'")
CHAIN_PARTS = ("A", "B", "C", "Ab", "Anna", "de", "van", "Ж", "ul.A", "Str.A", "1")
# marks, bidi controls, zero-width and joiners, RTL scripts, emoji sequences, case-mapping oddities
TRICKY = ("\u0301", "\u0308", "\u0327", "\u20dd", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202e",
          "\u2066", "\u2069", "\ufeff", "\u00ad", "\u034f", "\u061c", "שָׁלוֹם", "مرحبا", "👩‍👩‍👧", "🇵🇱", "👍🏽",
          "İ", "ẞ", "ǅ", "ﬀ", "ΐ", "\u0345", "Ⅻ", "𝔄", "ℌ", "ﷺ", "ᾈ", "\U000e0041", "\U0010fffd")


def any_case(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda upper: "".join(c.upper() if u else c.lower() for c, u in zip(word, upper, strict=True)))


def _repeat(letter: str, n: int, title: bool) -> str:
    return (letter.upper() + letter.lower() * (n - 1)) if title else letter * n


def _chain(parts: list[str], n: int) -> str:
    return "-".join(islice(cycle(parts), n))


def tile(unit: str, length: int) -> str:
    """``unit`` repeated to exactly ``length`` characters."""
    return (unit * (length // max(len(unit), 1) + 1))[:length] if unit else ""


long_tokens = st.builds(_repeat, st.sampled_from("aAzZßșжЖ"), st.integers(1, 5_000), st.booleans())
chains = st.builds(_chain, st.lists(st.sampled_from(CHAIN_PARTS), min_size=1, max_size=4), st.integers(2, 2_500))
short_pieces = st.one_of(
    st.sampled_from(PARTICLES).flatmap(any_case), st.sampled_from(HONORIFICS), st.sampled_from(CAPITALISED),
    st.sampled_from(PUNCTUATION), st.integers(0, 10**19).map(str), st.just("@"), st.sampled_from(TRICKY),
)
separators = st.sampled_from(SEPARATORS)


@st.composite
def adversarial(draw: st.DrawFn, max_pieces: int, max_long: int) -> str:
    """Short pieces with random separators, and up to ``max_long`` very long tokens or chains among them."""
    pairs = draw(st.lists(st.tuples(short_pieces, separators), max_size=max_pieces))
    for _ in range(draw(st.integers(0, max_long))):
        pairs.insert(draw(st.integers(0, len(pairs))), (draw(st.one_of(long_tokens, chains)), draw(separators)))
    return "".join(p + s for p, s in pairs)[:MAX_LEN]


unicode_text = st.one_of(
    st.text(),  # every code point Python allows (no lone surrogates)
    st.text(min_size=100, max_size=2_000),
    st.lists(st.one_of(st.characters(), st.sampled_from(TRICKY)), max_size=200).map("".join),
    st.text(st.characters(categories=["Mn", "Me", "Cf", "Zs", "Zl", "Zp", "Lu", "Lt", "Nd", "Pd"]), max_size=400),
)
adversarial_text = adversarial(60, 2)
# 16k inputs are a unit tiled to a length, so a failing example reads ``unit='A-', length=16000``
long_units = st.one_of(adversarial(12, 1), st.text(min_size=1, max_size=200))

# derandomized: the same examples on every run, so CI is not red by chance; HYPOTHESIS_EXPLORE=1 draws new
# ones (how a lone surrogate crashing spaCy's tokenizer was found; it is an explicit example now)
QUICK = settings(database=None, deadline=None, derandomize=not os.environ.get("HYPOTHESIS_EXPLORE"),
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# no shrinking where a call costs up to a second (16k inputs, the whole engine): each attempt would repeat
# it, and a failure must be reported well before pytest's timeout; the 16k unit already reads small
NO_SHRINK = settings(QUICK, phases=[Phase.explicit, Phase.generate])
LONG = settings(NO_SHRINK, max_examples=3)


# properties ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PARTS)
@settings(QUICK, max_examples=30)
@given(text=unicode_text, lang=st.sampled_from(LANGS))
@example(text="", lang="en")
@example(text="\u200f\u202eDe\u200d ce nu\u0301 merge?\ufeff", lang="ro")
def test_any_unicode_is_read_in_bounded_time_and_memory(readers: Readers, name: str, text: str,
                                                        lang: str) -> None:
    assert_bounded(name, text, readers[name](text, lang))


@pytest.mark.parametrize("name", WHOLE)
@settings(NO_SHRINK, max_examples=20)
@given(text=unicode_text)
@example(text="")
@example(text="n>J=\ufeff\udbb2\u0327\u0301שָׁלוֹם\u2069\u200d")  # a lone surrogate: spaCy cannot encode it
def test_engine_and_vault_read_any_unicode_in_bounded_time_and_memory(readers: Readers, name: str,
                                                                       text: str) -> None:
    assert_bounded(name, text, readers[name](text, "en"))


ADVERSARIAL_EXAMPLE = "De ce nu merge? Den jyske kyst. Der obere Teil ist leer. La sfârșitul lunii."


@pytest.mark.parametrize("name", PARTS)
@settings(QUICK, max_examples=30)
@given(text=adversarial_text, lang=st.sampled_from(LANGS))
@example(text=ADVERSARIAL_EXAMPLE, lang="ro")
@example(text="DE\nde\nDe", lang="de")
def test_adversarial_text_is_read_in_bounded_time_and_memory(readers: Readers, name: str, text: str,
                                                             lang: str) -> None:
    assert_bounded(name, text, readers[name](text, lang))


@pytest.mark.parametrize("name", WHOLE)
@settings(NO_SHRINK, max_examples=30)
@given(text=adversarial_text)
@example(text=ADVERSARIAL_EXAMPLE)
def test_engine_and_vault_read_adversarial_text_in_bounded_time_and_memory(readers: Readers, name: str,
                                                                            text: str) -> None:
    assert_bounded(name, text, readers[name](text, "en"))


@pytest.mark.parametrize("name", LONG_READERS)
@LONG
@given(unit=long_units, length=st.integers(MAX_LEN // 2, MAX_LEN), lang=st.sampled_from(LANGS))
@example(unit="A-", length=MAX_LEN, lang="de")  # a capital after every hyphen: each one a match start
@example(unit="ul.A-Str.A-", length=MAX_LEN, lang="pl")  # the same after street abbreviations
@example(unit="Ab.", length=MAX_LEN, lang="en")  # the most one-word name candidates 16k can hold
@example(unit="A" + "a" * 4_999 + " ", length=MAX_LEN, lang="de")  # long words: German compound search
@example(unit=ADVERSARIAL_EXAMPLE + " ", length=MAX_LEN, lang="da")
def test_16k_inputs_are_read_in_bounded_time_and_memory(readers: Readers, name: str, unit: str,
                                                        length: int, lang: str) -> None:
    text = tile(unit, length)
    measured = assert_bounded(name, text, readers[name](text, lang))
    assert_linear(name, readers[name], unit, length, lang, measured.seconds)


def assert_linear(name: str, reader: Reader, unit: str, length: int, lang: str, seconds: float) -> None:
    """(e) Four times the text takes at most ``GROWTH`` times as long: linear work grows 4×, quadratic 16×,
    so a reader that only just makes the time bound at 16k cannot hide a blow-up at 40k (a Slack message)."""
    quarter, text = tile(unit, length // 4), tile(unit, length)
    small = timed(reader(quarter, lang))[1]
    for _ in range(2):  # before failing, measure both again: on a busy machine single runs stall
        if seconds <= GROWTH * small + GROWTH_SLACK_S:
            return
        small = max(small, timed(reader(quarter, lang))[1])
        seconds = min(seconds, timed(reader(text, lang))[1])
    assert seconds <= GROWTH * small + GROWTH_SLACK_S, (
        f"{name} is not linear: {len(quarter)} chars took {small:.3f} s, {len(text)} chars {seconds:.3f} s "
        f"({seconds / max(small, 1e-6):.0f}×)")


# regressions: a capitalised particle alone made PersonRecognizer loop forever ----------------------

SENTENCES = ("De ce nu merge?", "Den jyske kyst.", "Der obere Teil ist leer.", "La sfârșitul lunii.")


def variants(sentence: str) -> list[str]:
    particle, rest = sentence.split(" ", 1)
    return [
        sentence, particle, f"{particle}.", f"{particle}?", f"{particle}\n", f"{particle.upper()} {rest}",
        f"{particle.lower()} {rest}", f"Ok. {sentence}", f"{sentence}\n{sentence}", f"«{particle}» {rest}",
        f"- {particle}", f"{particle} {particle} {particle}.", f"{particle} Anna Kowalski.", f"Anna {particle}",
        f"{particle}-{particle} {rest}", " ".join([sentence] * 200),
        *(f"{honorific} {particle} {rest}" for honorific in HONORIFICS),  # an honorific before the particle
        *(f"{honorific} {particle}" for honorific in HONORIFICS),
    ]


def assert_all_bounded(name: str, reader: Reader, texts: list[str], lang: str) -> None:
    """Every text checked, then every failure reported (not only the first)."""
    failures = []
    for text in texts:
        try:
            assert_bounded(name, text, reader(text, lang))
        except Runaway as exc:  # decisive, and each one costs HARD_LIMIT_S: stop here
            failures.append(f"{text[:60]!r}: Runaway: {exc}")
            break
        except Exception as exc:
            failures.append(f"{text[:60]!r}: {type(exc).__name__}: {exc}")
    if failures:
        pytest.fail(f"{name} failed on {len(failures)} of {len(texts)} texts:\n" + "\n".join(failures))


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("sentence", SENTENCES)
def test_sentence_starting_with_a_particle_ends(readers: Readers, sentence: str, lang: str) -> None:
    assert_all_bounded(f"person-{lang}", readers[f"person-{lang}"], variants(sentence), lang)


@pytest.mark.parametrize("sentence", SENTENCES)
def test_engine_reads_sentences_starting_with_a_particle(readers: Readers, sentence: str) -> None:
    assert_all_bounded("engine", readers["engine"], variants(sentence), "en")
