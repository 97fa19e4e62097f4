"""A fake Bot Framework connector on loopback: real HTTP, records everything, programmable faults.

Implements the three calls a bot makes back to Teams: send to a conversation
(`POST /v3/conversations/{id}/activities`), reply to an activity
(`POST /v3/conversations/{id}/activities/{activityId}`) and update an activity (`PUT` on the same
path), and serves files at the pre-authorised `downloadUrl` of a file download info attachment
(`add_file`, as SharePoint/OneDrive do for a file sent to a bot). Faults are queued and consumed one per request:
an HTTP status with an optional Retry-After, answered in JSON like the connector or, with `html`, as the HTML
error page a proxy would send.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer


@dataclass(frozen=True)
class Call:
    method: str
    conversation_id: str
    activity_id: str | None  # the activity replied to (POST) or updated (PUT)
    body: dict[str, Any]
    authorization: str | None
    id: str  # the id the connector gave the posted activity

    @property
    def type(self) -> str:
        return str(self.body.get("type", ""))

    @property
    def text(self) -> str:
        return str(self.body.get("text") or "")

    @property
    def stream(self) -> dict[str, Any] | None:
        """The streaminfo entity, when this activity is part of a Teams stream."""
        for entity in self.body.get("entities") or []:
            if entity.get("type") == "streaminfo":
                return dict(entity)
        return None

    @property
    def cards(self) -> list[dict[str, Any]]:
        return [a["content"] for a in self.body.get("attachments") or []
                if a.get("contentType") == "application/vnd.microsoft.card.adaptive"]


@dataclass
class FakeConnector(LoopbackServer):
    calls: list[Call] = field(default_factory=list)
    faults: deque[tuple[int, float | None, bool]] = field(default_factory=deque)
    rejected: list[int] = field(default_factory=list)  # statuses returned by injected faults
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    files: dict[str, bytes] = field(default_factory=dict)  # download token → content
    downloads: list[str] = field(default_factory=list)

    def add_file(self, name: str, content: bytes) -> dict[str, Any]:
        """A file sent to the bot in a personal chat: the attachment Teams puts on the message activity."""
        assert self.server is not None
        token = f"tok{len(self.files) + 1:04d}"
        self.files[token] = content
        extension = name.rsplit(".", 1)[-1] if "." in name else ""
        return {"contentType": "application/vnd.microsoft.teams.file.download.info", "name": name,
                "contentUrl": f"https://contoso.sharepoint.com/personal/staff/Documents/{name}",
                "content": {"downloadUrl": str(self.server.make_url(f"/download/{token}")),
                            "uniqueId": f"1150D938-8870-4044-9F2C-5BBDEBA7{len(self.files):04d}",
                            "fileType": extension}}

    @property
    def service_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/"))

    def fail(self, status: int, *, times: int = 1, retry_after: float | None = None, html: bool = False) -> None:
        self.faults.extend([(status, retry_after, html)] * times)

    def add_routes(self, app: web.Application) -> None:
        # ids are any path segment (aiohttp's default pattern would refuse braces)
        app.router.add_post("/v3/conversations/{cid:[^/]+}/activities", self._post)
        app.router.add_post("/v3/conversations/{cid:[^/]+}/activities/{aid:[^/]+}", self._post)
        app.router.add_put("/v3/conversations/{cid:[^/]+}/activities/{aid:[^/]+}", self._put)
        app.router.add_get("/download/{token}", self._download)

    async def _download(self, request: web.Request) -> web.Response:
        content = self.files.get(request.match_info["token"])
        if content is None:
            raise web.HTTPNotFound()
        self.downloads.append(request.match_info["token"])
        return web.Response(body=content, content_type="application/octet-stream")

    def messages(self) -> list[Call]:
        return [c for c in self.calls if c.type == "message"]

    async def wait_for(self, predicate: Callable[[list[Call]], bool], *, within_s: float = 10.0) -> list[Call]:
        """Wait until `predicate(calls)` holds (proactive deliveries arrive after the HTTP reply)."""
        async with asyncio.timeout(within_s):
            while not predicate(self.calls):
                self._changed.clear()
                await self._changed.wait()
        return self.calls

    async def _record(self, request: web.Request, method: str) -> web.Response:
        if self.faults:
            status, retry_after, html = self.faults.popleft()
            self.rejected.append(status)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            if html:
                return web.Response(text="<html><body>Bad Gateway</body></html>", status=status,
                                    content_type="text/html", headers=headers)
            return web.json_response({"error": {"code": "Throttled", "message": f"injected {status}"}},
                                     status=status, headers=headers)
        body = await request.json()
        new_id = request.match_info.get("aid", "") if method == "PUT" else f"act-{next(self._ids)}"
        self.calls.append(Call(method=method, conversation_id=request.match_info["cid"],
                               activity_id=request.match_info.get("aid"), body=body,
                               authorization=request.headers.get("Authorization"), id=new_id))
        self._changed.set()
        return web.json_response({"id": new_id}, status=200 if method == "PUT" else 201)

    async def _post(self, request: web.Request) -> web.Response:
        return await self._record(request, "POST")

    async def _put(self, request: web.Request) -> web.Response:
        return await self._record(request, "PUT")
