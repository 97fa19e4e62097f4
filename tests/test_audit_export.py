"""The audit trail (GDPR Art. 30): every model called is on the decision record, the export parses back,
and the residency check catches a record that reached a region its policy version did not allow."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from bot.audit import TrailFilter, attempts_of, verify_residency
from bot.cli import main
from bot.commands import CommandContext, CommandProcessor
from bot.memory.models import Decision
from bot.memory.store import SqlMemoryStore, build_memory_store
from bot.operations import check_residency, export_trail
from bot.types import ChatMessage, ReplyKind
from routing.policy import policy_from_data
from tests.conftest import ALL_TASKS, ServicesFactory, fake_policy
from tests.fakes.openai_server import FakeOpenAI, Fault


def msg(text_: str, *, thread: str = "t1", user: str = "U1") -> ChatMessage:
    return ChatMessage(platform="test", tenant="T", channel="C", thread=thread, user=user, text=text_)


def decisions(services: Any) -> list[Decision]:
    with Session(services.memory.engine) as s:
        return list(s.exec(select(Decision).order_by(col(Decision.id))).all())


# --- what a decision record holds ------------------------------------------------------------------


async def test_the_record_lists_every_model_tried_in_order_with_its_region(make_services: ServicesFactory,
                                                                          fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    fake_llm.fail("eu-small", Fault(status=500), Fault(status=500), Fault(status=500))
    reply = await services.pipeline.handle(msg("Send the contract to piotr.zielinski@example.pl please."))
    assert reply.kind is ReplyKind.ANSWER and reply.model == "openai/eu-large"
    [record] = decisions(services)
    assert attempts_of(record) == [
        {"model": "openai/eu-small", "region": "eu", "role": "answer", "calls": 3, "ok": False},
        {"model": "openai/eu-large", "region": "eu", "role": "answer", "calls": 1, "ok": True}]
    assert record.privacy_action == "pin" and record.sensitivity == "personal" and record.policy_version == 1
    assert record.fallback and record.region == "eu" and record.prompt_tokens > 0 and record.cost_usd > 0
    assert record.latency_ms > 0 and "EMAIL_ADDRESS" in record.entity_types
    assert fake_llm.models_called() == ["eu-small"] * 3 + ["eu-large"]
    why = await CommandProcessor(memory=services.memory, policies=services.policies).execute(
        CommandContext(platform="test", tenant="T", channel="C", user="U1", is_admin=False), "why")
    assert "Models called: openai/eu-small (eu, answer, failed) → openai/eu-large (eu, answer)" in why.text


async def test_ensemble_members_and_the_judge_are_on_the_record(make_services: ServicesFactory,
                                                               fake_llm: FakeOpenAI) -> None:
    rules = {t: {"strategy": "ensemble", "candidates": ["openai/eu-small", "openai/eu-large", "openai/us-small"]}
             for t in ALL_TASKS}
    services = await make_services(policy=fake_policy(fake_llm.base_url, **rules))
    reply = await services.pipeline.handle(msg("Compare two offers for a new forklift and list the risks."))
    assert reply.kind is ReplyKind.ANSWER
    [record] = decisions(services)
    calls = [(a["role"], a["model"]) for a in attempts_of(record)]
    members = sorted(m for r, m in calls if r == "member")
    assert members == ["openai/eu-large", "openai/eu-small", "openai/us-small"]
    judges = [m for r, m in calls if r == "judge"]
    assert len(judges) == 1 and calls[-1][0] == "judge"
    assert sorted(m for _, m in calls) == sorted(f"openai/{m}" for m in fake_llm.models_called())


async def test_a_cascade_records_its_verifier(make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    rules = {t: {"strategy": "cascade", "candidates": ["openai/eu-small", "openai/eu-large"]} for t in ALL_TASKS}
    services = await make_services(policy=fake_policy(fake_llm.base_url, **rules))
    # the verifier: the cheapest model the verdict allows other than the one that answered
    fake_llm.answers["us-small"] = '{"sufficient": true, "confidence": 0.9, "reason": "complete"}'
    reply = await services.pipeline.handle(msg("Write a short welcome note for the new welder on the night shift."))
    assert reply.kind is ReplyKind.ANSWER and reply.model == "openai/eu-small"
    [record] = decisions(services)
    assert [(a["role"], a["model"], a["ok"]) for a in attempts_of(record)] == [
        ("answer", "openai/eu-small", True), ("verifier", "openai/us-small", True)]
    assert attempts_of(record)[1]["region"] == "us"


async def test_a_cache_hit_records_where_the_answer_came_from(make_services: ServicesFactory,
                                                             fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    await services.pipeline.handle(msg("How do I reset my VPN password?", thread="a"))
    second = await services.pipeline.handle(msg("How can I reset my VPN password?", thread="b", user="U2"))
    assert second.cached
    hit = decisions(services)[1]
    assert hit.cached and attempts_of(hit) == [{"model": "openai/us-small", "region": "us", "role": "cache",
                                                "calls": 0, "ok": True}]


# --- export ----------------------------------------------------------------------------------------


async def test_export_parses_back_as_json_and_csv_with_admin_entries_marked(make_services: ServicesFactory,
                                                                           fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    await services.pipeline.handle(msg("Summarise: the van arrives on Tuesday and leaves on Friday."))
    await services.pipeline.handle(msg("Call Maria Schmidt at +49 151 23456789 about the invoice.", thread="t2"))
    commands = CommandProcessor(memory=services.memory, policies=services.policies)
    admin = CommandContext(platform="test", tenant="T", channel="C", user="boss", is_admin=True)
    staff = CommandContext(platform="test", tenant="T", channel="C", user="U1", is_admin=False)
    assert (await commands.execute(admin, "model disable openai/us-premium")).ok
    assert not (await commands.execute(admin, "model disable openai/nope")).ok
    assert not (await commands.execute(staff, "model disable openai/us-small")).ok

    out = io.StringIO()
    assert await export_trail(services.memory, out, since=timedelta(days=7), keep=TrailFilter(), fmt="json") == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    kinds = [r["kind"] for r in rows]
    assert kinds == ["decision", "decision", "admin_change", "admin_rejected", "admin_refusal"]
    plain, personal = rows[0], rows[1]
    assert not plain["contains_pii"] and plain["region"] == "us" and plain["attempts"][0]["model"] == "openai/us-small"
    assert personal["contains_pii"] and personal["region"] == "eu" and "PHONE_NUMBER" in personal["entity_types"]
    assert all(a["region"] == "eu" for a in personal["attempts"])
    dump = out.getvalue()
    assert "Maria" not in dump and "23456789" not in dump and "van arrives" not in dump  # content-free

    sheet = io.StringIO()
    await export_trail(services.memory, sheet, since=timedelta(days=7), keep=TrailFilter(), fmt="csv")
    table = list(csv.DictReader(io.StringIO(sheet.getvalue())))
    assert [r["kind"] for r in table] == kinds
    assert json.loads(table[1]["attempts"]) == personal["attempts"] and table[1]["contains_pii"] == "true"
    assert table[4]["actor"] == "test:T:U1" and table[4]["allowed"] == "false"

    only_pii = io.StringIO()
    await export_trail(services.memory, only_pii, since=timedelta(days=7), keep=TrailFilter(contains_pii=True),
                       fmt="json")
    assert [json.loads(line)["id"] for line in only_pii.getvalue().splitlines()] == [personal["id"]]
    in_us = io.StringIO()
    await export_trail(services.memory, in_us, since=timedelta(days=7), keep=TrailFilter(region="us"), fmt="json")
    assert [json.loads(line)["id"] for line in in_us.getvalue().splitlines()] == [plain["id"]]


# --- residency -------------------------------------------------------------------------------------


def _policy_yaml(version: int, pii_regions: list[str]) -> str:
    data = fake_policy("http://127.0.0.1:9/v1")
    data["models"].append({"id": "openai/onprem", "region": "local", "tier": "cheap", "tasks": ALL_TASKS,
                           "api_base": "http://127.0.0.1:9/v1"})
    data["version"] = version
    data["privacy"] = {"pii_regions": pii_regions}
    return policy_from_data(data, source="test").to_yaml()


async def _plant(store: SqlMemoryStore, *, sensitivity: str, region: str, attempts: str, version: int = 1,
                 action: str = "pin", outcome: str = "answered", model: str = "openai/eu-small",
                 created_at: datetime | None = None) -> int:
    """A decision record written by raw SQL, as a past release (or a bug) would have written it."""
    when = created_at or datetime.now(UTC)
    with store.engine.begin() as conn:
        row = conn.execute(text(
            "INSERT INTO decision (platform, tenant, channel, \"user\", policy_version, sensitivity, privacy_action, "
            "entity_types, task, strategy, model, region, reason, prompt_tokens, completion_tokens, cost_usd, "
            "latency_ms, outcome, fallback, cached, escalated, attempts, created_at) VALUES ('slack', 'T1', 'C1', "
            "'U1', :version, :sensitivity, :action, 'PERSON', 'general', 'task', :model, :region, '', 1, 1, 0.0, "
            "10.0, :outcome, false, false, false, :attempts, :created_at) RETURNING id"),
            {"version": version, "sensitivity": sensitivity, "action": action, "model": model, "region": region,
             "outcome": outcome, "attempts": attempts, "created_at": when.replace(tzinfo=None)})
        return int(row.scalar_one())


def _calls(*calls: tuple[str, str, str]) -> str:
    return json.dumps([{"model": m, "region": r, "role": role, "calls": 1, "ok": True} for role, m, r in calls])


async def test_a_clean_history_passes(store: SqlMemoryStore) -> None:
    await store.save_policy(version=1, body=_policy_yaml(1, ["eu", "local"]), author="seed")
    await _plant(store, sensitivity="personal", region="eu",
                 attempts=_calls(("answer", "openai/eu-small", "eu"), ("judge", "openai/onprem", "local")))
    await _plant(store, sensitivity="public", region="us", model="openai/us-small", action="allow",
                 attempts=_calls(("answer", "openai/us-small", "us")))
    await _plant(store, sensitivity="personal", region="us", model="openai/us-small", action="pseudonymise",
                 attempts=_calls(("answer", "openai/us-small", "us")))  # only placeholders left
    out = io.StringIO()
    assert await check_residency(store, out, since=None) == 0
    assert "3 decision records checked, 2 with personal data (1 pseudonymised before leaving)" in out.getvalue()
    assert "VIOLATION" not in out.getvalue()


async def test_a_planted_violation_is_caught_and_named(store: SqlMemoryStore) -> None:
    await store.save_policy(version=1, body=_policy_yaml(1, ["eu", "local"]), author="seed")
    clean = await _plant(store, sensitivity="personal", region="eu",
                         attempts=_calls(("answer", "openai/eu-small", "eu")))
    tried_us = await _plant(store, sensitivity="personal", region="eu", attempts=_calls(
        ("answer", "openai/us-small", "us"), ("answer", "openai/eu-small", "eu")))  # a fallback crossed regions
    judged_us = await _plant(store, sensitivity="special", region="eu", attempts=_calls(
        ("member", "openai/eu-small", "eu"), ("judge", "openai/us-premium", "us")))
    cached_us = await _plant(store, sensitivity="personal", region="us", model="openai/us-small",
                             attempts=_calls(("cache", "openai/us-small", "us")))
    legacy = await _plant(store, sensitivity="personal", region="us", model="openai/us-small", attempts="", action="")
    out = io.StringIO()
    assert await check_residency(store, out, since=None) == 1
    report = out.getvalue()
    assert "4 RESIDENCY VIOLATION(S)" in report
    for bad, where in ((tried_us, "answer openai/us-small@us"), (judged_us, "judge openai/us-premium@us"),
                       (cached_us, "cache openai/us-small@us"), (legacy, "answer openai/us-small@us")):
        assert f"decision {bad} (" in report and where in report
    assert f"decision {clean} (" not in report
    paged = io.StringIO()
    assert await check_residency(store, paged, since=None, page=2) == 1  # read 2 records at a time
    assert paged.getvalue() == report


async def test_each_record_is_judged_by_the_policy_version_in_force_when_it_was_made(store: SqlMemoryStore) -> None:
    await store.save_policy(version=1, body=_policy_yaml(1, ["eu", "local"]), author="seed")
    await store.save_policy(version=2, body=_policy_yaml(2, ["local"]), author="dpo")  # on premise only from v2
    eu = _calls(("answer", "openai/eu-small", "eu"))
    under_v1 = await _plant(store, sensitivity="personal", region="eu", attempts=eu, version=1)
    under_v2 = await _plant(store, sensitivity="personal", region="eu", attempts=eu, version=2)
    # a record without a stored version number: the version in force at its time (v2 was saved just now)
    long_ago = await _plant(store, sensitivity="personal", region="eu", attempts=eu, version=0,
                            created_at=datetime.now(UTC) - timedelta(days=400))
    recent = await _plant(store, sensitivity="personal", region="eu", attempts=eu, version=0)
    with store.engine.begin() as conn:  # v1 was in force a year ago
        conn.execute(text("UPDATE policyversion SET created_at = :t WHERE version = 1"),
                     {"t": datetime.now(UTC).replace(tzinfo=None) - timedelta(days=500)})
    out = io.StringIO()
    assert await check_residency(store, out, since=None) == 1
    report = out.getvalue()
    assert f"decision {under_v2} (" in report and "policy v2, personal data allowed in local" in report
    assert f"decision {recent} (" in report
    assert f"decision {under_v1} (" not in report and f"decision {long_ago} (" not in report


async def test_an_unrecorded_region_is_looked_up_in_the_policy_and_unknown_counts_as_outside(
        store: SqlMemoryStore) -> None:
    await store.save_policy(version=1, body=_policy_yaml(1, ["eu", "local"]), author="seed")
    known = await _plant(store, sensitivity="personal", region="", attempts=_calls(("answer", "openai/eu-small", "")))
    unknown = await _plant(store, sensitivity="personal", region="", model="gone/model",
                           attempts=_calls(("answer", "gone/model", "")))
    decisions_, _ = await store.audit_trail(since=datetime(1970, 1, 1, tzinfo=UTC))
    report = verify_residency(decisions_, await store.policy_versions())
    assert [v.decision_id for v in report.violations] == [unknown]
    assert "gone/model@unknown region" in report.describe() and known not in [v.decision_id for v in report.violations]


def test_the_cli_exits_non_zero_naming_the_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SWITCHBOARD_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    assert main(["audit", "--verify-residency"]) == 0  # an empty history is clean
    assert "0 decision records checked" in capsys.readouterr().out
    store = build_memory_store(f"sqlite:///{tmp_path / 'switchboard.db'}")
    bad = asyncio.run(_plant(store, sensitivity="personal", region="us", model="openai/gpt-4.1",
                             attempts=_calls(("answer", "openai/gpt-4.1", "us"))))
    store.engine.dispose()
    assert main(["audit", "--verify-residency"]) == 1
    assert f"decision {bad} (" in capsys.readouterr().out
    assert main(["audit", "--since", "1d", "--format", "csv", "--contains-pii"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["id"]) for r in rows] == [bad] and rows[0]["region"] == "us"
    assert main(["audit", "2"]) == 0 and "The audit log is empty." in capsys.readouterr().out


@pytest.mark.parametrize("name", ["purge", "forget", "keygen", "rotate-key", "audit"])
def test_every_new_command_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    assert f"usage: switchboard {name}" in capsys.readouterr().out

