"""The `switchboard` command line: route, chat, serve, cache-eval and the admin commands."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO

from pydantic import ValidationError

from bot.commands import CommandContext, CommandProcessor, command_help
from bot.errors import SwitchboardError
from bot.kpis import GROUPS
from bot.memory.store import Turn
from bot.pipeline import DryRun
from bot.services import Services, build_services
from bot.settings import Settings

ADMIN_COMMANDS = ("policy", "model", "stats", "audit", "budget")
_EXAMPLES = {"policy": "strategy analysis cascade", "model": "disable openai/gpt-4.1", "audit": "50",
             "budget": "set team slack:T012AB:C0GENERAL 50 100"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="switchboard", description=(
        "Switchboard: privacy-first LLM routing behind one Slack/Teams assistant. Without provider keys "
        "it runs in offline mode (answers name the model that would have answered)."),
        epilog=("Admins: whoever runs this CLI on the server; in Slack and Teams the identities in "
                "SWITCHBOARD_ADMINS, written platform:tenant:user (slack:TEAM_ID:USER_ID, "
                "teams:TENANT_ID:AAD_OBJECT_ID; a bare id is refused), and Slack workspace admins only with "
                "SWITCHBOARD_SLACK_WORKSPACE_ADMINS=true. `switchboard policy help` lists the commands."))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("route", help="dry run: what would happen to a message (no LLM call)")
    r.add_argument("text", nargs="?", help="the message to route")
    r.add_argument("--jsonl", type=Path, metavar="FILE",
                   help="route every row of FILE ({id, text} per line; rows with the same optional \"thread\" "
                        "are one conversation in file order, the earlier rows being the later rows' history "
                        "for task and privacy); one JSON decision per row on stdout")

    c = sub.add_parser("chat", help="talk to the assistant in the terminal (one answer per piped line)")
    c.add_argument("--thread", help="continue this conversation (default: a new one)")
    c.add_argument("--user", help="user id to store the conversation under (default: your login)")
    c.add_argument("--locale", default="en", help="language of the bot's own texts (en, pl, da, ro, de)")

    s = sub.add_parser("serve", help="serve Slack events and Teams activities over HTTP, with /healthz (alive) and "
                                     "/readyz (warmed up, database answering); SIGTERM drains, then exits 0",
                       description="Listen at once (GET /healthz: alive), warm up, then take platform requests "
                                   "(GET /readyz: 200 once warmed up and the database answers; 503 with a reason "
                                   "otherwise). GET /metrics: this process's Prometheus metrics (with "
                                   "SWITCHBOARD_METRICS_TOKEN set, for that bearer token only). On SIGTERM/SIGINT "
                                   "readiness goes off first, answers in progress finish within "
                                   "SWITCHBOARD_SHUTDOWN_GRACE_S (25 s), then the exit status is 0.")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    s.add_argument("--port", type=int, default=3978, help="port to listen on (default: 3978)")

    e = sub.add_parser("cache-eval", help="for each {id, first, second} row: would `second` hit the cache?")
    e.add_argument("--jsonl", type=Path, metavar="FILE", required=True)

    for name, helptext in (("policy", "show or change the routing policy (`policy help`)"),
                           ("model", "list, enable or disable models"),
                           ("stats", "KPIs from the decision records"), ("audit", "latest admin changes and refusals"),
                           ("budget", "monthly budgets; IDs are platform:tenant:id (`budget help`)")):
        a = sub.add_parser(name, help=helptext, formatter_class=argparse.RawDescriptionHelpFormatter,
                           description=f"{helptext}; the same words as in Slack and Teams:\n{command_help(name)}")
        if name == "stats":
            a.add_argument("--since", default="7d", metavar="PERIOD",
                           help="how far back: 7d, 24h, 2w or a number of days (default: 7d); the period of the "
                                "same length before it is the comparison for cost growth")
            a.add_argument("--by", default="model", choices=GROUPS, help="one row per model (default), task, team "
                                                                        "(platform:tenant:channel) or tier")
            continue
        a.add_argument("args", nargs="*", metavar="WORD", help="the command's words, e.g. "
                                                                f"`switchboard {name} {_EXAMPLES[name]}`")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:  # a bad value in the environment or .env: say which, no traceback
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            print(f"switchboard: setting {name}: {msg} (got {err.get('input')!r})" if name else f"switchboard: {msg}",
                  file=sys.stderr)
        return 2
    except SwitchboardError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("presidio-analyzer", "presidio-anonymizer", "LiteLLM", "httpx", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level) + 10)
    try:
        status = asyncio.run(_dispatch(args, settings))
    except SwitchboardError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if argv is None and args.command == "route":
        _exit_now(status)
    return status


def _exit_now(status: int) -> NoReturn:
    """End the `route` process once its answer is written, without the interpreter's teardown (freeing
    the NER models' and numpy's objects one by one, ~0.35 s). Only for the program itself (`argv` not
    given): a caller of `main([...])` gets the status back. The dry run writes nothing that needs closing."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(status)


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        from bot.server import serve

        return await serve(settings, host=args.host, port=args.port)
    if args.command == "cache-eval":
        from routing.cache_eval import run_cache_eval

        return await run_cache_eval(args.jsonl, sys.stdout)
    if args.command == "route" and args.text is None and args.jsonl is None:
        print("switchboard route: give a TEXT or --jsonl FILE", file=sys.stderr)
        return 2
    services = await build_services(settings)
    if args.command in ("route", "chat"):
        await services.warm_up(all_models=False)
    if args.command == "route":
        if args.jsonl is not None:
            return await route_jsonl(services, args.jsonl, sys.stdout)
        shown = await services.pipeline.dry_run(args.text)
        print(describe_dry_run(shown))
        return 0
    if args.command == "chat":
        from bot.adapters.terminal import TerminalAdapter

        adapter = TerminalAdapter(pipeline=services.pipeline, tenant=settings.tenant, thread=args.thread,
                                  user=args.user, locale=args.locale)
        return await adapter.run(sys.stdin, sys.stdout)
    words = ["--since", args.since, "--by", args.by] if args.command == "stats" else args.args
    return await _admin(services, args.command, words)


