"""HEAD answered like GET on every route: the same status and headers, no body (RFC 9110, 9.3.2).

FastAPI registers a route for exactly the methods it is declared with, so a monitor's or a proxy's
`HEAD /healthz` (or `/`, `/widget.js`, `/documents/...`) got 405. Declaring HEAD on every GET route would
also put a second operation per path into the OpenAPI schema; instead this middleware, the outermost of
the app, runs a HEAD request as the GET it stands for (through every check a GET passes: keys, view
tokens, limits) and drops the body that GET produces.
"""
from __future__ import annotations

from typing import Any

BODY_MESSAGES = ("http.response.body", "http.response.pathsend", "http.response.zerocopysend")


class HeadAsGetMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)
        body_sent = [False]

        async def headers_only(message: dict) -> None:
            if message["type"] not in BODY_MESSAGES:
                return await send(message)  # the start line and headers (Content-Length included) as GET's
            if body_sent[0] or message.get("more_body", False):
                return
            body_sent[0] = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        # a copy: the server keeps its own scope saying HEAD (uvicorn writes no body for it either)
        await self.app({**scope, "method": "GET"}, receive, headers_only)
