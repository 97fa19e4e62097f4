"""The admin commands as a new admin meets them: `stats` counts real calls only, `audit` holds changes and
refusals (whole, correctly marked, as many as asked for), and every admin command works in the CLI,
`--help` included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import ADMIN_COMMANDS, build_parser
from bot.commands import CommandContext, CommandProcessor, command_help
from bot.memory.models import Decision
from bot.services import Services
from tests.conftest import ServicesFactory

CLI = str(Path(sys.executable).parent / "switchboard")
ADMIN = CommandContext(platform="cli", tenant="T", channel="C", user="boss", is_admin=True)
STAFF = CommandContext(platform="cli", tenant="T", channel="C", user="intern", is_admin=False)


def commands(services: Services) -> CommandProcessor:
    return CommandProcessor(memory=services.memory, policies=services.policies)


async def test_stats_leave_out_offline_dry_runs_refusals_and_blocks(make_services: ServicesFactory) -> None:
    services = await make_services(warm=False)
    for outcome in ("offline", "refused", "blocked"):  # none of these called a model
        await services.memory.record_decision(Decision(model="openai/us-premium", outcome=outcome, latency_ms=3500,
                                                       platform="cli", tenant="T"))
    await services.memory.record_decision(Decision(model="openai/eu-small", outcome="answered", latency_ms=800,
                                                   platform="cli", tenant="T"))
    shown = await commands(services).execute(ADMIN, "stats")
    assert shown.ok and "openai/eu-small | 1 |" in shown.text
    assert "openai/us-premium" not in shown.text and "⚠" not in shown.text


async def test_audit_holds_changes_and_refusals_marked_as_they_ended(make_services: ServicesFactory) -> None:
    services = await make_services(warm=False)
    run = commands(services)
    for read in ("policy", "policy show", "policy show general", "policy history", "model", "model list",
                 "budget", "budget show", "stats", "stats 30", "audit", "audit 5", "policy help"):
        assert (await run.execute(ADMIN, read)).ok, read
    assert await services.memory.audit_log(limit=50) == []  # reading changes nothing: no trail

    assert (await run.execute(ADMIN, "policy strategy general cascade")).ok
    assert not (await run.execute(ADMIN, "policy set general openai/nope")).ok
    assert not (await run.execute(STAFF, "policy show")).ok  # a refusal is kept, also of a read
    trail = (await run.execute(ADMIN, "audit")).text.splitlines()
    assert len(trail) == 3
    assert " cli:T:intern ✗ policy show → refused: not an admin" in trail[0]
    assert " cli:T:boss ✗ policy set general openai/nope → rejected: unknown model" in trail[1]
    assert " cli:T:boss ✓ policy strategy general cascade → ok: Policy v2 is in force" in trail[2]


async def test_audit_shows_as_many_entries_as_asked(make_services: ServicesFactory) -> None:
    services = await make_services(warm=False)
    run = commands(services)
    for version in range(4):
        await run.execute(ADMIN, f"policy deadline total {100 + version}")
    latest = (await run.execute(ADMIN, "audit 3")).text.splitlines()
    assert len(latest) == 3 and "total 103" in latest[0] and "total 101" in latest[2]
    assert len((await run.execute(ADMIN, "audit 1")).text.splitlines()) == 1
    for bad, says in (("audit 0", "N must be between 1 and 500"), ("audit x", "N must be a number, not 'x'"),
                      ("audit 501", "N must be between 1 and 500")):
        result = await run.execute(ADMIN, bad)
        assert not result.ok and says in result.text


async def test_audit_keeps_a_long_outcome_whole(make_services: ServicesFactory) -> None:
    services = await make_services(warm=False)
    run = commands(services)
    name = "openai/" + "a-very-long-model-name-" * 12 + "end"
    rejected = await run.execute(ADMIN, f"policy set general {name}")
    assert not rejected.ok and len(rejected.text) > 250
    [entry] = (await run.execute(ADMIN, "audit")).text.splitlines()
    assert entry.endswith(f"rejected: unknown model {name!r}; `policy show` lists the models")


@pytest.mark.parametrize("name", ADMIN_COMMANDS)
def test_every_admin_command_has_help_in_the_cli(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([name, "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    assert f"usage: switchboard {name}" in shown and command_help(name) in shown and command_help(name)


def test_budget_and_stats_in_the_installed_cli(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_BASE"))}
    env |= {"SWITCHBOARD_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=180)

    done = cli("budget", "set", "team", "slack:T012AB:C0GENERAL", "-", "100")
    assert done.returncode == 0, done.stderr
    assert "Budget for team slack:T012AB:C0GENERAL: soft none, hard $100.00 per month." in done.stdout
    trail = cli("audit", "1")
    assert trail.returncode == 0, trail.stderr
    assert "✓ budget set team slack:T012AB:C0GENERAL - 100 → ok: Budget for team" in trail.stdout
    kpis = cli("stats", "--since", "2w", "--by", "tier")
    assert kpis.returncode == 0, kpis.stderr
    assert "KPIs for the last 14 days" in kpis.stdout and "by tier" in kpis.stdout
    bad = cli("stats", "--since", "fortnight")
    assert bad.returncode == 1 and "--since wants a period such as 7d" in bad.stdout
