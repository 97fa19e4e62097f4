"""Base of every HTTP fake: an aiohttp server on 127.0.0.1 with the routes the subclass adds."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer


class LoopbackServer:
    server: TestServer | None = None

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        self.add_routes(app)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
