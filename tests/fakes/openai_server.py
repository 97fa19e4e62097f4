"""A fake OpenAI-compatible server on loopback: real HTTP, programmable faults.

Each model name answers with `reply_for(model, messages)`; faults are queued per model and
consumed one per request: an HTTP status (with an optional Retry-After, as seconds or as an
HTTP date), a hang before the headers, a hang after the headers before the first chunk, a
stall after some chunks, a slow trickle of chunks, malformed JSON, or a stream that dies after
its first chunk. While it hangs, the server watches the connection: when the client gives up
and closes it, the hang ends and the hang-up is recorded in `hangups`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer


@dataclass
class Fault:
    status: int | None = None
    retry_after: float | str | None = None  # a number: delta-seconds; a string: sent as it is (an HTTP date)
    retry_after_ms: float | None = None  # OpenAI's and Azure's `retry-after-ms`
    delay_s: float = 0.0  # before the status line and headers: a hung provider when long
    first_chunk_delay_s: float = 0.0  # streams: after the headers, before the first chunk
    stall_after_chunks: int | None = None  # streams: after this many chunks, stall for `stall_s`
    stall_s: float = 0.0
    chunk_interval_s: float = 0.0  # streams: pause between chunks (a slow but live stream)
    malformed: bool = False
    die_midstream: bool = False


@dataclass
class FakeOpenAI(LoopbackServer):
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, deque[Fault]] = field(default_factory=lambda: defaultdict(deque))
    answers: dict[str, str] = field(default_factory=dict)
    arrivals: list[tuple[str, float]] = field(default_factory=list)  # (model, time.monotonic()) per request
    peers: list[Any] = field(default_factory=list)  # the client's address per request (connection reuse)
    hangups: list[tuple[str, float]] = field(default_factory=list)  # (model, time.monotonic()) per hang-up seen
    authorizations: list[str | None] = field(default_factory=list)  # the Authorization header per request

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/v1"))

    def fail(self, model: str, *faults: Fault) -> None:
        self.faults[model].extend(faults)

    def models_called(self) -> list[str]:
        return [r["model"] for r in self.requests]

    def reply_for(self, model: str, messages: list[dict[str, Any]]) -> str:
        if model in self.answers:
            return self.answers[model]
        last = messages[-1]["content"] if messages else ""
        return f"answer from {model} to: {last[:60]} (turns seen: {len(messages)})"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._completions)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.authorizations.append(request.headers.get("Authorization"))
        self.arrivals.append((body["model"], time.monotonic()))
        self.peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        model = body["model"]
        fault = self.faults[model].popleft() if self.faults[model] else Fault()
        if not await self._hold(request, model, self.delay_s + fault.delay_s):
            return web.Response(status=499)  # nobody is listening any more
        if fault.status is not None:
            return web.json_response({"error": {"message": f"injected {fault.status}", "type": "server_error"}},
                                     status=fault.status, headers=_retry_headers(fault))
        if fault.malformed and not body.get("stream"):
            return web.Response(text='{"id": "x", "choices": [', content_type="application/json")
        text = self.reply_for(model, body["messages"])
        if body.get("stream"):
            return await self._stream(request, model, text, fault)
        return web.json_response(_completion(model, text, body["messages"]))

    async def _hold(self, request: web.Request, model: str, seconds: float) -> bool:
        """Wait `seconds` unless the client hangs up first (recorded); False when it did.

        aiohttp's test server cancels a handler whose client closed the connection: that is a hang-up too.
        """
        if seconds <= 0:
            return True
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            self.hangups.append((model, time.monotonic()))
            raise
        if request.transport is None or request.transport.is_closing():
            self.hangups.append((model, time.monotonic()))
            return False
        return True

    async def _stream(self, request: web.Request, model: str, text: str, fault: Fault) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if not await self._hold(request, model, fault.first_chunk_delay_s):
            return resp
        if fault.malformed:
            await resp.write(b'data: {"id": "x", "choices": [\n\n')
            await resp.write_eof()
            return resp
        words = text.split(" ")
        for i, word in enumerate(words):
            if i and not await self._hold(request, model, fault.chunk_interval_s):
                return resp
            if i == fault.stall_after_chunks and not await self._hold(request, model, fault.stall_s):
                return resp
            chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model, "choices": [{"index": 0, "delta": {"content": word + (" " if i < len(words) - 1
                                                                                        else "")},
                                                  "finish_reason": None}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if fault.die_midstream and i == 0:
                request.transport.close() if request.transport else None
                return resp
        final = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                 "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 11, "completion_tokens": len(words), "total_tokens": 11 + len(words)}}
        await resp.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
        await resp.write_eof()
        return resp


def _retry_headers(fault: Fault) -> dict[str, str]:
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(fault.retry_after)
    if fault.retry_after_ms is not None:
        headers["retry-after-ms"] = str(fault.retry_after_ms)
    return headers


def _completion(model: str, text: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
    completion_tokens = len(text.split())
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }
