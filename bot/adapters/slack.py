"""Slack adapter: Events API (HTTP or Socket Mode) → `ChatMessage` → Pipeline → streamed `Reply`.

A message for us is taken before Slack gets its ack: a bolt middleware claims the event id and
stores the message in one transaction (`Pipeline.admit`), so a retry is dropped by every replica,
and a database that cannot take it gets Slack a 503 with Retry-After instead of an ack for a
message that would then be lost (Slack retries 5xx; nothing was kept, so the retry starts afresh).
The answer runs after the ack, in the background (`process_before_response=False`). Slash commands
go through the one `CommandProcessor` shared with Teams and the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import ClientError, web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from yarl import URL

from bot.adapters.slack_assistant import SlackAssistant
from bot.adapters.slack_people import Profile, SlackPeople
from bot.adapters.slack_render import (
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    answer_blocks,
    escape,
    sections,
    split_text,
    to_mrkdwn,
)
from bot.adapters.slack_text import PlainText, mentioned_users, plain_text
from bot.adapters.slack_thread import SlackThreadReader
from bot.commands import STAFF_COMMANDS, CommandContext, CommandProcessor, CommandResult
from bot.errors import ConfigurationError, DatabaseUnavailableError, LeaseLostError
from bot.files import HttpFileSource
from bot.i18n import t
from bot.memory.store import Lease, Resumable, SqlMemoryStore
from bot.pipeline import Admission, Pipeline
from bot.readiness import RETRY_AFTER_S
from bot.recovery import replica_id, while_holding
from bot.settings import Settings
from bot.types import ChatMessage, FileRef, Identity, Reply, ReplyKind

log = logging.getLogger(__name__)

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
ANSWERED_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})  # edits, deletions, joins: ignored
MENTION_LOOKUP_S = 1.0  # longest the names of mentioned people may take before the ack (then: "@colleague")
MAX_MENTION_LOOKUPS = 20  # distinct people looked up per message; the rest read as "@colleague"
_TABLE_COMMANDS = frozenset({"help", "policy", "model", "stats", "audit", "budget"})
ACKS_FIRST_MAX_S = 1.0  # longest an answer waits for other deliveries' acks
_TAKEN = "switchboard_taken"  # bolt context key: the message the middleware admitted
_DECISION_ID = re.compile(r"[0-9]{1,18}")  # what our buttons carry; fits a database integer


@dataclass(frozen=True, slots=True)
class Taken:
    """A message event admitted before the ack, for the listener that answers it after."""

    msg: ChatMessage
    admission: Admission
    im: bool
    assistant: bool = False  # a reply in a DM thread: the assistant view's threads (as bolt tells them)
    read_thread: str = ""  # mentioned into a thread not yet ours: the ts of the mention, read the thread before it
    bot_user: str = ""


def slack_tenant(team_id: object, enterprise_id: object = None) -> str:
    """The tenant of a Slack payload: the workspace (team id); the Enterprise Grid organisation only when a
    payload names no workspace (org-wide installs)."""
    return str(team_id or enterprise_id or "")


class SlackAdapter:
    """The Slack app: one bolt `AsyncApp` whose listeners only translate to and from our types."""

    platform = PLATFORM  # what it resumes after a restart (`bot.recovery.Resumer`)

    def __init__(self, *, settings: Settings, pipeline: Pipeline, commands: CommandProcessor,
                 memory: SqlMemoryStore, update_interval_s: float = 0.8, profile_ttl_s: float = 600.0) -> None:
        if not settings.slack_bot_token or not settings.slack_signing_secret:
            raise ConfigurationError("the Slack app needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; set both")
        self._pipeline = pipeline
        self._commands = commands
        self._memory = memory
        self._admins = settings.admin_identities
        self._workspace_admins = settings.slack_workspace_admins
        self.update_interval_s = update_interval_s
        # admitted messages are pending delivery until answered, held by this process for the lease
        self._lease = Lease(owner=replica_id(), seconds=settings.recovery_lease_s)
        self._inflight: set[asyncio.Task[Any]] = set()
        self._acking = 0  # HTTP requests still waiting for their answer (the ack)
        self._all_acked = asyncio.Event()
        self._all_acked.set()
        self._verifier = SignatureVerifier(settings.slack_signing_secret)
        base_url = settings.slack_api_base_url.rstrip("/") + "/"
        self.client = AsyncWebClient(token=settings.slack_bot_token, base_url=base_url)
        self.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
        self.files = HttpFileSource(slack_file_headers(settings.slack_bot_token, base_url))
        self.people = SlackPeople(self.client, ttl_s=profile_ttl_s)
        self.assistant = SlackAssistant(self.client, memory)
        # threads are read with a client of their own: no retry handler waiting out a 429 (bot.adapters.slack_thread)
        self.threads = SlackThreadReader(AsyncWebClient(token=settings.slack_bot_token, base_url=base_url),
                                         self.people, max_messages=settings.thread_max_messages,
                                         max_chars=settings.thread_max_chars)
        # the client carries the token (bolt ignores `token=` when a client is given)
        self.app = AsyncApp(signing_secret=settings.slack_signing_secret, client=self.client,
                            process_before_response=False, logger=log)
        self.app.use(self._take)
        self.app.event("message")(self._on_message)
        self.app.event("app_mention")(self._on_message)
        self.app.command("/switchboard")(self._on_command)
        self.app.action(FEEDBACK_UP)(self._on_feedback)
        self.app.action(FEEDBACK_DOWN)(self._on_feedback)
        self.app.event("assistant_thread_started")(self._on_thread_started)
        self.app.event("app_home_opened")(self._on_home_opened)
        # everything else Slack may send is acknowledged, never a 404 (Slack counts those as failed
        # deliveries, retries them, and shows users an error for an unacknowledged action); registered last,
        # bolt runs the first listener that matches
        anything = re.compile(".*")
        self.app.event(anything)(self._acknowledge)  # assistant_thread_context_changed, member_joined_channel, …
        self.app.action(anything)(self._acknowledge)  # buttons of messages from older versions, of other apps
        # (no shortcuts, modals or option menus are declared in deploy/slack/manifest.yaml: Slack sends none)

    # --- HTTP ------------------------------------------------------------------------------

    def mount(self, app: web.Application) -> None:
        """POST /slack/events serves events, slash commands and button clicks alike."""
        app.router.add_post(EVENTS_PATH, self.handle_http)
        app.on_cleanup.append(lambda _app: self.drain())

    async def handle_http(self, request: web.Request) -> web.StreamResponse:
        self._acking += 1
        self._all_acked.clear()
        try:
            return await self._handle_http(request)
        finally:
            self._acking -= 1
            if not self._acking:
                self._all_acked.set()

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            valid = self._verifier.is_valid_request(raw, request.headers)
        except (ValueError, OverflowError, TypeError):  # a timestamp that is no (sane) number, a non-ASCII signature
            valid = False
        if not valid:
            return web.json_response({"error": "invalid signature or stale timestamp"}, status=401)
        try:
            text = raw.decode("utf-8")
            payload = parse_body(text, request.content_type)
            if not isinstance(payload, dict) or not _well_formed(payload):
                return web.json_response({"error": "malformed body: not a Slack payload"}, status=400)
            # the text just verified, not bolt's `to_bolt_request`, which decodes again by the declared charset
            # (LookupError for an unknown one); bolt reads ids out of the payload here, and odd shapes fail as
            # Attribute/Type/Key/IndexErrors
            bolt_request = AsyncBoltRequest(body=text, query=request.query_string,
                                            headers=request.headers)  # type: ignore[arg-type]
        except (ValueError, AttributeError, TypeError, KeyError, IndexError, RecursionError) as exc:
            # RecursionError: JSON nested deeper than Python's parser goes
            return web.json_response({"error": f"malformed body: {type(exc).__name__}"}, status=400)
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    async def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait for answers still being written (tests, benchmarks, graceful shutdown); True when none
        is left."""
        deadline = time.monotonic() + timeout_s
        await asyncio.sleep(0.01)  # let listeners bolt has just scheduled register themselves
        while self._inflight and time.monotonic() < deadline:
            await asyncio.wait(set(self._inflight), timeout=deadline - time.monotonic())
        return not self._inflight

    async def _tracked(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await work
        finally:
            if task is not None:
                self._inflight.discard(task)

    # --- events ----------------------------------------------------------------------------

    async def _take(self, body: dict[str, Any], context: dict[str, Any],
                    next_: Callable[[], Awaitable[None]]) -> BoltResponse | None:
        """Middleware, before the ack: admit a message for us (claim + store), or refuse with 503."""
        event = body.get("event") if body.get("type") == "event_callback" else None
        if not isinstance(event, dict) or event.get("type") not in ("message", "app_mention"):
            await next_()
            return None
        try:
            taken = await self._admit(body, event, context)
        except DatabaseUnavailableError as exc:
            log.warning("slack: event %s refused with 503, Slack will retry: %s", body.get("event_id"), exc)
            return BoltResponse(status=503, body={"error": "database unavailable; retry later"},
                                headers={"Retry-After": str(RETRY_AFTER_S)})
        if taken is None:
            return BoltResponse(status=200, body="")  # not for us, or a re-delivery already taken: ack only
        context[_TAKEN] = taken
        await next_()
        return None

    async def _admit(self, body: dict[str, Any], event: dict[str, Any], context: dict[str, Any]) -> Taken | None:
        bot_user = str(context.get("bot_user_id") or "")
        mentioned = event.get("type") == "app_mention"
        if not self._is_for_us(event, bot_user, mentioned=mentioned):
            return None
        im = event.get("channel_type") == "im"
        # mentioned into a thread of a channel that is no conversation of ours yet: read the thread first
        unknown_thread = bool(event.get("thread_ts")) and not im and not await self._known_thread(body, event)
        if not (im or mentioned) and unknown_thread:
            return None  # a thread in a channel we were never asked about
        tenant = _tenant_of(body)
        text = await self._read(tenant, str(event.get("text") or ""), bot_user)
        msg = ChatMessage(platform=PLATFORM, tenant=tenant, channel=str(event["channel"]),
                          thread=str(event.get("thread_ts") or event["ts"]), user=str(event["user"]),
                          text=text.text, mentions=text.mentions, files=_files(event.get("files")),
                          event_id=str(body.get("event_id") or ""))
        admission = await self._pipeline.admit(msg, lease=self._lease)
        if admission is None:
            log.info("dropped a re-delivered Slack event %s", msg.event_id)
            return None
        return Taken(msg=msg, admission=admission, im=im, assistant=im and bool(event.get("thread_ts")),
                     read_thread=str(event["ts"]) if mentioned and unknown_thread else "", bot_user=bot_user)

    async def _read(self, tenant: str, text: str, bot_user: str) -> PlainText:
        """The text with the people it mentions named (users.info, cached), before the ack: what is stored is
        what the privacy check and the model read. Bounded in time and number; an unresolved mention reads
        as a neutral placeholder."""
        users = mentioned_users(text, bot_user)[:MAX_MENTION_LOOKUPS]
        people = await self.people.names(tenant, users, timeout_s=MENTION_LOOKUP_S) if users else {}
        return plain_text(text, bot_user=bot_user, people=people)

    async def _on_message(self, context: dict[str, Any]) -> None:
        taken: Taken | None = context.get(_TAKEN)
        if taken is not None:
            await self._tracked(self._answer(taken))

    @staticmethod
    def _is_for_us(event: dict[str, Any], bot_user: str, *, mentioned: bool) -> bool:
        # message events can carry $.event.bot_id without a user id (bot and app messages)
        if event.get("bot_id") or not event.get("user") or event.get("user") == bot_user:
            return False
        if event.get("subtype") not in ANSWERED_SUBTYPES or not event.get("channel") or not event.get("ts"):
            return False
        if mentioned or event.get("channel_type") == "im":
            return True
        # channel messages that mention us also arrive as app_mention: answer those once, there
        return bool(event.get("thread_ts")) and f"<@{bot_user}>" not in str(event.get("text") or "")

    async def _known_thread(self, body: dict[str, Any], event: dict[str, Any]) -> bool:
        """A follow-up in a channel thread is ours only when that thread is already a conversation."""
        return await self._memory.has_conversation(platform=PLATFORM, tenant=_tenant_of(body),
                                                   channel=str(event["channel"]), thread=str(event["thread_ts"]))

    async def _answer(self, taken: Taken) -> None:
        # acks first: under a burst, the deliveries still waiting for their ack go before this answer's
        # CPU work (privacy analysis), which would otherwise slow every ack behind it (bench_slack, 65
        # at once on 2 busy cores: p99 ~0.33 s, ~0.17 s with this); bounded, so a steady stream of
        # deliveries cannot hold answers back
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_acked.wait(), ACKS_FIRST_MAX_S)
        profile = await self._profile(taken.msg.tenant, taken.msg.user)
        msg = replace(taken.msg, locale=profile.locale)
        turn = taken.admission.turn

        async def remember(ts: str) -> None:  # where the answer is, for the recovery pass
            if turn is not None:
                await self._keep(self._memory.set_placeholder(turn.message_id, ts))

        status = taken.im and await self.assistant.working(channel=msg.channel, thread_ts=msg.thread,
                                                           locale=msg.locale)
        # native streaming where our status shows instead of a placeholder (the assistant view's threads)
        native = NativeTarget(team=msg.tenant, user=msg.user) if status and taken.assistant else None
        stream = SlackStream(self.client, channel=msg.channel, thread_ts=msg.thread, locale=msg.locale,
                             interval_s=self.update_interval_s, on_first_post=remember, native=native)
        if taken.assistant and turn is not None:
            await self._title(msg, turn.conversation.id, turn.message_id)
        # in an assistant thread the status (with its loading messages) shows until the first words arrive; a
        # placeholder message would replace it at once. Elsewhere, or when Slack refused the status: "Thinking…"
        if not (status and taken.assistant):
            try:
                await stream.start()
            except SlackApiError as exc:  # not in the channel, archived, …: nowhere to answer, so no model call
                log.warning("Slack refused our placeholder message (%s); the message is not answered",
                            exc.response.get("error"))
                await self._delivered(turn.message_id if turn is not None else None)
                return
        context = None
        if taken.read_thread:
            context = await self.threads.read(tenant=msg.tenant, channel=msg.channel, thread_ts=msg.thread,
                                              before_ts=taken.read_thread, bot_user=taken.bot_user)
        answering = self._pipeline.handle(msg, on_partial=stream.partial, admission=taken.admission,
                                          files=self.files, context=context)
        try:
            reply = await (answering if turn is None else
                           while_holding(self._memory, message_id=turn.message_id, lease=self._lease, work=answering))
        except LeaseLostError:
            return  # another instance took the message over and answers it in the same placeholder
        try:
            await stream.finish(reply)
        except SlackApiError as exc:
            log.warning("Slack refused the answer (%s); it is lost", exc.response.get("error"))
        await self._delivered(turn.message_id if turn is not None else None)

    async def resume(self, pending: Resumable, *, apologise: bool) -> None:
        """Finish a message admitted before a restart, in its placeholder when one was posted."""
        await self._tracked(self._resume(pending, apologise=apologise))

    async def _resume(self, pending: Resumable, *, apologise: bool) -> None:
        profile = await self._profile(pending.msg.tenant, pending.msg.user)
        msg = replace(pending.msg, locale=profile.locale)
        stream = SlackStream(self.client, channel=msg.channel, thread_ts=msg.thread, locale=msg.locale,
                             interval_s=self.update_interval_s)
        if pending.placeholder:
            if await self._answered_in(msg, pending.placeholder):
                log.warning("recovery: the placeholder of message %d already holds its answer (posted before the "
                            "process died, not marked delivered): marked delivered, not answered again",
                            pending.turn.message_id)
                return
            stream.adopt(pending.placeholder)
        else:
            await stream.start()
            await self._memory.set_placeholder(pending.turn.message_id, stream.messages[0])
        if apologise:
            reply = Reply(text=t("recovered_sorry", msg.locale), kind=ReplyKind.ERROR)
        else:
            answering = self._pipeline.handle(msg, on_partial=stream.partial, admission=Admission(turn=pending.turn),
                                              files=self.files)
            reply = await while_holding(self._memory, message_id=pending.turn.message_id, lease=pending.lease,
                                        work=answering)
        await stream.finish(reply)

    async def _answered_in(self, msg: ChatMessage, placeholder: str) -> bool:
        """Whether the placeholder message `placeholder` (a reply in the thread of `msg`) shows a final answer,
        read back with conversations.replies. Only the final render carries section blocks (the placeholder
        and the streamed partial texts are plain text), and it writes the placeholder last
        (`SlackStream.finish`), so then the whole answer is there. False when Slack does not tell (a missing
        *:history scope, a rate limit, an error): the message is answered again, as without this check."""
        try:
            resp = await self.client.conversations_replies(channel=msg.channel, ts=msg.thread, oldest=placeholder,
                                                           latest=placeholder, inclusive=True, limit=2)
        except SlackApiError as exc:
            log.warning("recovery: conversations.replies refused (%s; does the app have the *:history scopes of "
                        "deploy/slack/manifest.yaml?): the message is answered again, its placeholder unread",
                        exc.response.get("error"))
            return False
        except (ClientError, TimeoutError) as exc:
            log.warning("recovery: conversations.replies failed (%r): the message is answered again", exc)
            return False
        found = [m for m in resp.get("messages") or [] if isinstance(m, dict) and m.get("ts") == placeholder]
        return bool(found) and _is_final_render(found[0])

    async def _delivered(self, message_id: int | None) -> None:
        if message_id is not None:
            await self._keep(self._memory.mark_delivered(message_id))

    @staticmethod
    async def _keep(write: Coroutine[Any, Any, None]) -> None:
        # after the ack nobody can be told: the recovery pass may then deliver this message once more
        try:
            await write
        except DatabaseUnavailableError as exc:
            log.warning("slack: the delivery state of a message was not stored: %s", exc)

    async def _title(self, msg: ChatMessage, conversation_id: int, message_id: int) -> None:
        """An assistant thread is titled after its first message."""
        try:
            earlier = await self._memory.history(conversation_id, limit=1, before=message_id)
        except DatabaseUnavailableError:
            return  # untitled rather than retitled
        if not earlier:
            await self.assistant.title(channel=msg.channel, thread_ts=msg.thread, text=msg.text)

    # --- the assistant view, App Home and everything else ----------------------------------

    async def _on_thread_started(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        await self._tracked(self._thread_started(body, event))

    async def _thread_started(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        thread = event.get("assistant_thread")
        ids = _strings(thread, "user_id", "channel_id", "thread_ts") if isinstance(thread, dict) else None
        if ids is None:
            log.warning("assistant_thread_started without its assistant_thread ids: ignored")
            return
        user, channel, thread_ts = ids
        tenant = _tenant_of(body)
        if not await self._first_delivery(tenant, body):
            return
        locale = (await self._profile(tenant, user)).locale
        await self.assistant.greet(channel=channel, thread_ts=thread_ts, locale=locale)

    async def _on_home_opened(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        await self._tracked(self._home_opened(body, event))

    async def _home_opened(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        ids = _strings(event, "user", "channel")
        if event.get("tab") != "messages" or ids is None:
            return  # the Home tab is not enabled (deploy/slack/manifest.yaml): nothing to publish there
        user, channel = ids
        tenant = _tenant_of(body)
        locale = (await self._profile(tenant, user)).locale
        await self.assistant.welcome(tenant=tenant, user=user, channel=channel, locale=locale)

    async def _first_delivery(self, tenant: str, body: dict[str, Any]) -> bool:
        """False for a retried delivery of an event already taken; True when the database cannot tell (a
        second greeting is better than none)."""
        event_id = body.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            return True
        try:
            return await self._memory.claim_event(f"{PLATFORM}:{tenant}:{event_id}")
        except DatabaseUnavailableError as exc:
            log.warning("slack: could not check event %s for a re-delivery: %s", event_id, exc)
            return True

    @staticmethod
    async def _acknowledge(ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
        """Acknowledge what we have no use for, so Slack neither retries it nor shows an error."""
        await ack()
        event = body.get("event")
        kind = event.get("type") if isinstance(event, dict) else body.get("type")
        log.debug("slack: acknowledged %s, nothing to do", kind)

    # --- people ----------------------------------------------------------------------------

    async def _profile(self, tenant: str, user: str) -> Profile:
        """Locale, role and name from users.info (cached; a failed look-up reads as English, no rights)."""
        return await self.people.profile(tenant, user)

    # --- slash commands --------------------------------------------------------------------

    async def _on_command(self, ack: Callable[[], Awaitable[None]], command: dict[str, Any],
                          respond: Callable[..., Awaitable[Any]]) -> None:
        await ack()  # within Slack's 3 s; the result follows through response_url
        await self._tracked(self._command(command, respond))

    async def _command(self, command: dict[str, Any], respond: Callable[..., Awaitable[Any]]) -> None:
        user, text = str(command.get("user_id") or ""), str(command.get("text") or "")
        tenant = slack_tenant(command.get("team_id"), command.get("enterprise_id"))
        profile = await self._profile(tenant, user)
        ctx = CommandContext(platform=PLATFORM, tenant=tenant, channel=str(command.get("channel_id") or ""), user=user,
                             is_admin=self._is_admin(Identity(PLATFORM, tenant, user), profile),
                             locale=profile.locale)
        try:
            result = await self._commands.execute(ctx, text)
            pieces = split_text(command_text(ctx, text, result))
        except DatabaseUnavailableError as exc:  # acked already (Slack does not retry commands): say so
            log.warning("slack: a command failed: %s", exc)
            pieces = [t("db_down", ctx.locale)]
        try:
            for piece in pieces:
                await respond(text=piece, response_type="ephemeral")
        except (ClientError, TimeoutError, ValueError) as exc:  # ValueError: bolt's respond without a response_url
            log.warning("the result of a slash command could not be delivered to its response_url: %r", exc)

    def _is_admin(self, who: Identity, profile: Profile) -> bool:
        """Listed in SWITCHBOARD_ADMINS as this exact (slack, workspace, user); or, only when
        SWITCHBOARD_SLACK_WORKSPACE_ADMINS is on, an admin or owner of this workspace per users.info."""
        if not who.tenant or not who.user:
            return False
        return who in self._admins or (self._workspace_admins and profile.workspace_admin)

    # --- feedback buttons ------------------------------------------------------------------

    async def _on_feedback(self, ack: Callable[[], Awaitable[None]], body: dict[str, Any],
                           action: dict[str, Any]) -> None:
        await ack()
        await self._tracked(self._feedback(body, action))

    async def _feedback(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        user, channel = _id_of(body.get("user")), _id_of(body.get("channel"))
        # the vote counts only on the decision's own platform and tenant (SqlMemoryStore.add_feedback)
        team = slack_tenant(_id_of(body.get("team")), _id_of(body.get("enterprise")))
        value = action.get("value")
        if not isinstance(value, str) or not _DECISION_ID.fullmatch(value):
            log.warning("feedback button without a decision id")
            return
        decision_id = int(value)
        score = 1 if action.get("action_id") == FEEDBACK_UP else -1
        try:
            stored = await self._memory.add_feedback(decision_id=decision_id, user=Identity(PLATFORM, team, user),
                                                     score=score)
            said = "slack_feedback_thanks" if stored else "slack_feedback_gone"
        except DatabaseUnavailableError as exc:  # acked already: tell the voter it was not kept
            log.warning("slack: a vote was not stored: %s", exc)
            said = "db_down"
        locale = (await self._profile(team, user)).locale
        if channel:
            try:
                await self.client.chat_postEphemeral(channel=channel, user=user, text=t(said, locale))
            except SlackApiError as exc:  # the vote is stored (or not: `said` tells); only the message is lost
                log.warning("chat.postEphemeral refused: %s", exc.response.get("error"))

    # --- Socket Mode -----------------------------------------------------------------------

    async def start_socket_mode(self, app_token: str) -> Callable[[], Awaitable[None]]:
        """Connect over Socket Mode (no public URL needed); returns the coroutine that disconnects."""
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        handler = AsyncSocketModeHandler(self.app, app_token)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("Slack Socket Mode connected")

        async def close() -> None:  # answers in progress are left to `drain`
            await handler.close_async()  # type: ignore[no-untyped-call]

        return close


@dataclass(frozen=True, slots=True)
class NativeTarget:
    """Whom a natively streamed answer is for (chat.startStream's recipient_team_id / recipient_user_id)."""

    team: str
    user: str


NATIVE_STREAM_LIMIT = 12_000  # characters of one natively streamed message; longer answers are re-rendered


class SlackStream:
    """One answer as Slack messages in a thread: a placeholder, throttled chat.update while the model
    streams, and a final render split into ≤3,500-character messages with footer and 👍/👎 on the last.

    With `native` (where no placeholder was posted: assistant threads showing our status) the answer streams
    natively instead: chat.startStream with the first words, chat.appendStream with what follows (throttled
    like the updates), chat.stopStream with the footer and 👍/👎. Where Slack refuses chat.startStream
    (unknown_method on an older workspace or proxy, a channel type it does not stream to, …) the answer falls
    back to the placeholder and chat.update. An answer that does not continue what was streamed (a fallback
    model starting over, restored pseudonyms) or outgrows one message is stopped and re-rendered with
    chat.update."""

    def __init__(self, client: AsyncWebClient, *, channel: str, thread_ts: str, locale: str,
                 interval_s: float, on_first_post: Callable[[str], Awaitable[None]] | None = None,
                 native: NativeTarget | None = None) -> None:
        self._client = client
        self._on_first_post = on_first_post  # told the ts of the answer's first message once it is posted
        self._channel = channel
        self._thread_ts = thread_ts
        self._locale = locale
        self._interval_s = interval_s
        self._posted: list[str] = []  # ts of each message of this answer
        self._shown: list[str] = []  # what each message shows now
        self._last_update = 0.0
        self._lock = asyncio.Lock()
        self._native = native
        self._streamed: str | None = None  # the text streamed natively so far (None: no native stream open)
        self._diverged = False  # the answer no longer continues what was streamed: re-rendered at the finish

    @property
    def messages(self) -> list[str]:
        return list(self._posted)

    def adopt(self, ts: str) -> None:
        """Continue in a message posted before (a placeholder left by a process that died)."""
        self._posted, self._shown = [ts], [""]

    async def start(self) -> None:
        """Post the "Thinking…" placeholder. (Where Slack shows our status instead, the answer's first message
        is posted with its first words: `partial`, or `finish`.)"""
        thinking = t("slack_thinking", self._locale)
        await self._post(thinking, None)
        self._last_update = time.monotonic()

    async def _post(self, text: str, blocks: list[dict[str, Any]] | None) -> None:
        resp = await self._client.chat_postMessage(channel=self._channel, thread_ts=self._thread_ts, text=text,
                                                   blocks=blocks)
        self._posted.append(str(resp["ts"]))
        self._shown.append(text)
        if len(self._posted) == 1 and self._on_first_post is not None:
            await self._on_first_post(self._posted[0])

    async def partial(self, text: str) -> None:
        """The text so far; at most one round of updates per interval (Slack rate-limits chat.update)."""
        if time.monotonic() - self._last_update < self._interval_s or self._lock.locked():
            return
        async with self._lock:
            if await self._native_partial(text):
                self._last_update = time.monotonic()
                return
            pieces = split_text(to_mrkdwn(text))
            pieces[-1] += " ▍"
            try:
                await self._sync([(p, None) for p in pieces])
            except SlackApiError as exc:  # a lost partial update must not fail the model call; finish retries
                log.info("chat.update refused during streaming: %s", exc.response.get("error"))
            self._last_update = time.monotonic()

    async def _native_partial(self, text: str) -> bool:
        """Stream `text` (all of the answer so far) natively; False when the answer is not streamed natively."""
        if self._native is None or (self._streamed is None and self._posted):
            return False
        if self._streamed is None:
            try:
                resp = await self._client.chat_startStream(
                    channel=self._channel, thread_ts=self._thread_ts, markdown_text=text[:NATIVE_STREAM_LIMIT],
                    recipient_team_id=self._native.team, recipient_user_id=self._native.user)
            except SlackApiError as exc:
                log.info("chat.startStream refused (%s): streaming with chat.update", exc.response.get("error"))
                self._native = None
                return False
            self._streamed = text[:NATIVE_STREAM_LIMIT]
            self._posted, self._shown = [str(resp["ts"])], [self._streamed]
            if self._on_first_post is not None:
                await self._on_first_post(self._posted[0])
            return True
        if self._diverged or not text.startswith(self._streamed) or len(text) > NATIVE_STREAM_LIMIT:
            self._diverged = True  # the finish re-renders the message
            return True
        delta = text[len(self._streamed):]
        if delta:
            try:
                await self._client.chat_appendStream(channel=self._channel, ts=self._posted[0], markdown_text=delta)
                self._streamed = text
            except SlackApiError as exc:
                log.info("chat.appendStream refused (%s): the answer is re-rendered at its end",
                         exc.response.get("error"))
                self._diverged = True
        return True

    async def _native_finish(self, reply: Reply) -> bool:
        """Close the native stream: with the footer and 👍/👎 when the answer continues what was streamed (True);
        else stopped bare, for `finish` to re-render the message (False)."""
        streamed = self._streamed
        if streamed is None:
            return False
        self._streamed = None
        ts = self._posted[0]
        text = reply.text
        if not self._diverged and text.startswith(streamed) and len(text) <= NATIVE_STREAM_LIMIT:
            footer = [b for b in answer_blocks("", reply, self._locale) if b.get("type") != "section"]
            try:
                if text[len(streamed):]:
                    await self._client.chat_appendStream(channel=self._channel, ts=ts,
                                                         markdown_text=text[len(streamed):])
                await self._client.chat_stopStream(channel=self._channel, ts=ts, blocks=footer or None)
                self._shown = [text]
                return True
            except SlackApiError as exc:
                log.info("chat.appendStream/stopStream refused (%s): re-rendered", exc.response.get("error"))
        try:
            await self._client.chat_stopStream(channel=self._channel, ts=ts)
        except SlackApiError as exc:  # already stopped, or expired: chat.update still writes the message
            log.info("chat.stopStream refused (%s)", exc.response.get("error"))
        return False

    async def finish(self, reply: Reply) -> None:
        async with self._lock:
            if await self._native_finish(reply):
                return
            pieces = split_text(to_mrkdwn(reply.text))
            rendered: list[tuple[str, list[dict[str, Any]] | None]] = [(p, sections(p)) for p in pieces[:-1]]
            rendered.append((pieces[-1], answer_blocks(pieces[-1], reply, self._locale)))
            if not self._posted and len(rendered) > 1:  # nothing posted yet: the first message goes first, plain
                await self._post(rendered[0][0], None)
            await self._sync(rendered, final=True)

    async def _sync(self, pieces: list[tuple[str, list[dict[str, Any]] | None]], *, final: bool = False) -> None:
        if final:  # a fallback restarted shorter than the first model's partial answer
            for ts in self._posted[max(len(pieces), 1):]:
                await self._client.chat_delete(channel=self._channel, ts=ts)
            del self._posted[max(len(pieces), 1):], self._shown[max(len(pieces), 1):]
        # the final render writes the first message (the placeholder) last: once it shows its final text,
        # the whole answer is there (what the recovery pass reads back, `SlackAdapter._answered_in`)
        order = [*range(1, len(pieces)), 0] if final else range(len(pieces))
        for i in order:
            text, blocks = pieces[i]
            if i >= len(self._posted):
                await self._post(text, blocks)
            elif final or self._shown[i] != text:
                await self._client.chat_update(channel=self._channel, ts=self._posted[i], text=text,
                                               blocks=blocks)
                self._shown[i] = text


def clean_text(text: str, bot_user: str) -> str:
    """Slack's wire text as the user typed it: our mention removed, tokens and entities made plain
    (mentions of other people as they were sent: see `SlackAdapter._read` for their names)."""
    return plain_text(text, bot_user=bot_user).text


def command_text(ctx: CommandContext, line: str, result: CommandResult) -> str:
    """A command result in Slack mrkdwn; the texts staff see come in their locale."""
    name = line.strip().split(" ")[0].lower().lstrip("/") if line.strip() else "help"
    if not result.ok and not ctx.is_admin and name not in STAFF_COMMANDS and not result.text.startswith("Unknown"):
        return t("slack_not_admin", ctx.locale, command=escape(name))
    if name == "forget" and result.ok and "erased" in result.data:
        return t("slack_forgotten", ctx.locale, erased=result.data["erased"])
    if name in _TABLE_COMMANDS and "\n" in result.text:
        return f"```\n{escape(result.text)}\n```"
    return escape(result.text)


def _is_final_render(message: dict[str, Any]) -> bool:
    """A message as `SlackStream.finish` left it: with our section blocks, or (a natively streamed answer)
    our footer; Slack may add rich_text blocks of its own to plain-text messages, and those do not count."""
    blocks = message.get("blocks")
    return isinstance(blocks, list) and any(isinstance(b, dict) and b.get("type") in ("section", "context", "actions")
                                            for b in blocks)


def _tenant_of(body: dict[str, Any]) -> str:
    return slack_tenant(body.get("team_id"), body.get("enterprise_id"))


def _id_of(part: object) -> str:
    """The id of a payload part such as `user` or `team` ({"id": …}), "" when the part is no object."""
    return str(part.get("id") or "") if isinstance(part, dict) else ""


def _files(files: object) -> tuple[FileRef, ...]:
    """The files a message event carries (`files` of a file_share): named "file" when Slack gives no name (a
    Slack Connect file not yet shared with us, `mode: file_access`, comes without its URLs)."""
    if not isinstance(files, list):
        return ()
    return tuple(_file(f) if isinstance(f, dict) else FileRef(name="file") for f in files)


def _file(f: dict[str, Any]) -> FileRef:
    name = f.get("name") or f.get("title")
    url = f.get("url_private_download") or f.get("url_private")
    size = f.get("size")
    return FileRef(name=name[:100] if isinstance(name, str) and name.strip() else "file",
                   url=url if isinstance(url, str) else "", mimetype=str(f.get("mimetype") or "")[:100],
                   filetype=str(f.get("filetype") or "")[:32],
                   size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None)


def slack_file_headers(token: str, api_base_url: str) -> Callable[[URL], dict[str, str] | None]:
    """The bot token goes with a file download only to Slack's own hosts over https (`files.slack.com`), or to
    where SLACK_API_BASE_URL points (a proxy, the tests' fake): never to a host a payload names otherwise."""
    api = URL(api_base_url)
    auth = {"Authorization": f"Bearer {token}"}

    def headers_for(url: URL) -> dict[str, str] | None:
        host = url.host or ""
        if url.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")):
            return auth
        return auth if url.origin() == api.origin() else None

    return headers_for


def _strings(part: dict[str, Any], *keys: str) -> tuple[str, ...] | None:
    """The values of `keys` in a payload part when each is a non-empty string, else None."""
    values = tuple(part.get(k) for k in keys)
    return values if all(isinstance(v, str) and v for v in values) else None  # type: ignore[return-value]


def _well_formed(payload: dict[str, Any]) -> bool:
    """The shapes bolt can dispatch; anything else is the caller's error, not ours."""
    kind = payload.get("type")
    if kind == "event_callback":
        event = payload.get("event")
        return isinstance(event, dict) and isinstance(event.get("type"), str)
    if kind in ("block_actions", "block_suggestion") and "actions" in payload:
        # bolt's matchers take the first action and read its action_id with [] (a regex for the catch-all)
        actions = payload["actions"]
        return isinstance(actions, list) and bool(actions) and all(
            isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)
    if kind in ("url_verification", "block_actions", "view_submission", "view_closed", "shortcut",
                "message_action", "block_suggestion"):
        return True
    return "command" in payload or kind == "ssl_check" or "ssl_check" in payload


def build_slack_adapter(*, settings: Settings, pipeline: Pipeline, commands: CommandProcessor,
                        memory: SqlMemoryStore) -> SlackAdapter:
    return SlackAdapter(settings=settings, pipeline=pipeline, commands=commands, memory=memory)
