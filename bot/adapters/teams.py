"""Teams adapter: Bot Framework activities on `POST /api/messages` ↔ `ChatMessage` / `Reply`.

The only module that talks to botbuilder (archived upstream at 4.17.1): moving to the Microsoft 365
Agents SDK means rewriting this file and nothing else (cards live in `teams_cards`, pure JSON).

Delivery model: the answer is produced *inside* the HTTP turn for up to `turn_budget_s` — that is
what Teams streaming needs (informative update → streaming updates → final message in personal
chat; a typing indicator and one message elsewhere). When the pipeline takes longer, the turn ends
(Teams gets its HTTP reply in time and does not redeliver) and the answer is delivered proactively
with `continue_conversation`, retrying 429/412/502/504 with backoff.

A message is claimed and stored (`Pipeline.admit`) before anything is sent back; when the database
cannot take it the turn raises `DatabaseUnavailableError`, the app answers 503 with Retry-After
(nothing kept), and a redelivery of the activity is taken afresh. It is stored as pending delivery
together with its conversation reference (serviceUrl, conversation, the activity to reply to, tenant),
leased to this process and marked delivered once the answer is sent: when the process dies first, the
recovery pass of any replica (`bot.recovery`) answers it proactively with `resume`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import botbuilder.schema
import jwt
import requests
from aiohttp import ClientError, web
from azure.core.exceptions import DeserializationError  # what msrest raises for it
from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    ConversationReference,
    Entity,
)
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from botframework.connector.skills import BotFrameworkClient
from msrest.exceptions import ClientException, HttpOperationError
from yarl import URL

from bot.adapters.service_urls import ServiceUrlAllowlist
from bot.adapters.teams_cards import CARD_CONTENT_TYPE, answer_card, feedback_vote, policy_card, welcome_card
from bot.app import DRAINS
from bot.commands import STAFF_COMMANDS, CommandContext, CommandProcessor, CommandResult
from bot.errors import ConfigurationError, DatabaseUnavailableError, LeaseLostError, ServiceUrlNotAllowedError
from bot.files import HttpFileSource, is_loopback
from bot.i18n import t
from bot.memory.store import Lease, Resumable
from bot.pipeline import Admission
from bot.recovery import replica_id, while_holding
from bot.services import Services
from bot.types import ChatMessage, FileRef, Identity, Reply, ReplyKind
from routing.retry_after import retry_after_from_headers

log = logging.getLogger(__name__)

T = TypeVar("T")

PLATFORM = "teams"
RETRY_STATUSES = frozenset({412, 429, 502, 504})
# Words that make a message an admin command wherever they appear first; staff commands (`why`,
# `forget`, `help`) only count when typed alone, so "help me write an offer" goes to the pipeline.
ADMIN_COMMANDS = frozenset({"policy", "model", "stats", "audit", "budget"})
# activities that are answered, and so must name where (serviceUrl), in which conversation and from whom
ANSWERED_TYPES = frozenset({ActivityTypes.message, ActivityTypes.invoke})
# conversationUpdate too: the bot added to a conversation introduces itself (others joining: nothing to do)
HANDLED_TYPES = ANSWERED_TYPES | {ActivityTypes.conversation_update}
FEEDBACK_INVOKE = "message/submitAction"
# what a failing Bot Framework connector raises: HTTP errors, network errors, and an answer that is no JSON
# (a proxy's HTML error page): msrest reports that as DeserializationError, a ValueError
CONNECTOR_ERRORS = (ClientException, ClientError, OSError, DeserializationError)


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamsOptions:
    turn_budget_s: float = 10.0  # Bot Framework wants the HTTP reply within ~15 s
    stream_interval_s: float = 1.0  # Teams accepts about one streaming update per second
    typing_interval_s: float = 3.0  # a typing indicator fades after a few seconds
    retry_attempts: int = 4
    retry_base_s: float = 0.5
    retry_max_s: float = 8.0
    auth_timeout_s: float = 5.0  # checking a token may mean fetching Microsoft's signing keys first


class _StreamInfo(Entity):  # type: ignore[misc]
    """The `streaminfo` entity; botbuilder's Entity drops unknown properties when serialising."""

    _attribute_map = {  # noqa: RUF012 — msrest reads this class attribute
        "type": {"key": "type", "type": "str"},
        "stream_id": {"key": "streamId", "type": "str"},
        "stream_type": {"key": "streamType", "type": "str"},
        "stream_sequence": {"key": "streamSequence", "type": "int"},
    }

    def __init__(self, *, stream_type: str, stream_id: str | None = None, stream_sequence: int | None = None) -> None:
        super().__init__(type="streaminfo")
        self.stream_id = stream_id
        self.stream_type = stream_type
        self.stream_sequence = stream_sequence


