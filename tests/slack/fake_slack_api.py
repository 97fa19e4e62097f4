"""A fake Slack Web API on loopback: real HTTP, every call recorded.

Implements what the adapter uses — auth.test, users.info, chat.postMessage, chat.update,
chat.delete, chat.postEphemeral, assistant.threads.setStatus — plus `/response/{key}` for
slash-command response_urls. Channel and user ids that do not look like Slack's get Slack's errors.
`base_url` is what SLACK_API_BASE_URL should point to.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

BOT_USER = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM = "T0TEAM001"
# Slack's id formats: anything else is an id Slack does not know (as it answers for unknown ones)
_CHANNEL = re.compile(r"[CDG][A-Z0-9]{2,}")
_USER = re.compile(r"[UW][A-Z0-9]{2,}")


@dataclass
class Call:
    method: str
    args: dict[str, Any]


@dataclass
class FakeSlackApi(LoopbackServer):
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # bodies posted to response_urls
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts → latest state
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/api/"))

    def response_url(self, key: str = "cmd") -> str:
        assert self.server is not None
        return str(self.server.make_url(f"/response/{key}"))

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def thread_messages(self, thread_ts: str) -> list[dict[str, Any]]:
        """The bot's messages in one thread, in posting order, as they look now."""
        return [m for m in self.messages.values() if m.get("thread_ts") == thread_ts]

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response)

    async def _response(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _args(request)
        self.calls.append(Call(method, args))
        if not request.headers.get("Authorization", "").startswith("Bearer xoxb-"):
            return _error("not_authed")
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return _error("unknown_method")
        result: web.Response = handler(args)
        return result

    # --- methods ---------------------------------------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> web.Response:
        return _ok(url="https://fake.slack.com/", team="Fake", user="switchboard", team_id=TEAM,
                   user_id=BOT_USER, bot_id=BOT_ID)

    def _users_info(self, args: dict[str, Any]) -> web.Response:
        user = args.get("user", "")
        if not _USER.fullmatch(user):
            return _error("user_not_found")
        info = {"id": user, "team_id": TEAM, "name": user.lower(), "locale": "en-US", "is_admin": False,
                "is_owner": False}
        info.update(self.users.get(user, {}))
        return _ok(user=info)

    def _chat_postMessage(self, args: dict[str, Any]) -> web.Response:
        if not _CHANNEL.fullmatch(str(args.get("channel") or "")):
            return _error("channel_not_found")
        if len(args.get("text") or "") > 40_000:
            return _error("msg_too_long")
        ts = f"1800000000.{next(self._ts):06d}"
        self.messages[ts] = {**args, "ts": ts}
        return _ok(channel=args["channel"], ts=ts, message={"text": args.get("text"), "ts": ts})

    def _chat_update(self, args: dict[str, Any]) -> web.Response:
        ts = args.get("ts", "")
        if ts not in self.messages:
            return _error("message_not_found")
        if len(args.get("text") or "") > 40_000:
            return _error("msg_too_long")
        self.messages[ts].update({k: v for k, v in args.items() if k != "ts"})
        if "blocks" not in args:
            self.messages[ts].pop("blocks", None)
        return _ok(channel=args.get("channel"), ts=ts, text=args.get("text"))

    def _chat_delete(self, args: dict[str, Any]) -> web.Response:
        if self.messages.pop(args.get("ts", ""), None) is None:
            return _error("message_not_found")
        return _ok(channel=args.get("channel"), ts=args.get("ts"))

    def _chat_postEphemeral(self, args: dict[str, Any]) -> web.Response:
        if not _CHANNEL.fullmatch(str(args.get("channel") or "")):
            return _error("channel_not_found")
        if not _USER.fullmatch(str(args.get("user") or "")):
            return _error("user_not_in_channel")
        return _ok(message_ts=f"1800000000.{next(self._ts):06d}")

    def _assistant_threads_setStatus(self, args: dict[str, Any]) -> web.Response:
        return _ok()


async def _args(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    raw = await request.text()
    if not raw:
        return args
    if request.content_type == "application/json":
        args.update(json.loads(raw))
    else:
        args.update(parse_qsl(raw, keep_blank_values=True))
        if isinstance(args.get("blocks"), str):
            args["blocks"] = json.loads(args["blocks"])
    return args


def _ok(**fields: Any) -> web.Response:
    return web.json_response({"ok": True, **fields})


def _error(error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error})
