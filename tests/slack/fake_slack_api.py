"""A fake Slack Web API on loopback: real HTTP, every call recorded.

Implements what the adapter uses — auth.test, users.info (with names: `add_person`), chat.postMessage, chat.update,
chat.startStream / appendStream / stopStream (a message that grows while `streaming`),
chat.delete, chat.postEphemeral, assistant.threads.setStatus / setSuggestedPrompts / setTitle (what each
leaves shown: `statuses`, `prompts`, `titles`), conversations.replies — plus
`/response/{key}` for slash-command response_urls, and files at their `url_private` / `url_private_download`
(`add_file`; served only with the bot token as Bearer, as files.slack.com does). Channel and user ids that
do not look like Slack's get Slack's errors; `refuse(method, error)` makes a method fail as Slack does (e.g.
`missing_scope`).
It only knows the messages posted through it (the bot's), not those of the people in a thread.
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
    refusals: dict[str, str] = field(default_factory=dict)  # method → the error Slack answers with
    statuses: dict[tuple[str, str], str] = field(default_factory=dict)  # (channel, thread) → status shown now
    prompts: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)  # suggested prompts
    titles: dict[tuple[str, str], str] = field(default_factory=dict)  # assistant thread titles
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # file id → (content, mimetype)
    downloads: list[str] = field(default_factory=list)  # file ids served, in order
    said: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts → messages people wrote (`say`)
    replies_left: int | None = None  # conversations.replies calls before Slack answers 429 (None: no limit)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/api/"))

    def response_url(self, key: str = "cmd") -> str:
        assert self.server is not None
        return str(self.server.make_url(f"/response/{key}"))

    def say(self, channel: str, user: str, text: str, *, thread_ts: str | None = None) -> str:
        """A message a person wrote (in a thread when `thread_ts`); its ts. Only conversations.replies sees it."""
        ts = f"1700000000.{next(self._ts):06d}"
        self.said[ts] = {"type": "message", "user": user, "text": text, "ts": ts, "channel": channel,
                         "thread_ts": thread_ts or ts}
        return ts

    def refuse(self, method: str, error: str) -> None:
        self.refusals[method] = error

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def thread_messages(self, thread_ts: str) -> list[dict[str, Any]]:
        """The bot's messages in one thread, in posting order, as they look now."""
        return [m for m in self.messages.values() if m.get("thread_ts") == thread_ts]

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response)
        app.router.add_get("/files-pri/{team}-{file}/{name}", self._download)
        app.router.add_get("/files-pri/{team}-{file}/download/{name}", self._download)

    def add_file(self, name: str, content: bytes, *, mimetype: str, filetype: str = "",
                 size: int | None = None) -> dict[str, Any]:
        """A file uploaded to Slack, as a file_share event's `files` carries it; its URLs point here."""
        assert self.server is not None
        file_id = f"F{len(self.files) + 1:010d}"
        self.files[file_id] = (content, mimetype)
        base = f"/files-pri/{TEAM}-{file_id}"
        return {"id": file_id, "name": name, "title": name, "mimetype": mimetype,
                "filetype": filetype or name.rsplit(".", 1)[-1], "size": len(content) if size is None else size,
                "mode": "hosted", "is_external": False,
                "url_private": str(self.server.make_url(f"{base}/{name}")),
                "url_private_download": str(self.server.make_url(f"{base}/download/{name}"))}

    async def _download(self, request: web.Request) -> web.StreamResponse:
        """Like files.slack.com: the bytes with the bot token; without it, a redirect to the sign-in page."""
        if not request.headers.get("Authorization", "").startswith("Bearer xoxb-"):
            raise web.HTTPFound("https://fake.slack.com/?redir=%2Ffiles-pri")
        found = self.files.get(request.match_info["file"])
        if found is None:
            raise web.HTTPNotFound()
        self.downloads.append(request.match_info["file"])
        content, mimetype = found
        return web.Response(body=content, content_type=mimetype)

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
        if method in self.refusals:
            error = self.refusals[method]
            extra = {"needed": "channels:history", "provided": "chat:write"} if error == "missing_scope" else {}
            return web.json_response({"ok": False, "error": error, **extra})
        if method == "conversations.replies" and self.replies_left is not None:
            if self.replies_left <= 0:  # Tier 1 for non-Marketplace apps: one request a minute
                return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                         headers={"Retry-After": "60"})
            self.replies_left -= 1
        result: web.Response = handler(args)
        return result

    # --- methods ---------------------------------------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> web.Response:
        return _ok(url="https://fake.slack.com/", team="Fake", user="switchboard", team_id=TEAM,
                   user_id=BOT_USER, bot_id=BOT_ID)

    def add_person(self, user: str, real_name: str, *, display_name: str = "", **fields: Any) -> None:
        """A member of the workspace with a name (`users` holds the rest of the fields users.info answers)."""
        self.users[user] = {"real_name": real_name, **fields,
                            "profile": {"real_name": real_name, "display_name": display_name,
                                        "real_name_normalized": real_name,
                                        "display_name_normalized": display_name}}

    def _users_info(self, args: dict[str, Any]) -> web.Response:
        """users.info as Slack answers it: the user object, `locale` only with include_locale; ids that do not
        look like Slack's, or that `users` marks `{"missing": True}`, are user_not_found."""
        user = args.get("user", "")
        known = self.users.get(user, {})
        if not _USER.fullmatch(user) or known.get("missing"):
            return _error("user_not_found")
        info = {"id": user, "team_id": TEAM, "name": user.lower(), "deleted": False, "real_name": "",
                "is_admin": False, "is_owner": False, "is_bot": False, "is_app_user": False,
                "profile": {"real_name": "", "display_name": "", "real_name_normalized": "",
                            "display_name_normalized": ""}}
        info.update(known)
        if str(args.get("include_locale") or "").lower() in ("1", "true"):
            info.setdefault("locale", "en-US")
        else:
            info.pop("locale", None)
        return _ok(user=info)

    def _chat_postMessage(self, args: dict[str, Any]) -> web.Response:
        if not _CHANNEL.fullmatch(str(args.get("channel") or "")):
            return _error("channel_not_found")
        if len(args.get("text") or "") > 40_000:
            return _error("msg_too_long")
        ts = f"1800000000.{next(self._ts):06d}"
        self.messages[ts] = {**args, "ts": ts}
        self.statuses.pop((args["channel"], str(args.get("thread_ts") or "")), None)  # a reply ends the status
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

    def _chat_startStream(self, args: dict[str, Any]) -> web.Response:
        """A streamed reply in a thread: the message grows with appendStream until stopStream (`streaming`)."""
        channel = str(args.get("channel") or "")
        if not _CHANNEL.fullmatch(channel):
            return _error("channel_not_found")
        if _ts_key(str(args.get("thread_ts") or "")) is None:
            return _error("invalid_arguments")
        if not channel.startswith("D") and not (args.get("recipient_team_id") and args.get("recipient_user_id")):
            return _error("missing_recipient_team_id" if not args.get("recipient_team_id")
                          else "missing_recipient_user_id")
        ts = f"1800000000.{next(self._ts):06d}"
        self.messages[ts] = {"channel": channel, "thread_ts": args["thread_ts"], "ts": ts,
                             "text": str(args.get("markdown_text") or ""), "streaming": True}
        self.statuses.pop((channel, str(args["thread_ts"])), None)
        return _ok(channel=channel, ts=ts)

    def _chat_appendStream(self, args: dict[str, Any]) -> web.Response:
        message = self.messages.get(str(args.get("ts") or ""))
        if message is None:
            return _error("message_not_found")
        if not message.get("streaming"):
            return _error("message_not_in_streaming_state")
        if len(str(args.get("markdown_text") or "")) > 12_000:
            return _error("msg_too_long")
        message["text"] += str(args.get("markdown_text") or "")
        return _ok(channel=message["channel"], ts=message["ts"])

    def _chat_stopStream(self, args: dict[str, Any]) -> web.Response:
        message = self.messages.get(str(args.get("ts") or ""))
        if message is None:
            return _error("message_not_found")
        if not message.get("streaming"):
            return _error("message_not_in_streaming_state")
        message["text"] += str(args.get("markdown_text") or "")
        message["streaming"] = False
        if args.get("blocks"):
            message["blocks"] = args["blocks"]
        return _ok(channel=message["channel"], ts=message["ts"], message={"text": message["text"]})

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
        """The status shows until the app posts in the thread (`_chat_postMessage` clears it); "" clears it."""
        problem = _thread_args(args)
        if problem is None and not isinstance(args.get("status"), str):
            problem = "invalid_arguments"
        loading = args.get("loading_messages")
        if problem is None and loading is not None and not (
                isinstance(loading, list) and len(loading) <= 10 and all(isinstance(m, str) for m in loading)):
            problem = "invalid_arguments"
        if problem is not None:
            return _error(problem)
        key = (args["channel_id"], args["thread_ts"])
        if args["status"]:
            self.statuses[key] = args["status"]
        else:
            self.statuses.pop(key, None)
        return _ok()

    def _assistant_threads_setSuggestedPrompts(self, args: dict[str, Any]) -> web.Response:
        """Up to four prompts, each with a title and a message (thread_ts: the legacy assistant view's threads,
        the view deploy/slack/manifest.yaml enables)."""
        problem = _thread_args(args)
        prompts = args.get("prompts")
        if problem is None and not (isinstance(prompts, list) and 1 <= len(prompts) <= 4 and all(
                isinstance(p, dict) and p.get("title") and p.get("message") for p in prompts)):
            problem = "invalid_arguments"
        if problem is not None:
            return _error(problem)
        self.prompts[(args["channel_id"], args["thread_ts"])] = prompts
        return _ok()

    def _assistant_threads_setTitle(self, args: dict[str, Any]) -> web.Response:
        problem = _thread_args(args)
        if problem is None and not str(args.get("title") or "").strip():
            problem = "invalid_arguments"
        if problem is not None:
            return _error(problem)
        self.titles[(args["channel_id"], args["thread_ts"])] = args["title"]
        return _ok()

    def _conversations_replies(self, args: dict[str, Any]) -> web.Response:
        """A thread (its parent, when posted here, then the replies), oldest first, within `oldest`..`latest`
        (bounds included only with `inclusive`), at most `limit` messages."""
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        if not _CHANNEL.fullmatch(channel):
            return _error("channel_not_found")
        if _ts_key(ts) is None:
            return _error("invalid_arguments")
        bots = ({"type": "message", "bot_id": BOT_ID, "user": BOT_USER, **m} for m in self.messages.values())
        thread = sorted((m for m in [*bots, *self.said.values()]
                         if m.get("channel") == channel and ts in (m["ts"], m.get("thread_ts"))),
                        key=lambda m: _ts_key(m["ts"]) or (0, 0))
        if not thread:
            return _error("thread_not_found")
        inclusive = str(args.get("inclusive") or "").lower() in ("1", "true")
        bounds = {}
        for name in ("oldest", "latest"):
            if args.get(name) not in (None, ""):
                bounds[name] = _ts_key(str(args[name]))
                if bounds[name] is None:
                    return _error(f"invalid_ts_{name}")

        def within(m: dict[str, Any]) -> bool:
            key = _ts_key(m["ts"])
            assert key is not None
            oldest, latest = bounds.get("oldest"), bounds.get("latest")
            after = oldest is None or key > oldest or (inclusive and key == oldest)
            before = latest is None or key < latest or (inclusive and key == latest)
            return after and before

        found = [m for m in thread if within(m)]
        limit = int(args.get("limit") or 1000)
        cursor = str(args.get("cursor") or "")
        start = int(cursor.removeprefix("offset:")) if cursor.startswith("offset:") else 0
        page = found[start:start + limit]
        more = len(found) > start + limit
        return _ok(messages=page, has_more=more,
                   response_metadata={"next_cursor": f"offset:{start + limit}" if more else ""})


def _thread_args(args: dict[str, Any]) -> str | None:
    """Slack's error for the channel_id and thread_ts of an assistant.threads.* call, None when both look right."""
    if not _CHANNEL.fullmatch(str(args.get("channel_id") or "")):
        return "channel_not_found"
    if _ts_key(str(args.get("thread_ts") or "")) is None:
        return "invalid_thread_ts"
    return None


def _ts_key(ts: str) -> tuple[int, int] | None:
    seconds, _, micros = ts.partition(".")
    return (int(seconds), int(micros)) if seconds.isdigit() and micros.isdigit() else None


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