class _AiGenerated(Entity):  # type: ignore[misc]
    """The schema.org Message entity that labels a message "AI generated" in Teams."""

    _attribute_map = {  # noqa: RUF012 — msrest reads this class attribute
        "type": {"key": "type", "type": "str"},
        "schema_type": {"key": "@type", "type": "str"},
        "context": {"key": "@context", "type": "str"},
        "additional_type": {"key": "additionalType", "type": "[str]"},
    }

    def __init__(self) -> None:
        super().__init__(type="https://schema.org/Message")
        self.schema_type = "Message"
        self.context = "https://schema.org"
        self.additional_type = ["AIGeneratedContent"]


class _BotConfig:
    """The attribute names ConfigurationBotFrameworkAuthentication reads."""

    def __init__(self, *, app_id: str, password: str, tenant_id: str, app_type: str) -> None:
        self.APP_ID = app_id
        self.APP_PASSWORD = password
        self.APP_TENANTID = tenant_id
        self.APP_TYPE = app_type


class _AllowedConnectors(ConnectorFactory):  # type: ignore[misc]
    """botbuilder's connector factory, refusing every service URL outside the allowlist: the one place
    each outgoing connector call (replies, updates, proactive deliveries) gets its client from."""

    def __init__(self, inner: ConnectorFactory, allowlist: ServiceUrlAllowlist) -> None:
        self._inner = inner
        self._allowlist = allowlist

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        if not self._allowlist.allows(service_url):
            raise ServiceUrlNotAllowedError(f"refused to call the Bot Framework service URL {service_url!r}: "
                                            "not in SWITCHBOARD_TEAMS_SERVICE_URLS")
        return await self._inner.create(service_url, audience)


class GuardedAuthentication(BotFrameworkAuthentication):  # type: ignore[misc]
    """botbuilder's Bot Framework authentication plus two rules of ours: with `require_service_url_claim`
    the token's `serviceurl` claim must equal the activity's serviceUrl (botbuilder checks it for Bot
    Connector tokens only, not for Emulator-style AAD tokens), and connectors are only created for
    allowed service URLs."""

    def __init__(self, inner: BotFrameworkAuthentication, *, allowlist: ServiceUrlAllowlist,
                 require_service_url_claim: bool) -> None:
        self._inner = inner
        self._allowlist = allowlist
        self._require_claim = require_service_url_claim

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        result: AuthenticateRequestResult = await self._inner.authenticate_request(activity, auth_header)
        if self._require_claim:
            claims = result.claims_identity.claims if result.claims_identity is not None else {}
            if claims.get(AuthenticationConstants.SERVICE_URL_CLAIM) != activity.service_url:
                raise PermissionError("the token's serviceurl claim does not match the activity's serviceUrl")
        if result.connector_factory is not None:
            result.connector_factory = _AllowedConnectors(result.connector_factory, self._allowlist)
        return result

    async def authenticate_streaming_request(self, auth_header: str,
                                             channel_id_header: str) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return _AllowedConnectors(self._inner.create_connector_factory(claims_identity), self._allowlist)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        return await self._inner.create_user_token_client(claims_identity)

    def create_bot_framework_client(self) -> BotFrameworkClient:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)


class _Stream:
    """One Teams stream in personal chat: informative update, cumulative text updates, final message."""

    def __init__(self, turn: TurnContext, *, send: Callable[[Activity], Awaitable[str | None]],
                 interval_s: float) -> None:
        self._turn = turn
        self._send = send
        self._interval_s = interval_s
        self._last = 0.0
        self.id: str | None = None
        self.sequence = 0
        self.live = True  # False once the HTTP turn ended or an update failed

    async def begin(self, informative: str) -> None:
        self.id = await self._push(ActivityTypes.typing, informative, "informative")

    async def update(self, text: str) -> None:
        """`on_partial` for the pipeline: never raises, so a Teams hiccup cannot fail the LLM call."""
        now = time.monotonic()
        if not self.live or self.id is None or now - self._last < self._interval_s:
            return
        self._last = now
        try:
            await self._push(ActivityTypes.typing, text, "streaming")
        except CONNECTOR_ERRORS as exc:
            log.warning("teams: streaming update failed (%s); the final message will still be sent", exc)
            self.live = False

    async def _push(self, kind: str, text: str, stream_type: str) -> str | None:
        self.sequence += 1
        info = _StreamInfo(stream_type=stream_type, stream_id=self.id, stream_sequence=self.sequence)
        channel_data: dict[str, Any] = {"streamType": stream_type, "streamSequence": self.sequence}
        if self.id:
            channel_data["streamId"] = self.id
        return await self._send(Activity(type=kind, text=text, entities=[info], channel_data=channel_data))

    def finish(self, activity: Activity) -> Activity:
        """Mark `activity` as the final message of this stream (final carries no sequence number)."""
        activity.entities = [*(activity.entities or []), _StreamInfo(stream_type="final", stream_id=self.id)]
        activity.channel_data = {**(activity.channel_data or {}), "streamId": self.id, "streamType": "final"}
        return activity


