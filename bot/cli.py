"""The `switchboard` command line: route, chat, serve, cache-eval, the admin commands and the data-protection
operations (audit export, purge, forget, keygen, rotate-key)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn, TextIO

from pydantic import ValidationError

from bot.commands import CommandContext, CommandProcessor, command_help
from bot.errors import InvalidIdentityError, SwitchboardError
from bot.kpis import GROUPS, KpiInputError, parse_since
from bot.memory.store import Turn
from bot.pipeline import DryRun
from bot.services import Services, build_services
from bot.settings import Settings
from bot.types import Identity

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
                                   "SWITCHBOARD_METRICS_TOKEN set, for that bearer token only). GET /admin: the "
                                   "read-only KPI dashboard, off unless SWITCHBOARD_ADMIN_TOKEN or "
                                   "SWITCHBOARD_ADMIN_SSO_HEADER is set (README, Admin dashboard). On SIGTERM/SIGINT "
                                   "readiness goes off first, answers in progress finish within "
                                   "SWITCHBOARD_SHUTDOWN_GRACE_S (25 s), then the exit status is 0.")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    s.add_argument("--port", type=int, default=3978, help="port to listen on (default: 3978)")

    d = sub.add_parser("db", help="database schema: upgrade (what serve does at start), current, history",
                       description="The database's schema (SWITCHBOARD_DATABASE_URL) is versioned by Alembic "
                                   "revisions shipped with Switchboard. `serve` and every command that opens the "
                                   "database upgrade it first, under a lock (one replica upgrades, the others "
                                   "wait); `db upgrade` does only that, e.g. as a Kubernetes init container. A "
                                   "database from before migrations is recognised and recorded first.")
    dsub = d.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    dsub.add_parser("upgrade", help="bring the database to this release's schema (the revisions applied are printed)",
                    description="Bring the database to this release's schema and print the revisions applied "
                                "(or that it was already there); exit status 2 with the reason when the database "
                                "does not answer or was written by a newer release.")
    dsub.add_parser("current", help="the database's revision, and whether it is this release's")
    dsub.add_parser("history", help="every revision this release ships, oldest first")
    rev = dsub.add_parser("revision", help="for developers, in a source checkout: write the next revision from the "
                                           "difference between the newest one and bot/memory/models.py")
    rev.add_argument("-m", "--message", required=True, help="what the revision changes (its file name and docstring)")

    e = sub.add_parser("cache-eval", help="for each {id, first, second} row: would `second` hit the cache?")
    e.add_argument("--jsonl", type=Path, metavar="FILE", required=True)

    _add_operations(sub)
    for name, helptext in (("policy", "show or change the routing policy (`policy help`)"),
                           ("model", "list, enable or disable models"),
                           ("stats", "KPIs from the decision records"),
                           ("audit", "latest admin changes and refusals; with options: export the audit trail or "
                                     "verify residency"),
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
        if name == "audit":
            _add_audit_options(a)
    return p


def _period(flag: str) -> Callable[[str], timedelta]:
    def parse(text: str) -> timedelta:
        try:
            return parse_since(text)
        except KpiInputError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("--since", flag)) from None

    return parse


def _identity(text: str) -> Identity:
    try:
        return Identity.parse(text)
    except InvalidIdentityError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_audit_options(a: argparse.ArgumentParser) -> None:
    a.epilog = ("Export (any of --since, --region, --contains-pii, --format): the decision records (content-free: "
                "entity types, never values or text) with the models tried in order, and the admin changes, "
                "rejected changes and refusals (kind admin_change, admin_rejected, admin_refusal); --region and "
                "--contains-pii keep decision records only. --verify-residency: exit status 1, naming the "
                "records, when one with personal data was answered, tried, judged or served from cache outside "
                "the personal-data regions of the policy version in force when it was made; 0 otherwise.")
    a.add_argument("--since", type=_period("--since"), metavar="PERIOD",
                   help="export the records of this period: 7d, 24h, 2w or a number of days (default: 7d; with "
                        "--verify-residency: the whole history)")
    a.add_argument("--region", help="only decision records answered or tried in this region (eu, us, local, …)")
    a.add_argument("--contains-pii", action="store_true", help="only decision records with personal data")
    a.add_argument("--format", choices=("json", "csv"), help="json: one object per line (default); csv: a header "
                                                             "row, lists as JSON in their cell")
    a.add_argument("--verify-residency", action="store_true",
                   help="check the records instead of exporting them (see below)")


def _add_operations(sub: Any) -> None:
    p = sub.add_parser("purge", help="delete conversation content older than the retention period",
                       description="Delete messages, pending deliveries and platform delivery ids older than "
                                   "--older-than (default: SWITCHBOARD_RETENTION_DAYS, 90 days), in batches; "
                                   "decision records, feedback and the admin trail stay (a record's link to a "
                                   "purged message becomes empty). `serve` runs this every "
                                   "SWITCHBOARD_PURGE_INTERVAL_S. Prints the rows deleted per table.")
    p.add_argument("--older-than", type=_period("--older-than"), metavar="PERIOD",
                   help="90d, 12w, 24h or a number of days (default: SWITCHBOARD_RETENTION_DAYS)")
    f = sub.add_parser("forget", help="erase everything stored about one person (GDPR Art. 17)",
                       description="Erase the person's messages and the answers to them, pending deliveries, "
                                   "decision records, feedback, budget and conversations left empty; the admin "
                                   "trail keeps its entries with the id replaced by (erased). Prints what was "
                                   "removed per table.")
    f.add_argument("--user", required=True, type=_identity, metavar="PLATFORM:TENANT:USER",
                   help="the person, e.g. slack:T012AB:U123 or teams:<tenant-guid>:<aad-object-id>")
    sub.add_parser("keygen", help="print a new encryption key for SWITCHBOARD_ENCRYPTION_KEY",
                   description="Print a new Fernet key. Set it as SWITCHBOARD_ENCRYPTION_KEY to encrypt message "
                               "texts at rest; to rotate, put the new key first and the old one after it "
                               "(comma-separated), run `switchboard rotate-key`, then drop the old key.")
    sub.add_parser("rotate-key", help="re-encrypt stored content under the current (first) encryption key",
                   description="Re-encrypt every encrypted column (message texts, pending-delivery references) "
                               "with the first key of SWITCHBOARD_ENCRYPTION_KEY, in batches; rows stored in "
                               "plain text (before a key was set) get encrypted. Afterwards the other keys may be "
                               "removed from SWITCHBOARD_ENCRYPTION_KEY.")


async def _operation(args: argparse.Namespace, settings: Settings) -> int | None:
    """The data-protection commands (`bot.operations`); None when `args` is not one of them."""
    from bot import operations as ops

    exporting = args.command == "audit" and (args.since or args.region or args.contains_pii or args.format)
    if args.command == "keygen":
        return ops.keygen(sys.stdout)
    if args.command == "audit" and args.verify_residency:
        if args.args:
            print("switchboard audit: --verify-residency takes no N", file=sys.stderr)
            return 2
        return await ops.check_residency(await ops.open_store(settings), sys.stdout, since=args.since)
    if exporting:
        if args.args:
            print("switchboard audit: give N (the admin view) or export options, not both", file=sys.stderr)
            return 2
        from bot.audit import TrailFilter

        keep = TrailFilter(region=args.region, contains_pii=args.contains_pii)
        return await ops.export_trail(await ops.open_store(settings), sys.stdout, keep=keep,
                                      since=args.since or timedelta(days=7), fmt=args.format or "json")
    if args.command == "purge":
        older = args.older_than or timedelta(days=settings.retention_days)
        return await ops.purge(await ops.open_store(settings), sys.stdout, older_than=older)
    if args.command == "forget":
        return await ops.forget(await ops.open_store(settings), sys.stdout, user=args.user,
                                redis_url=settings.redis_url)
    if args.command == "rotate-key":
        return await ops.rotate_key(await ops.open_store(settings), sys.stdout)
    return None


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
    done = await _operation(args, settings)
    if done is not None:
        return done
    if args.command == "serve":
        from bot.server import serve

        return await serve(settings, host=args.host, port=args.port)
    if args.command == "db":
        return await _db(settings, args.db_command, getattr(args, "message", ""))
    if args.command == "cache-eval":
        from routing.cache_eval import run_cache_eval

        return await run_cache_eval(args.jsonl, sys.stdout)
    if args.command == "route" and args.text is None and args.jsonl is None:
        print("switchboard route: give a TEXT or --jsonl FILE", file=sys.stderr)
        return 2
    services = await build_services(settings)
    try:
        return await _run_command(args, services)
    finally:
        await services.aclose()


async def _run_command(args: argparse.Namespace, services: Services) -> int:
    settings = services.settings
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


async def _db(settings: Settings, action: str, message: str) -> int:
    from bot.memory import schema
    from bot.memory.store import build_memory_store

    if action == "history":
        for revision, doc in schema.history():
            print(f"{revision}  {doc}" + ("  (head)" if revision == schema.HEAD else ""))
        return 0
    if action == "revision":
        print(await asyncio.to_thread(schema.new_revision, message))
        return 0
    memory = build_memory_store(settings.resolved_database_url)
    try:
        if action == "current":
            print((await memory.schema_state()).describe())
            return 0
        applied = await memory.create_schema()
        print(f"upgraded: {' -> '.join(applied)}" if applied else f"already at {schema.HEAD} (head)")
        return 0
    finally:
        memory.engine.dispose()


async def _admin(services: Services, name: str, words: list[str]) -> int:
    processor = CommandProcessor(memory=services.memory, policies=services.policies, erasure=services.erasure)
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