async def _admin(services: Services, name: str, words: list[str]) -> int:
    processor = CommandProcessor(memory=services.memory, policies=services.policies)
    ctx = CommandContext(platform="cli", tenant=services.settings.tenant, channel="cli",
                         user=getpass.getuser(), is_admin=True)
    line = shlex.join([name, *words])
    result = await processor.execute(ctx, line)
    print(result.text)
    return 0 if result.ok else 1


def decision_row(row_id: Any, shown: DryRun) -> dict[str, Any]:
    v, d = shown.verdict, shown.decision
    return {
        "id": row_id, "contains_pii": v.contains_pii, "entities": v.entity_types, "sensitivity": v.level.label,
        "action": v.action.value, "language": v.language, "task": d.task,
        "task_confidence": round(d.task_confidence, 3), "strategy": d.strategy.value, "model": d.model.id,
        "region": d.region, "tier": d.model.tier.value, "fallbacks": [m.id for m in d.chain[1:]],
        "reason": d.reason,
    }


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"not valid JSON ({exc.msg} at column {exc.colno})"
                continue
            if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("text"), str):
                yield number, 'each row must be a JSON object with "id" and a string "text"'
                continue
            yield number, row


@dataclass
class _Thread:
    """What serve keeps for a conversation, kept here in memory for the rows of one `thread`."""

    history: list[Turn] = field(default_factory=list)
    pii_seen: bool = False
    task: str | None = None


async def route_jsonl(services: Services, path: Path, out: TextIO) -> int:
    """Decision per row, in order; bad rows are reported on stderr and make the exit status 1.

    Rows with the same `thread` are turns of one conversation, as `serve` sees them: the earlier rows are
    the history sent with a later one (privacy is judged over it), a thread that carried personal data
    stays pinned, and a follow-up keeps the thread's task unless it clearly starts another."""
    try:
        rows = await asyncio.to_thread(lambda: list(_rows(path)))
    except (OSError, UnicodeDecodeError) as exc:
        print(f"switchboard route: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    bad = 0
    threads: dict[str, _Thread] = {}
    for number, row in rows:
        if isinstance(row, str):
            bad += 1
            print(f"switchboard route: {path}:{number}: {row}; row skipped", file=sys.stderr)
            continue
        invalid = services.pipeline.validate_text(row["text"])
        if invalid is not None:
            bad += 1
            print(f"switchboard route: {path}:{number}: {invalid}; row skipped", file=sys.stderr)
            continue
        thread = threads.setdefault(str(row["thread"]), _Thread()) if row.get("thread") is not None else _Thread()
        shown = await services.pipeline.dry_run(row["text"], history=thread.history, pii_seen=thread.pii_seen,
                                                previous_task=thread.task)
        thread.history.append(Turn("user", row["text"]))
        thread.pii_seen = thread.pii_seen or shown.verdict.contains_pii
        thread.task = shown.decision.task
        out.write(json.dumps(decision_row(row["id"], shown), ensure_ascii=False) + "\n")
    out.flush()
    return 1 if bad else 0


def describe_dry_run(shown: DryRun) -> str:
    v, d = shown.verdict, shown.decision
    pii = f"yes — {', '.join(v.entity_types) or 'unknown (failed closed)'}" if v.contains_pii else "no"
    fallbacks = ", ".join(m.id for m in d.chain[1:]) or "none"
    return "\n".join([
        f"Personal data: {pii}",
        f"Sensitivity:   {v.level.label} (language {v.language}, action {v.action.value})",
        f"Task:          {d.task} (confidence {d.task_confidence:.2f})",
        f"Strategy:      {d.strategy.value}",
        f"Model:         {d.model.id}  [{d.region}, {d.model.tier.value}]",
        f"Fallbacks:     {fallbacks}",
        f"Reason:        {d.reason}",
    ])
