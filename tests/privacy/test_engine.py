from __future__ import annotations

import asyncio
import logging

import pytest

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


async def test_fails_closed_on_timeout() -> None:
    from privacy import build_privacy_engine

    slow = build_privacy_engine(timeout_s=0.01)

    def sleepy(segments: object) -> None:
        import time
        time.sleep(0.2)

    slow._analyze_segments = sleepy  # type: ignore[method-assign,assignment]
    verdict = await slow.assess([Segment("message", "hello")], rules=PrivacyRules())
    assert verdict.failed_closed
    assert verdict.contains_pii
    await asyncio.sleep(0.25)


async def test_no_personal_data_in_logs_or_verdict_reason(engine: PrivacyEngine,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="privacy")
    text = "Przekaż pani Bożenie Wrzeciono, PESEL 44051401359, tel. 601 234 567."
    verdict = await engine.assess([Segment("message", text)], rules=PrivacyRules())
    blob = caplog.text + verdict.reason + repr(verdict)
    for value in ("Bożenie", "Wrzeciono", "44051401359", "601 234 567"):
        assert value not in blob
