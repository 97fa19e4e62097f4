"""Who a Slack user is (users.info), cached per workspace with a TTL and a bound on the entries.

The Slack adapter asks it for the author of a message (locale, workspace role) and for the people a
message mentions (their names, so the privacy check and the model read a name, not an id). A look-up
that fails answers a neutral `Profile` and is not cached: users.info never fails a message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (workspace, user id): the same id in another workspace is another person


@dataclass(frozen=True, slots=True)
class Profile:
    """What users.info tells us about a person: their Slack locale, workspace role and name.

    `workspace_admin` holds only for an admin or owner *of the workspace asked about* (users.info's
    team_id): an admin of another organisation met in a Slack Connect channel is nobody's admin here.
    `name` is "" when users.info did not answer; `person` is False for bots and apps.
    """

    locale: str = "en"
    workspace_admin: bool = False
    name: str = ""
    person: bool = True


class SlackPeople:
    """users.info look-ups, cached for `ttl_s` and at most `max_entries` (least recently used goes first);
    concurrent look-ups of one user share one call."""

    def __init__(self, client: AsyncWebClient, *, ttl_s: float = 600.0, max_entries: int = 5_000) -> None:
        self._client = client
        self.ttl_s = ttl_s
        self._max_entries = max_entries
        self._cache: OrderedDict[Key, tuple[float, Profile]] = OrderedDict()
        self._lookups: dict[Key, asyncio.Future[Profile]] = {}

    def __len__(self) -> int:
        return len(self._cache)

    async def profile(self, tenant: str, user: str) -> Profile:
        return await asyncio.shield(self._lookup((tenant, user)))

    async def names(self, tenant: str, users: Iterable[str], *, timeout_s: float) -> dict[str, Profile]:
        """The profiles of `users` that users.info gave within `timeout_s` (all asked at once); the rest are
        missing from the answer, and their look-ups go on to fill the cache."""
        wanted = {user: self._lookup((tenant, user)) for user in dict.fromkeys(users)}
        if not wanted:
            return {}
        await asyncio.wait(set(wanted.values()), timeout=timeout_s)
        return {user: f.result() for user, f in wanted.items()
                if f.done() and not f.cancelled() and f.exception() is None}

    def _lookup(self, key: Key) -> asyncio.Future[Profile]:
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            self._cache.move_to_end(key)
            done: asyncio.Future[Profile] = asyncio.get_running_loop().create_future()
            done.set_result(cached[1])
            return done
        pending = self._lookups.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(key))
            self._lookups[key] = pending
            pending.add_done_callback(lambda _f: self._lookups.pop(key, None))
        return pending

    async def _fetch(self, key: Key) -> Profile:
        tenant, user = key
        try:
            resp = await self._client.users_info(user=user, include_locale=True)
        except SlackApiError as exc:
            log.warning("users.info failed for a user (%s); using English, no name, no admin rights",
                        exc.response.get("error"))
            return Profile()
        except (SlackClientError, ClientError, TimeoutError) as exc:  # unreachable, a malformed answer, …
            log.warning("users.info failed for a user (%r); using English, no name, no admin rights", exc)
            return Profile()
        info = resp.get("user")
        profile = _profile(info if isinstance(info, dict) else {}, tenant)
        self._cache[key] = (time.monotonic(), profile)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return profile


def _profile(info: dict[str, Any], tenant: str) -> Profile:
    home = str(info.get("team_id") or "")
    return Profile(locale=str(info.get("locale") or "en"),
                   workspace_admin=bool(info.get("is_admin") or info.get("is_owner")) and bool(tenant)
                   and home == tenant,
                   name=_name(info), person=not (info.get("is_bot") or info.get("is_app_user")))


def _name(info: dict[str, Any]) -> str:
    """The full name when the profile has one (how colleagues are named in prose), else the display name."""
    profile = info.get("profile") if isinstance(info.get("profile"), dict) else {}
    assert isinstance(profile, dict)
    for value in (profile.get("real_name"), info.get("real_name"), profile.get("display_name"), info.get("name")):
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:100]
    return ""