class TeamsAdapter:
    """`POST /api/messages`: authenticates, translates, runs commands or the pipeline, renders replies."""

    platform = PLATFORM  # what it resumes after a restart (`bot.recovery.Resumer`)

    def __init__(self, *, services: Services, options: TeamsOptions | None = None) -> None:
        settings = services.settings
        self.options = options or TeamsOptions()
        self._services = services
        self._app_id = settings.teams_app_id
        self._admins = settings.admin_identities
        self._tenant = settings.tenant
        # admitted messages are pending delivery until answered, held by this process for the lease
        self._lease = Lease(owner=replica_id(), seconds=settings.recovery_lease_s)
        self._commands = CommandProcessor(memory=services.memory, policies=services.policies,
                                          erasure=services.erasure)
        config = _BotConfig(app_id=settings.teams_app_id, password=settings.teams_app_password,
                            tenant_id=settings.teams_app_tenant_id, app_type=settings.teams_app_type)
        self._service_urls = settings.teams_service_url_allowlist()
        try:
            botbuilder_auth = ConfigurationBotFrameworkAuthentication(config)
        except Exception as exc:  # botbuilder raises bare Exception for missing settings
            raise ConfigurationError(f"Teams is misconfigured: {exc}; set TEAMS_APP_ID, TEAMS_APP_PASSWORD "
                                     "and (for SingleTenant) TEAMS_APP_TENANT_ID") from exc
        self._authenticated = settings.teams_mode == "auth"
        self._auth = GuardedAuthentication(botbuilder_auth, allowlist=self._service_urls,
                                           require_service_url_claim=self._authenticated)
        self._adapter = CloudAdapter(self._auth)
        self._auth_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="teams-auth")
        self._background: set[asyncio.Task[None]] = set()
        self.files = HttpFileSource(teams_file_headers(loopback=settings.teams_mode == "anonymous"))

    # --- HTTP --------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return web.json_response({"error": "expected application/json"}, status=415)
        try:  # JSON is UTF-8 (RFC 8259): not `request.json()`, which decodes by the declared charset and
            # raises LookupError for an unknown one
            body = json.loads(await request.read())
        except RecursionError:  # nested deeper than Python's JSON parser goes: refused before any auth work
            return web.json_response({"error": "malformed request: JSON nested too deeply"}, status=400)
        except ValueError as exc:  # no JSON, no UTF-8, or a number of more than 4,300 digits
            return web.json_response({"error": f"malformed request: not JSON ({type(exc).__name__})"}, status=400)
        activity = parse_activity(body)
        # anonymous mode has no app id to check a token against: a token could only be refused, after
        # botbuilder fetched Microsoft's signing keys (blocking, on the event loop), so it is not read
        header = request.headers.get("Authorization", "") if self._authenticated else ""
        try:
            auth = await self._authenticate(activity, header)
        except (requests.RequestException, TimeoutError) as exc:  # Microsoft's signing keys are out of reach
            log.warning("teams: cannot check tokens now: %r", exc)
            return web.json_response({"error": "cannot verify the token now; retry later"}, status=503)
        except (PermissionError, jwt.PyJWTError) as exc:
            log.info("teams: rejected an unauthenticated activity: %s", exc)
            return web.json_response({"error": "unauthorized"}, status=401)
        except Exception as exc:  # botbuilder also refuses tokens with bare Exception, IndexError (a key id
            # it does not know) and KeyError (no issuer): a bad token is the caller's error, never a 500
            log.info("teams: rejected an unauthenticated activity: %s: %s", type(exc).__name__, exc)
            return web.json_response({"error": "unauthorized"}, status=401)
        if activity.service_url is not None and not self._service_urls.allows(activity.service_url):
            log.warning("teams: refused an activity for the service URL %r", activity.service_url)
            return web.json_response({"error": "serviceUrl not allowed (SWITCHBOARD_TEAMS_SERVICE_URLS)"},
                                     status=403)
        if activity.type not in HANDLED_TYPES:
            return web.Response(status=200)  # conversationUpdate, reactions, …: nothing to do, politely
        try:
            invoke = await self._adapter.process_activity(auth, activity, self._on_turn)
        except CONNECTOR_ERRORS as exc:
            log.warning("teams: the Bot Framework connector failed: %s", exc)
            return web.json_response({"error": "the Bot Framework connector is unavailable"}, status=502)
        if isinstance(invoke, InvokeResponse):  # no body unless the invoke's answer has one (Teams documents
            # an empty 200 for message/submitAction)
            if invoke.body is None:
                return web.Response(status=invoke.status or 200)
            return web.json_response(invoke.body, status=invoke.status or 200)
        return web.Response(status=200)

    async def drain(self, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) for proactive deliveries still running; True when none is left."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout_s)
        return not self._background

    async def _authenticate(self, activity: Activity, header: str) -> AuthenticateRequestResult:
        if not self._authenticated:
            return await self._auth.authenticate_request(activity, header)
        # botbuilder fetches Microsoft's signing keys (daily, and on an unknown key id) with blocking
        # `requests` calls without a timeout: in a thread of their own, a slow or hanging endpoint holds up
        # this request for at most `auth_timeout_s`, never the event loop (Slack, /healthz, other turns)
        work = asyncio.get_running_loop().run_in_executor(
            self._auth_threads, lambda: asyncio.run(self._auth.authenticate_request(activity, header)))
        result: AuthenticateRequestResult = await asyncio.wait_for(work, self.options.auth_timeout_s)
        return result

    async def close(self) -> None:
        """Let proactive deliveries finish (aiohttp on_cleanup)."""
        await self.drain(self.options.turn_budget_s)
        self._auth_threads.shutdown(wait=False, cancel_futures=True)

    # --- turns -------------------------------------------------------------------------

    async def _on_turn(self, turn: TurnContext) -> None:
        activity: Activity = turn.activity
        if activity.type == ActivityTypes.invoke:
            await self._on_invoke(turn)
            return
        if activity.type == ActivityTypes.conversation_update:
            await self._on_conversation_update(turn)
            return
        msg = self.message(activity)
        pipeline = self._services.pipeline
        vote = feedback_vote(activity.value)
        command = command_line(msg.text) if vote is None else None
        if vote is not None or command is not None:
            if not await pipeline.is_new_delivery(msg):
                return  # Teams redelivered an activity we already took
            if vote is not None:
                await self._feedback(turn, msg, *vote)
            elif command is not None:
                await self._command(turn, msg, command, is_admin=self._is_admin(activity, msg))
            return
        # claim and store before any reply: a database that cannot take the message raises
        # DatabaseUnavailableError here, and the app answers 503 with nothing kept
        reference = TurnContext.get_conversation_reference(activity)
        where = json.dumps({"reference": reference.serialize(), "locale": msg.locale})
        admission = await pipeline.admit(msg, lease=self._lease, reference=where)
        if admission is None:
            return  # Teams redelivered an activity we already took
        await self._answer(turn, msg, admission)

    def message(self, activity: Activity) -> ChatMessage:
        """The one translation from a Teams message activity to a `ChatMessage`."""
        conversation_id: str = activity.conversation.id
        channel, _, root = conversation_id.partition(";messageid=")
        who = self.identity(activity)
        return ChatMessage(platform=PLATFORM, tenant=who.tenant, channel=channel, thread=root or channel, user=who.user,
                           text=strip_bot_mention(activity), mentions=mentioned_people(activity),
                           files=attached_files(activity),
                           locale=activity.locale or "en",
                           event_id=f"{conversation_id}/{activity.id or ''}" if activity.id else "")

    def identity(self, activity: Activity) -> Identity:
        """The sender as (teams, AAD tenant, AAD object id); the channel account id when Teams sends no
        AAD object id, and SWITCHBOARD_TENANT when it sends no tenant (the Emulator)."""
        sender = activity.from_property
        return Identity(PLATFORM, _tenant(activity) or self._tenant, sender.aad_object_id or sender.id).normalised()

    def _is_admin(self, activity: Activity, msg: ChatMessage) -> bool:
        """Listed in SWITCHBOARD_ADMINS as teams:<this activity's AAD tenant>:<AAD object id>. Only an AAD
        object id counts (never the channel account id), and only with the tenant Teams sent."""
        if not activity.from_property.aad_object_id or not _tenant(activity):
            return False
        return msg.identity in self._admins

    async def _on_invoke(self, turn: TurnContext) -> None:
        activity: Activity = turn.activity
        value = activity.value if isinstance(activity.value, dict) else {}
        if activity.name == FEEDBACK_INVOKE and value.get("actionName") == "feedback":
            action = value.get("actionValue")
            reaction = action.get("reaction") if isinstance(action, dict) else None
            decision_id = None
            if activity.reply_to_id and reaction in ("like", "dislike"):
                decision_id = await self._services.memory.answered_by(
                    platform=PLATFORM, tenant=self.identity(activity).tenant, message_ref=activity.reply_to_id)
            if decision_id is not None:
                await self._services.memory.add_feedback(decision_id=decision_id, user=self.identity(activity),
                                                         score=1 if reaction == "like" else -1)
        # every invoke gets a 200 so Teams shows no error; unknown ones are simply ignored
        await turn.send_activity(Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=200)))

    async def _on_conversation_update(self, turn: TurnContext) -> None:
        """Added to a team, a group chat or someone's personal scope: an introduction card, once per
        conversation (any replica, any re-delivery: the claim is in the database)."""
        activity: Activity = turn.activity
        bot_id = activity.recipient.id if activity.recipient is not None else None
        if not bot_id or not any(m is not None and m.id == bot_id for m in activity.members_added or []):
            return  # others joined or left: nothing to say
        if not activity.service_url or activity.conversation is None or not activity.conversation.id:
            log.info("teams: conversationUpdate without serviceUrl or conversation: no introduction")
            return
        conversation = activity.conversation.id.partition(";messageid=")[0]
        if not await self._services.memory.claim_event(f"{PLATFORM}:{_tenant(activity) or self._tenant}:"
                                                       f"welcome:{conversation}"):
            return
        locale = activity.locale or "en"
        card = Attachment(content_type=CARD_CONTENT_TYPE, content=welcome_card(locale))
        await self._send(turn, Activity(type=ActivityTypes.message, text=t("slack_greeting", locale),
                                        attachments=[card]))

    async def _feedback(self, turn: TurnContext, msg: ChatMessage, decision_id: int, score: int) -> None:
        stored = await self._services.memory.add_feedback(decision_id=decision_id, user=msg.identity, score=score)
        await self._send(turn, Activity(type=ActivityTypes.message,
                                        text=t("teams_feedback_thanks" if stored else "teams_feedback_gone",
                                               msg.locale)))

    async def _command(self, turn: TurnContext, msg: ChatMessage, line: str, *, is_admin: bool) -> None:
        ctx = CommandContext(platform=PLATFORM, tenant=msg.tenant, channel=msg.channel, user=msg.user,
                             is_admin=is_admin, locale=msg.locale)
        result = await self._commands.execute(ctx, line)
        await self._send(turn, render_command(result, line=line, is_admin=is_admin, locale=msg.locale))

    async def _answer(self, turn: TurnContext, msg: ChatMessage, admission: Admission) -> None:
        pipeline = self._services.pipeline
        invalid = pipeline.validate(msg)
        if invalid is not None:
            await self._send(turn, Activity(type=ActivityTypes.message, text=invalid.text))
            return
        message_id = admission.turn.message_id if admission.turn is not None else None
        stream: _Stream | None = None
        if turn.activity.conversation.conversation_type == "personal":
            stream = _Stream(turn, send=lambda a: self._send(turn, a), interval_s=self.options.stream_interval_s)
            await stream.begin(t("teams_working", msg.locale))
            await self._placeholder(message_id, stream.id)
        answering = pipeline.handle(msg, on_partial=stream.update if stream else None, admission=admission,
                                    files=self.files)
        work = asyncio.create_task(answering if message_id is None else while_holding(
            self._services.memory, message_id=message_id, lease=self._lease, work=answering))
        typing = None if stream else asyncio.create_task(self._keep_typing(turn))
        try:
            done, _ = await asyncio.wait({work}, timeout=self.options.turn_budget_s)
        finally:
            if typing is not None:
                typing.cancel()
        if work in done:
            if work.exception() is None:  # else LeaseLostError: another instance took the message over
                await self._deliver(turn, work.result(), stream)
                await self._delivered(message_id)
            return
        # Too slow for the HTTP turn: end it now and post the answer proactively when it is ready.
        if stream is not None:
            stream.live = False
        else:
            await self._placeholder(message_id, await self._send(
                turn, Activity(type=ActivityTypes.message, text=t("teams_still_working", msg.locale))))
        reference = TurnContext.get_conversation_reference(turn.activity)
        self._spawn(self._deliver_later(work, reference, stream, message_id))

    async def _keep_typing(self, turn: TurnContext) -> None:
        try:
            while True:
                await self._send(turn, Activity(type=ActivityTypes.typing))
                await asyncio.sleep(self.options.typing_interval_s)
        except CONNECTOR_ERRORS as exc:  # a lost indicator must not lose the answer
            log.info("teams: typing indicator failed: %s", exc)

    # --- delivery ----------------------------------------------------------------------

    async def _deliver(self, turn: TurnContext, reply: Reply, stream: _Stream | None) -> None:
        activity = render_reply(reply)
        if stream is not None and stream.id is not None:
            activity = stream.finish(activity)
        sent_id = await self._send(turn, activity)
        if sent_id and reply.decision_id is not None:
            await self._remember(sent_id, reply.decision_id)

    async def _deliver_later(self, work: asyncio.Task[Reply], reference: ConversationReference,
                             stream: _Stream | None, message_id: int | None) -> None:
        try:
            reply = await work
        except LeaseLostError:
            return  # another instance took the message over and delivers it
        await self._post_later(reply, reference, stream)
        await self._delivered(message_id)  # not when the delivery failed: the recovery pass retries it

    async def _post_later(self, reply: Reply, reference: ConversationReference, stream: _Stream | None, *,
                          replacing: str | None = None) -> None:
        """Post `reply` proactively (`continue_conversation`, through the service-URL allowlist) as a reply to
        the user's message, or with `replacing` in place of that activity of ours (PUT)."""

        async def logic(turn: TurnContext) -> None:
            activity = render_reply(reply)
            if stream is not None and stream.id is not None:
                activity = stream.finish(activity)
            # addressed by the stored reference, not by `turn.send_activity`: that one replies to the synthetic
            # continuation event (a random id); this replies to the user's message (replyToId), in channels in
            # its reply chain (the conversation id's `;messageid=`)
            activity = TurnContext.apply_conversation_reference(activity, reference)
            if replacing:
                activity.id = replacing
                await turn.adapter.update_activity(turn, activity)
                sent_id: str | None = replacing
            else:
                responses = await turn.adapter.send_activities(turn, [activity])
                sent_id = responses[0].id if responses and responses[0] is not None else None
            if sent_id and reply.decision_id is not None:
                await self._remember(sent_id, reply.decision_id)

        await self._retrying(lambda: self._adapter.continue_conversation(reference, logic, self._app_id))

    async def resume(self, pending: Resumable, *, apologise: bool) -> None:
        """Finish a message admitted before a restart (`bot.recovery.Resumer`): its answer, or with
        `apologise` an apology, posted proactively as a reply where it was asked. Raises when it cannot
        be delivered (no stored reference, a service URL no longer allowed, the connector failing)."""
        task: asyncio.Task[None] = asyncio.ensure_future(self._resume(pending, apologise=apologise))
        self._background.add(task)  # an answer in progress: the drain waits for it
        task.add_done_callback(self._background.discard)
        await task

    async def _resume(self, pending: Resumable, *, apologise: bool) -> None:
        stored = json.loads(pending.reference) if pending.reference else None
        if not isinstance(stored, dict) or not isinstance(stored.get("reference"), dict):
            raise ValueError(f"teams: message {pending.turn.message_id} has no conversation reference")
        reference = ConversationReference.deserialize(stored["reference"])
        if not reference.service_url or not self._service_urls.allows(reference.service_url):
            raise ServiceUrlNotAllowedError(f"refused to resume at the Bot Framework service URL "
                                            f"{reference.service_url!r}: not in SWITCHBOARD_TEAMS_SERVICE_URLS")
        msg = replace(pending.msg, locale=str(stored.get("locale") or "en"))
        if apologise:
            reply = Reply(text=t("recovered_sorry", msg.locale), kind=ReplyKind.ERROR)
        else:
            answering = self._services.pipeline.handle(msg, admission=Admission(turn=pending.turn),
                                                       files=self.files)
            reply = await while_holding(self._services.memory, message_id=pending.turn.message_id,
                                        lease=pending.lease, work=answering)
        # the "still working" message of a group chat or channel turns into the answer, so a resume after an
        # answer posted but not marked delivered shows it once (edited), not twice; a personal chat's cut-off
        # stream cannot be continued: a new message there
        personal = getattr(reference.conversation, "conversation_type", None) == "personal"
        await self._post_later(reply, reference, None,  # the recovery pass marks it delivered
                               replacing=pending.placeholder if pending.placeholder and not personal else None)

    async def _placeholder(self, message_id: int | None, activity_id: str | None) -> None:
        """Remember the activity that tells the user an answer is coming (stream or "still working")."""
        if message_id is not None and activity_id:
            await self._keep(self._services.memory.set_placeholder(message_id, activity_id))

    async def _delivered(self, message_id: int | None) -> None:
        if message_id is not None:
            await self._keep(self._services.memory.mark_delivered(message_id))

    @staticmethod
    async def _keep(write: Coroutine[Any, Any, None]) -> None:
        # a lost write only means the recovery pass may deliver this message once more
        try:
            await write
        except DatabaseUnavailableError as exc:
            log.warning("teams: the delivery state of a message was not stored: %s", exc)

    async def _send(self, turn: TurnContext, activity: Activity) -> str | None:
        response = await self._retrying(lambda: turn.send_activity(activity))
        return response.id if response is not None and response.id else None

    async def _retrying(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run a connector call, retrying throttling (429), precondition races (412) and gateway errors."""
        opts = self.options
        for attempt in range(1, opts.retry_attempts + 1):
            try:
                return await operation()
            except HttpOperationError as exc:
                status = exc.response.status_code if exc.response is not None else None
                if status not in RETRY_STATUSES or attempt == opts.retry_attempts:
                    raise
                delay = _retry_after(exc) or opts.retry_base_s * 2 ** (attempt - 1)
                log.info("teams: connector answered %s; retry %d in %.2f s", status, attempt, delay)
                await asyncio.sleep(min(delay, opts.retry_max_s))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _remember(self, activity_id: str, decision_id: int) -> None:
        """Which decision an answer posted as `activity_id` came from, for Teams' feedback buttons."""
        try:
            await self._services.memory.remember_answer(platform=PLATFORM, message_ref=activity_id,
                                                        decision_id=decision_id)
        except DatabaseUnavailableError as exc:  # the answer is out; only its 👍/👎 will not count
            log.warning("teams: the answer's activity id was not stored: %s", exc)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("teams: proactive delivery failed", exc_info=task.exception())


# --- translation helpers (pure) ---------------------------------------------------------


def parse_activity(body: object) -> Activity:
    """An Activity from a JSON body, or 400 with the reason (never a 500 for bad input)."""
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise _bad("`type` is missing")
    if kind in ANSWERED_TYPES:
        _require_url(body.get("serviceUrl"))
        for key in ("conversation", "from"):
            part = body.get(key)
            if not isinstance(part, dict) or not isinstance(part.get("id"), str) or not part["id"]:
                raise _bad(f"`{key}.id` is missing")
    wrong = _wrongly_typed(body, Activity)
    if wrong is not None:
        raise _bad(f"`{wrong}` does not have the JSON type of its Bot Framework field")
    try:
        activity: Activity = Activity().deserialize(body)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:  # msrest's DeserializationError is a ValueError
        raise _bad(f"not a Bot Framework activity ({exc})") from exc
    return activity


def _require_url(value: object) -> None:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise _bad("`serviceUrl` must be an http(s) URL")


def _wrongly_typed(body: dict[str, Any], model: type[Any], where: str = "") -> str | None:
    """The first field (as a dotted path) whose JSON type differs from botbuilder's declaration, or None.
    msrest would quietly turn an id of {} into the string "{}", or a locale of 5 into "5"."""
    for attr in model._attribute_map.values():
        if attr["key"] in body:
            path = f"{where}.{attr['key']}" if where else attr["key"]
            wrong = _wrong_value(body[attr["key"]], attr["type"], path)
            if wrong is not None:
                return wrong
    return None


def _wrong_value(value: object, kind: str, path: str) -> str | None:
    if value is None or kind in ("object", "iso-8601"):  # msrest refuses a malformed date itself
        return None
    if kind[0] in "[{":
        items = enumerate(value) if isinstance(value, list) and kind[0] == "[" else \
            value.items() if isinstance(value, dict) and kind[0] == "{" else None
        if items is None:
            return path
        for key, item in items:  # no nulls inside: msrest keeps them and every reader would trip on them
            wrong = f"{path}.{key}" if item is None else _wrong_value(item, kind[1:-1], f"{path}.{key}")
            if wrong is not None:
                return wrong
        return None
    scalar = _SCALAR_TYPES.get(kind)
    if scalar is not None:
        return None if isinstance(value, scalar) and not (kind == "int" and isinstance(value, bool)) else path
    model = getattr(botbuilder.schema, kind, None)
    if model is None:
        return None
    return _wrongly_typed(value, model, path) if isinstance(value, dict) else path


_SCALAR_TYPES: dict[str, type] = {"str": str, "bool": bool, "int": int}


def _bad(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": f"malformed activity: {reason}"}),
                              content_type="application/json")


def _tenant(activity: Activity) -> str:
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = data.get("tenant")
    if isinstance(tenant, dict) and isinstance(tenant.get("id"), str):
        return str(tenant["id"])
    return str(getattr(activity.conversation, "tenant_id", None) or "")


_AT = re.compile(r"<at(?:\s[^>]*)?>(.*?)</at>", re.IGNORECASE | re.DOTALL)


def strip_bot_mention(activity: Activity) -> str:
    """The text without the `<at>Bot</at>` mention of this bot; every other mention as the plain name
    ("please ask <at>Pranav Smith</at>" → "please ask Pranav Smith"), so the privacy check reads the
    colleague's name as the prose it is and the model can address them.

    Not `TurnContext.remove_recipient_mention`: it uses the bot's display name as a regex and so
    also deletes that name wherever else it appears in the message.
    """
    text: str = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient is not None else None
    for entity in activity.entities or []:
        props: dict[str, Any] = getattr(entity, "additional_properties", None) or {}
        mentioned = props.get("mentioned")
        if entity.type == "mention" and isinstance(mentioned, dict) and mentioned.get("id") == bot_id:
            mention_text = props.get("text") or f"<at>{mentioned.get('name', '')}</at>"
            text = text.replace(str(mention_text), " ")
    text = _AT.sub(lambda m: m.group(1), text)
    return " ".join(text.replace("&nbsp;", " ").split())


FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"


def attached_files(activity: Activity) -> tuple[FileRef, ...]:
    """The files and images sent with a message. Teams also attaches the message's own HTML (`text/html`) and
    cards: those are no files. A file (personal chat, `supportsFiles`) comes as a file download info attachment
    whose content holds a pre-authorised `downloadUrl` and its `fileType`; an image pasted inline comes with its
    `contentUrl` (images are not read)."""
    files = []
    for attachment in activity.attachments or []:
        kind = str(attachment.content_type or "")
        if kind != FILE_DOWNLOAD_INFO and not kind.startswith("image/"):
            continue
        name = attachment.name if isinstance(attachment.name, str) and attachment.name.strip() else kind
        content = attachment.content if isinstance(attachment.content, dict) else {}
        if kind == FILE_DOWNLOAD_INFO:
            url, filetype, mimetype = content.get("downloadUrl"), content.get("fileType"), ""
        else:
            url, filetype, mimetype = attachment.content_url, "", kind
        files.append(FileRef(name=name[:100], url=url if isinstance(url, str) else "",
                             filetype=filetype[:32] if isinstance(filetype, str) else "", mimetype=mimetype[:100]))
    return tuple(files)


def teams_file_headers(*, loopback: bool) -> Callable[[URL], dict[str, str] | None]:
    """A file attachment's `downloadUrl` is pre-authorised (SharePoint/OneDrive): fetched over https without
    the bot's credentials; over http only on loopback in the anonymous development mode (the Emulator)."""

    def headers_for(url: URL) -> dict[str, str] | None:
        return {} if url.scheme == "https" or (loopback and is_loopback(url)) else None

    return headers_for


def mentioned_people(activity: Activity) -> tuple[str, ...]:
    """The names of the people the activity mentions (its mention entities), other than this bot; each
    counts as personal data (`ChatMessage.mentions`). Tags (`<at>` of a whole team or channel, whose
    mentioned id is no user's) count too: telling them apart would need a Graph call, and pinning errs safe."""
    bot_id = activity.recipient.id if activity.recipient is not None else None
    names: list[str] = []
    for entity in activity.entities or []:
        props: dict[str, Any] = getattr(entity, "additional_properties", None) or {}
        mentioned = props.get("mentioned")
        if entity.type != "mention" or not isinstance(mentioned, dict) or mentioned.get("id") == bot_id:
            continue
        shown = props.get("text")  # as it stands in the text ("<at>Pranav</at>"), else the account's name
        name = _AT.sub(lambda m: m.group(1), shown) if isinstance(shown, str) else mentioned.get("name")
        if isinstance(name, str) and name.strip():
            names.append(" ".join(name.split()))
    return tuple(dict.fromkeys(names))


def command_line(text: str) -> str | None:
    """The command to run, or None when the text is a question for the pipeline."""
    words = text.split()
    if not words:
        return None
    first = words[0].lower().lstrip("/")
    if first in ADMIN_COMMANDS or (first in STAFF_COMMANDS and len(words) == 1):
        return " ".join([first, *words[1:]])
    return None


def render_reply(reply: Reply) -> Activity:
    """A reply as a message; a model's answer carries the footer card, the "AI generated" label and Teams' own
    feedback buttons (`channelData.feedbackLoopEnabled`, answered by the message/submitAction invoke)."""
    card = answer_card(reply)
    attachments = [Attachment(content_type=CARD_CONTENT_TYPE, content=card)] if card else None
    activity = Activity(type=ActivityTypes.message, text=reply.text, text_format="markdown", attachments=attachments)
    if card is not None:
        activity.entities = [_AiGenerated()]
        if reply.decision_id is not None:
            activity.channel_data = {"feedbackLoopEnabled": True}
    return activity


def render_command(result: CommandResult, *, line: str, is_admin: bool, locale: str) -> Activity:
    name = line.split()[0]
    if not result.ok and not is_admin and name not in STAFF_COMMANDS and name in ADMIN_COMMANDS:
        return Activity(type=ActivityTypes.message, text=t("teams_not_admin", locale, command=name))
    if name == "forget" and "erased" in result.data:
        return Activity(type=ActivityTypes.message, text=t("teams_forgotten", locale, erased=result.data["erased"]))
    text = result.text.replace("\n", "  \n")  # markdown hard line breaks keep tables and lists readable
    policy = result.data.get("policy")
    if isinstance(policy, dict):
        card = Attachment(content_type=CARD_CONTENT_TYPE, content=policy_card(policy))
        return Activity(type=ActivityTypes.message, text=text.split("  \n")[0], attachments=[card])
    return Activity(type=ActivityTypes.message, text=text, text_format="markdown")


def _retry_after(exc: HttpOperationError) -> float | None:
    """The connector's Retry-After, as seconds or as an HTTP date (capped by `retry_max_s` at the caller)."""
    return retry_after_from_headers(exc.response.headers) if exc.response is not None else None


def build_teams_adapter(services: Services, options: TeamsOptions | None = None) -> TeamsAdapter:
    return TeamsAdapter(services=services, options=options)


TEAMS: web.AppKey[TeamsAdapter] = web.AppKey("teams", TeamsAdapter)


def mount_teams(app: web.Application, services: Services) -> None:
    """Serve Bot Framework activities at `POST /api/messages` on `app`."""
    adapter = build_teams_adapter(services)
    app[TEAMS] = adapter
    app.router.add_post("/api/messages", adapter.handle)
    app[DRAINS].append(adapter.drain)

    async def drain(_: web.Application) -> None:
        await adapter.close()

    app.on_cleanup.append(drain)
