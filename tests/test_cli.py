"""The CLI contract (design.md): `route --jsonl`, human `route`, admin commands, bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.cli import route_jsonl
from bot.commands import CommandContext, CommandProcessor
from bot.types import ChatMessage
from tests.conftest import ServicesFactory

CLI = str(Path(sys.executable).parent / "switchboard")
REQUIRED = {"id", "contains_pii", "entities", "sensitivity", "task", "model", "region", "reason"}


async def test_route_jsonl_decides_every_row_in_order_and_reports_bad_lines(
        make_services: ServicesFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    services = await make_services()
    rows = tmp_path / "in.jsonl"
    rows.write_text("\n".join([
        json.dumps({"id": "a", "text": "Summarise the meeting notes from Monday."}),
        "{not json",
        json.dumps({"id": "b", "text": "Przygotuj ofertę dla pana Jana Nowaka, tel. 601 234 567"}),
        json.dumps({"id": "c"}),
        json.dumps({"id": 7, "text": "Translate 'good morning' into Danish."}),
    ]) + "\n", encoding="utf-8")
    out = io.StringIO()
    status = await route_jsonl(services, rows, out)
    decisions = [json.loads(line) for line in out.getvalue().splitlines()]
    assert status == 1
    assert [d["id"] for d in decisions] == ["a", "b", 7]
    assert all(d.keys() >= REQUIRED for d in decisions)
    assert decisions[1]["contains_pii"] and decisions[1]["region"] in ("eu", "local")
    assert decisions[0]["task"] == "summarization" and not decisions[0]["contains_pii"]
    err = capsys.readouterr().err
    assert "in.jsonl:2: not valid JSON" in err and "in.jsonl:4:" in err


async def test_route_jsonl_reads_a_thread_as_one_conversation(make_services: ServicesFactory, tmp_path: Path) -> None:
    services = await make_services()
    rows = tmp_path / "threads.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "o1", "thread": "offer", "text": "Draft an offer for 12 pallet racks with delivery in May."},
        {"id": "p1", "thread": "personal", "text": "Write to jan.nowak@example.com that the order shipped."},
        {"id": "o2", "thread": "offer", "text": "Now make it shorter."},
        {"id": "p2", "thread": "personal", "text": "Now make the tone friendlier."},
        {"id": "o3", "thread": "offer", "text": "Hello? Did you get my last message?"},
        {"id": "o4", "thread": "offer", "text": "And in German?"},
        {"id": "lone", "text": "Now make the tone friendlier."},
    ]), encoding="utf-8")
    out = io.StringIO()
    assert await route_jsonl(services, rows, out) == 0
    got = {d["id"]: d for d in map(json.loads, out.getvalue().splitlines())}
    assert [got[i]["task"] for i in ("o1", "o2", "o3", "o4")] == ["creative", "creative", "creative", "translation"]
    assert "follow-up in a thread" in got["o2"]["reason"]
    # a thread that carried personal data stays pinned, as in serve; other threads and rows are not
    assert got["p2"]["contains_pii"] and got["p2"]["region"] in ("eu", "local")
    assert not got["lone"]["contains_pii"] and not got["o2"]["contains_pii"]


async def test_admin_change_is_validated_versioned_and_audited(make_services: ServicesFactory) -> None:
    services = await make_services()
    commands = CommandProcessor(memory=services.memory, policies=services.policies)
    admin = CommandContext(platform="cli", tenant="T", channel="C", user="boss", is_admin=True)
    staff = CommandContext(platform="cli", tenant="T", channel="C", user="intern", is_admin=False)

    refused = await commands.execute(staff, "policy strategy analysis ensemble")
    assert not refused.ok and "admin" in refused.text
    done = await commands.execute(admin, "policy strategy analysis ensemble")
    assert done.ok and (await services.policies.current()).rules["analysis"].strategy.value == "ensemble"
    assert (await services.policies.current()).version == 2

    leak = await commands.execute(admin, "policy pin personal allow")
    assert not leak.ok and "GDPR" in leak.text
    await commands.execute(admin, "model disable openai/eu-small")
    last_eu = await commands.execute(admin, "model disable openai/eu-large")
    assert not last_eu.ok and "personal data" in last_eu.text
    unknown = await commands.execute(admin, "frobnicate now")
    assert not unknown.ok and "Unknown command" in unknown.text
    back = await commands.execute(admin, "policy rollback 1")
    assert back.ok and (await services.policies.current()).rules["analysis"].strategy.value == "task"

    await services.pipeline.handle(ChatMessage(platform="cli", tenant="T", channel="C", thread="x", user="boss",
                                               text="What is the capital of Denmark?"))
    stats = await commands.execute(admin, "stats")
    assert stats.ok and "openai/us-small | 1 |" in stats.text
    assert stats.data["rows"][0]["requests"] == 1

    log = await services.memory.audit_log(limit=10)
    assert any(e.actor == "cli:T:intern" and not e.allowed for e in log)
    assert any(e.actor == "cli:T:boss" and e.allowed and "rejected" in e.outcome for e in log)


async def test_healthz_and_readyz_on_a_real_server(make_services: ServicesFactory) -> None:
    services = await make_services()
    async with TestClient(TestServer(build_app(services))) as client:
        resp = await client.get("/healthz")
        assert resp.status == 200 and await resp.json() == {"status": "ok"}
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 200 and body["status"] == "ready" and body["offline"] is False
        assert body["policy_version"] == 1
        assert (await client.get("/nope")).status == 404


def _cli(*args: str, tmp_path: Path, stdin: str | None = None,
         env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_BASE"))}
    env.update(SWITCHBOARD_DATA_DIR=str(tmp_path), HF_HUB_OFFLINE="1", **(env_extra or {}))
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, input=stdin, timeout=180)


def test_installed_cli_routes_and_chats_offline(tmp_path: Path) -> None:
    done = _cli("chat", tmp_path=tmp_path, stdin="Summarise: the van arrives Tuesday\n")
    assert done.returncode == 0, done.stderr
    assert "offline" in done.stdout and "would be answered by" in done.stdout
    shown = _cli("route", "Przygotuj ofertę dla pana Jana Nowaka, tel. 601 234 567", tmp_path=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "Personal data: yes" in shown.stdout and "[eu," in shown.stdout


def test_installed_cli_rejects_unknown_commands(tmp_path: Path) -> None:
    bad = _cli("frobnicate", tmp_path=tmp_path)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    missing = _cli("route", "--jsonl", str(tmp_path / "absent.jsonl"), tmp_path=tmp_path)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


@pytest.mark.parametrize(("env", "says"), [
    ({"SWITCHBOARD_HISTORY_TURNS": "twenty"}, "setting SWITCHBOARD_HISTORY_TURNS: Input should be a valid integer"),
    ({"SWITCHBOARD_LLM_TIMEOUT_S": "30"}, "SWITCHBOARD_LLM_TIMEOUT_S was removed"),
    ({"SWITCHBOARD_ADMINS": "slack:T012AB:U1,U123"}, "'U123' is not a qualified identity"),
    ({"SWITCHBOARD_ADMINS": "terminal:default:me"}, "admins are slack or teams identities"),
])
def test_a_bad_setting_is_named_without_a_traceback(tmp_path: Path, env: dict[str, str], says: str) -> None:
    done = _cli("route", "hello", tmp_path=tmp_path, env_extra=env)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr


def test_policy_show_reads_prices_without_importing_litellm(tmp_path: Path) -> None:
    # importing LiteLLM takes seconds; an admin command needs only its bundled price list
    code = ("import sys; from bot.cli import main; sys.argv = ['switchboard', 'policy', 'show']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('LITELLM', 'litellm' in sys.modules, file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_BASE"))}
    env.update(SWITCHBOARD_DATA_DIR=str(tmp_path), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180)
    assert "LITELLM False" in done.stderr, done.stderr
    assert "USD per 1M tokens" in done.stdout and "0.15/0.60" in done.stdout, done.stdout


def test_route_program_exits_at_once_with_its_answer_written(tmp_path: Path) -> None:
    # `main()` as the program skips the interpreter's teardown after `route`; its output (a pipe: block
    # buffered) must still arrive whole. `main([...])` from a caller returns the status as before.
    code = ("import sys; from bot.cli import main\n"
            "print('STATUS', main(['route', 'hello']), flush=True)\n"
            "sys.argv = ['switchboard', 'route', 'Напиши, пожалуйста, письмо клиенту.']\n"
            "main()\n"
            "print('NOT REACHED')")
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_BASE"))}
    env.update(SWITCHBOARD_DATA_DIR=str(tmp_path), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "STATUS 0" in done.stdout and "NOT REACHED" not in done.stdout
    assert done.stdout.count("Reason:") == 2 and "language ru" in done.stdout, done.stdout


def test_bundled_price_list_is_litellms_cost_map() -> None:
    from routing.litellm_env import cost_map, import_litellm

    costs = import_litellm().model_cost
    for model in ("gpt-4o-mini", "mistral/mistral-small-latest"):
        assert cost_map()[model]["input_cost_per_token"] == costs[model]["input_cost_per_token"]
