"""A fake OpenAI-compatible server on loopback: real HTTP, programmable faults.

Each model name answers with `reply_for(model, messages)`; faults are queued per model and
consumed one per request: an HTTP status (with an optional Retry-After, as seconds or as an
HTTP date, and `retry-after-ms`), a delay, malformed JSON, or a stream that dies after its
first chunk.
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
    delay_s: float = 0.0
    malformed: bool = False
    die_midstream: bool = False


@dataclass
class FakeOpenAI(LoopbackServer):
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, deque[Fault]] = field(default_factory=lambda: defaultdict(deque))
    answers: dict[str, str] = field(default_factory=dict)
    arrivals: list[tuple[str, float]] = field(default_factory=list)  # (model, time.monotonic()) per request

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
        self.arrivals.append((body["model"], time.monotonic()))
        model = body["model"]
        fault = self.faults[model].popleft() if self.faults[model] else Fault()
        await asyncio.sleep(self.delay_s + fault.delay_s)
        if fault.status is not None:
            return web.json_response({"error": {"message": f"injected {fault.status}", "type": "server_error"}},
                                     status=fault.status, headers=_retry_headers(fault))
        if fault.malformed:
            return web.Response(text='{"id": "x", "choices": [', content_type="application/json")
        text = self.reply_for(model, body["messages"])
        if body.get("stream"):
            return await self._stream(request, model, text, die=fault.die_midstream)
        return web.json_response(_completion(model, text, body["messages"]))

    async def _stream(self, request: web.Request, model: str, text: str, *, die: bool) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        words = text.split(" ")
        for i, word in enumerate(words):
            chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model, "choices": [{"index": 0, "delta": {"content": word + (" " if i < len(words) - 1
                                                                                        else "")},
                                                  "finish_reason": None}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if die and i == 0:
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
