from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy import PrivacyAction, PrivacyEngine, PrivacyRules, Segment, Sensitivity
from privacy.verdict import Finding


async def test_verdict_covers_history_and_system_prompt(engine: PrivacyEngine) -> None:
    segments = [Segment("system", "You are a helpful assistant."),
                Segment("history", "Earlier: please call Anna Nowak on +48 601 234 567."),
                Segment("message", "Summarise the thread above.")]
    verdict = await engine.assess(segments, rules=PrivacyRules())
    assert verdict.contains_pii
    assert verdict.action is PrivacyAction.PIN
    assert {f.segment for f in verdict.findings} == {"history"}
    assert verdict.allows("eu")
    assert not verdict.allows("us")


async def test_clean_message_is_allowed_anywhere(engine: PrivacyEngine) -> None:
    verdict = await engine.assess([Segment("message", "Write a haiku about valves.")], rules=PrivacyRules())
    assert not verdict.contains_pii
    assert verdict.action is PrivacyAction.ALLOW
    assert verdict.allows("us")


async def test_special_category_raises_level(engine: PrivacyEngine) -> None:
    verdict = await engine.assess([Segment("message", "Frau Ilse Brandt ist krankgeschrieben.")],
                                  rules=PrivacyRules())
    assert verdict.level is Sensitivity.SPECIAL


def test_rules_are_data() -> None:
    rules = PrivacyRules.model_validate({
        "entity_actions": {"NATIONAL_ID": "block", "EMAIL_ADDRESS": "pseudonymise"},
        "levels": {"IP_ADDRESS": "internal"},
    })
    pesel = Finding("NATIONAL_ID_PESEL", 0, 11, 0.95)
    mail = Finding("EMAIL_ADDRESS", 0, 5, 0.95)
    ip = Finding("IP_ADDRESS", 0, 5, 0.9)
    assert rules.verdict([pesel, mail], language="pl").action is PrivacyAction.BLOCK
    assert rules.verdict([mail], language="pl").action is PrivacyAction.PSEUDONYMISE
    assert not rules.verdict([ip], language="pl").contains_pii


async def test_fails_closed_on_error(engine: PrivacyEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(text: str, *, language: str | None = None) -> None:
        raise RuntimeError("analyzer broke")

    monkeypatch.setattr(engine, "analyze", boom)
    verdict = await engine.assess([Segment("message", "hello")], rules=PrivacyRules())
    assert verdict.failed_closed
    assert verdict.contains_pii
    assert not verdict.allows("us")


async def test_fails_closed_on_timeout_and_the_work_really_stops() -> None:
    """A budget that runs out pins the request AND stops the analysis thread (no orphan that keeps
    working and allocating): the engine's single worker is free again within about one chunk."""
    import time

    from privacy import build_privacy_engine

    slow = build_privacy_engine(timeout_s=0.3, workers=1, cache_size=0)
    slow.warm_up()
    text = "Spotkanie z Anną Nowak w Krakowie przeniesiono na czwartek, sala 4. " * 3_000  # ~200k chars
    started = time.perf_counter()
    unbounded = slow.analyze(text[:20_000])  # how long ~10 chunks take on this machine
    per_chunk = (time.perf_counter() - started) / 10
    started = time.perf_counter()
    verdict = await slow.assess([Segment("message", text)], rules=PrivacyRules())
    assert verdict.failed_closed and verdict.contains_pii and not verdict.allows("us")
    await slow.run_in_worker(lambda: None)  # queued behind the timed-out analysis, if it still ran
    freed = time.perf_counter() - started
    assert unbounded.findings  # the text does hold persons: the budget, not the text, stopped it
    assert freed < 0.3 + 3 * per_chunk + 0.2, (freed, per_chunk)  # the whole text would take ~100 chunks


def test_deadline_in_the_past_stops_before_any_work(engine: PrivacyEngine) -> None:
    import time

    from privacy.analyzer import AnalysisTimeout

    with pytest.raises(AnalysisTimeout):
        engine.analyze(f"Anna Nowak {time.time_ns()}", deadline=time.monotonic() - 1)


async def test_no_personal_data_in_logs_or_verdict_reason(engine: PrivacyEngine,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="privacy")
    text = "Przekaż pani Bożenie Wrzeciono, PESEL 44051401359, tel. 601 234 567."
    verdict = await engine.assess([Segment("message", text)], rules=PrivacyRules())
    blob = caplog.text + verdict.reason + repr(verdict)
    for value in ("Bożenie", "Wrzeciono", "44051401359", "601 234 567"):
        assert value not in blob


@settings(max_examples=300, deadline=None, database=None)
@given(text=st.text(alphabet=st.sampled_from("ab .\n,;"), max_size=9_000), size=st.integers(40, 3_000))
def test_chunks_cover_the_text_within_size_and_always_advance(text: str, size: int) -> None:
    from privacy.analyzer import chunks

    pieces = chunks(text, size=size, overlap=size // 10)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(text)
    assert all(0 <= s < e <= s + size or (s == e == len(text) == 0) for s, e in pieces)
    assert all(b[0] > a[0] and b[0] <= a[1] for a, b in itertools.pairwise(pieces))  # no gap


def test_long_text_findings_keep_their_positions(engine: PrivacyEngine) -> None:
    filler = "Wir besprechen die Lieferung der Ventile für das nächste Quartal. " * 60
    text = filler + "Bitte ruf Frau Ilse Brandtner unter +49 30 1234 5678 an. " + filler
    found = {(f.entity_type, text[f.start:f.end]) for f in engine.analyze(text, language="de").findings}
    assert ("PERSON", "Ilse Brandtner") in found
    assert ("PHONE_NUMBER", "+49 30 1234 5678") in found


async def test_first_use_of_a_language_loads_its_model_outside_the_budget() -> None:
    from privacy import build_privacy_engine

    cli_like = build_privacy_engine(timeout_s=0.3)
    cli_like.warm_up(models=False)  # as the CLI starts: no model loaded yet (loading one takes ~1 s)
    verdict = await cli_like.assess([Segment("message", "Przekaż pani Bożenie Wrzeciono umowę.")],
                                    rules=PrivacyRules())
    assert not verdict.failed_closed
    assert "PERSON" in verdict.entity_types


def test_a_fresh_process_runs_blas_single_threaded_after_warm_up() -> None:
    # in a new process numpy (and its OpenBLAS) is first loaded by the analyzer's construction: the limit
    # must still reach it, or every MiniLM and NER matrix product runs two BLAS threads on a loaded core
    code = ("from threadpoolctl import threadpool_info\n"
            "from privacy.engine import build_privacy_engine\n"
            "build_privacy_engine().warm_up()\n"
            "print(sorted({i['num_threads'] for i in threadpool_info() if i['internal_api'] == 'openblas'}))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[1]"
