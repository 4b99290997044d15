"""The app's ASGI middleware: the request guard (callers, limits, body bounds, admission) and HEAD as GET.

HEAD: FastAPI registers a route for exactly the methods it is declared with, so a monitor's or a proxy's
`HEAD /healthz` (or `/`, `/widget.js`, `/documents/...`) got 405. Declaring HEAD on every GET route would
also put a second operation per path into the OpenAPI schema; instead `HeadAsGetMiddleware`, the outermost
of the app, runs a HEAD request as the GET it stands for (through every check a GET passes: keys, view
tokens, limits) and drops the body that GET produces (RFC 9110, 9.3.2).
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.domain.keys import ANONYMOUS, VIEW_LINK_ROLE, Principal
from service.domain.limits import retry_after
from service.domain.metrics import route_label
from service.domain.operations import Operations, is_loopback
from service.errors import error_response

QUERY_ROUTES = ("/v1/ask", "/v1/search", "/v1/ask/stream")
TIMED_ROUTES = ("/v1/ask", "/v1/search")  # a stream answers progressively; it has no overall deadline
PUBLIC_ROUTES = {("POST", "/v1/ask"), ("POST", "/v1/ask/stream"), ("POST", "/v1/feedback"), ("GET", "/v1/examples")}
UPLOAD_PATH = re.compile(r"^/v1/collections/[^/]+/documents(/[^/]+)?$")
VIEW_LINK_PATH = re.compile(r"^/v1/documents/([^/]+)(?:/paragraphs/[^/]+)?$")  # what a view link opens
MULTIPART_OVERHEAD = 64 * 1024


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


# --- the request guard ----------------------------------------------------------------------

class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


def _view_link_principal(ops: Operations, scope: dict) -> Principal | None:
    """A caller without a key who holds a valid `?view=` token for the document this GET reads."""
    match = VIEW_LINK_PATH.match(scope["path"])
    if scope["method"] != "GET" or match is None:
        return None
    query = QueryParams(scope.get("query_string", b"").decode("latin-1"))
    collection = query.get("collection") or ops.settings.default_collection
    token = query.get("view")
    if not token or not ops.view_links.verify(token, collection, match.group(1)):
        return None
    return Principal("view link", VIEW_LINK_ROLE, frozenset({collection}), key_id=VIEW_LINK_ROLE)


def _token(headers: Headers) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


class GuardMiddleware:
    """Every request under /v1 (and /metrics), before any route runs:
      1. identifies the caller: `Authorization: Bearer <token>` or `X-API-Key: <token>`, or a `?view=` token
         for the document a GET reads. With no key configured the API is open (and `notesqa serve` only
         binds loopback); once any key exists, a missing or unknown key is 401. A public (widget) key is
         accepted only with an `Origin` it was created for, and only on the question routes;
      2. applies the rate limit (token bucket per key, or per client IP when open): 429 + Retry-After; when
         the API is open, loopback clients are not limited unless rate_limit_loopback_when_open;
      3. bounds the body (JSON: max_request_bytes; uploads: max_upload_bytes): 413;
      4. refuses a JSON body nested deeper than max_json_depth (400) before anything parses it;
      5. admits at most max_concurrent_queries ask/search at once, the rest wait up to queue_timeout_s,
         then 503 + Retry-After; ask/search still unanswered after request_timeout_s get 504;
      6. counts requests by route and status, and their latency, for /metrics.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        ops: Operations = scope["app"].state.operations
        started = time.perf_counter()
        status = [500]

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._handle(ops, scope, receive, send_status)
        finally:
            ops.metrics.observe(route_label(scope), scope["method"], status[0], time.perf_counter() - started)

    async def _reject(self, ops: Operations, scope: dict, receive: Any, send: Any, status: int, code: str,
                      message: str, headers: dict[str, str] | None = None) -> None:
        ops.metrics.rejected.labels(code).inc()
        await error_response(status, code, message, headers)(scope, receive, send)

    async def _handle(self, ops: Operations, scope: dict, receive: Any, send: Any) -> None:
        path, method = scope["path"], scope["method"]
        if not (path.startswith("/v1/") or path in ("/v1", "/metrics")) or method == "OPTIONS":
            return await self.app(scope, receive, send)
        if path == "/metrics" and ops.settings.metrics_public:
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        client_ip = (scope.get("client") or ("unknown",))[0]

        # 1. who is calling
        who = ANONYMOUS
        if ops.auth_enabled():
            token = _token(headers)
            viewer = _view_link_principal(ops, scope) if token is None else None
            if viewer is not None:
                who = viewer
            elif token is None:
                return await self._reject(ops, scope, receive, send, 401, "unauthorized",
                                          "an API key is required: send 'Authorization: Bearer <key>' "
                                          "or 'X-API-Key: <key>'", {"WWW-Authenticate": "Bearer"})
            elif (found := ops.keys.authenticate(token)) is None:
                return await self._reject(ops, scope, receive, send, 401, "unauthorized",
                                          "the API key is not valid (unknown or revoked)",
                                          {"WWW-Authenticate": "Bearer"})
            else:
                who = found
            if who.role == "public":
                origin = (headers.get("origin") or "").rstrip("/")
                if not origin or origin not in who.origins:
                    return await self._reject(ops, scope, receive, send, 403, "origin_not_allowed",
                                              "this public key is accepted only from its configured origins")
                if (method, path) not in PUBLIC_ROUTES:
                    return await self._reject(ops, scope, receive, send, 403, "forbidden",
                                              "a public key may only ask questions")
        scope.setdefault("state", {})["principal"] = who
        if path == "/metrics":
            return await self.app(scope, receive, send)

        # 2. rate limit
        # a public (widget) key is shared by every visitor: each of them gets its own bucket
        bucket = f"ip:{client_ip}" if who.open else \
            f"{who.rate_key}:ip:{client_ip}" if who.role in ("public", VIEW_LINK_ROLE) else who.rate_key
        exempt = who.open and not ops.settings.rate_limit_loopback_when_open and is_loopback(client_ip)
        wait = 0.0 if exempt else ops.buckets.take(bucket)
        if wait > 0:
            return await self._reject(ops, scope, receive, send, 429, "rate_limited",
                                      "too many requests; slow down", {"Retry-After": retry_after(wait)})

        # 3. body size
        upload = method in ("POST", "PUT") and UPLOAD_PATH.match(path) is not None
        limit = ops.settings.max_upload_bytes + MULTIPART_OVERHEAD if upload else ops.settings.max_request_bytes
        try:
            declared = int(headers.get("content-length") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return await self._reject(ops, scope, receive, send, 413, "payload_too_large",
                                      f"the request body is larger than {limit} bytes")
        receive = _limited(receive, limit)

        # 4. every JSON body is depth-checked before anything parses it (which collection the caller may
        #    use is decided once, by the route's dependency: service/deps.py)
        if not upload and method in ("POST", "PUT", "PATCH"):
            try:
                body = await _read_body(receive)
            except BodyTooLarge as exc:
                return await self._reject(ops, scope, receive, send, 413, "payload_too_large", str(exc.detail))
            if json_depth_exceeds(body, ops.settings.max_json_depth):
                return await self._reject(ops, scope, receive, send, 400, "invalid_request",
                                          f"the JSON body is nested deeper than {ops.settings.max_json_depth} "
                                          "levels")
            receive = _replay(body, receive)

        # 5. admission control for the question routes
        if method == "POST" and path in QUERY_ROUTES:
            return await self._admit(ops, scope, receive, send, timed=path in TIMED_ROUTES)
        await self.app(scope, receive, send)

    async def _admit(self, ops: Operations, scope: dict, receive: Any, send: Any, *, timed: bool) -> None:
        gate = ops.gate
        if not await gate.acquire():
            return await self._reject(ops, scope, receive, send, 503, "overloaded",
                                      "the service is busy; retry shortly",
                                      {"Retry-After": retry_after(gate.timeout)})
        ops.metrics.in_flight.inc()

        def done(_: Any = None) -> None:
            gate.release()
            ops.metrics.in_flight.dec()

        if not timed:
            try:
                return await self.app(scope, receive, send)
            finally:
                done()
        started, abandoned = [False], [False]

        async def guarded_send(message: dict) -> None:
            if abandoned[0]:
                return
            if message["type"] == "http.response.start":
                started[0] = True
            await send(message)

        # The handler runs on a worker thread that cannot be interrupted: on timeout the client gets
        # a 504 at once, the work finishes in the background and only then frees its slot.
        task = asyncio.ensure_future(self.app(scope, receive, guarded_send))
        task.add_done_callback(lambda t: (done(), t.cancelled() or t.exception()))
        finished, _ = await asyncio.wait({task}, timeout=ops.settings.request_timeout_s)
        if task in finished:
            return task.result()
        if started[0]:  # the answer is being sent; let it finish
            return await asyncio.shield(task)
        abandoned[0] = True
        await self._reject(ops, scope, receive, send, 504, "timeout",
                           f"no answer within {ops.settings.request_timeout_s:g} s")


def _limited(receive: Any, limit: int) -> Any:
    seen = [0]

    async def wrapped() -> dict:
        message = await receive()
        if message["type"] == "http.request":
            seen[0] += len(message.get("body", b""))
            if seen[0] > limit:
                raise BodyTooLarge(limit)
        return message

    return wrapped


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    sent = [False]

    async def replay() -> dict:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


_JSON_TOKEN = re.compile(rb'[\[\]{}]|"(?:[^"\\]|\\.)*"')


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether `body`, read as JSON, nests arrays/objects deeper than `limit` (strings are skipped whole).

    A linear scan with no recursion: json.loads on a few thousand nested brackets raises RecursionError.
    Malformed JSON is not judged here (the route's parser answers it)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for match in _JSON_TOKEN.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


# --- cross-origin refusals, said in the log ----------------------------------------------------

cors_log = logging.getLogger("uvicorn.error")  # printed with uvicorn's own lines by `notesqa serve`
CORS_LOG_EVERY_S = 600.0  # per origin: a busy page that is refused does not flood the log


class CorsRefusalLogMiddleware:
    """Logs, once per origin every CORS_LOG_EVERY_S, a cross-origin request to /v1 (or /healthz) from an
    origin that NOTESQA_CORS_ORIGINS does not allow, naming the setting to change. The answer is left as it
    is (the browser refuses it either way); without this the log showed only `OPTIONS /v1/ask/stream 405`.
    Install it outermost: `app.add_middleware(CorsRefusalLogMiddleware)` after the CORS middleware."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._logged: dict[str, float] = {}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (scope["path"].startswith("/v1/") or scope["path"] == "/healthz"):
            headers = Headers(scope=scope)
            origin = (headers.get("origin") or "").rstrip("/")
            if origin and origin != "null" and not self._same_origin(scope, headers, origin):
                state = getattr(scope.get("app"), "state", None)
                settings = getattr(state, "settings", None)
                allowed = list(getattr(settings, "cors_origins", None) or [])
                if "*" not in allowed and origin not in allowed:
                    self._log(scope, headers, origin, allowed)
        await self.app(scope, receive, send)

    @staticmethod
    def _same_origin(scope: dict, headers: Headers, origin: str) -> bool:
        host = headers.get("host")
        scheme = scope.get("scheme", "http")
        return bool(host) and origin in (f"{scheme}://{host}", f"http://{host}", f"https://{host}")

    def _log(self, scope: dict, headers: Headers, origin: str, allowed: list[str]) -> None:
        now = time.monotonic()
        if now - self._logged.get(origin, -CORS_LOG_EVERY_S) < CORS_LOG_EVERY_S:
            return
        if len(self._logged) > 1000:
            self._logged.clear()
        self._logged[origin] = now
        method = scope["method"]
        if method == "OPTIONS" and headers.get("access-control-request-method"):
            method = f"OPTIONS (preflight of {headers['access-control-request-method']})"
        now_allowed = ", ".join(allowed) if allowed else "none"
        cors_log.warning("refused a cross-origin request from %s: %s %s. The browser blocks the answer; to let "
                         "pages of that origin use the service, add it to NOTESQA_CORS_ORIGINS (allowed now: %s) "
                         "and restart.", origin, method, scope["path"], now_allowed)
