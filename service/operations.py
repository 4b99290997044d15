"""Running the service for real: collections, API keys, limits, audit and metrics, wired into the app.

`install_operations(app, settings)` (called by api.create_app) adds one ASGI middleware and the
operations routers; the app's lifespan calls `start_operations(app)` once the default index is loaded
and `stop_operations(app)` at shutdown.

The middleware, for every request under /v1 (and /metrics):
  1. identifies the caller: `Authorization: Bearer <token>` or `X-API-Key: <token>`. With no key
     configured the API is open (and `notesqa serve` only binds loopback); once any key exists,
     a missing or unknown key is 401. A public (widget) key is accepted only with an `Origin`
     header it was created for, and only on the question routes;
  2. applies the rate limit (token bucket per key, or per client IP when open): 429 + Retry-After; when
     the API is open (no key configured), loopback clients are not limited unless
     rate_limit_loopback_when_open;
  3. bounds the body (JSON: max_request_bytes; uploads: max_upload_bytes): 413; a JSON body nested deeper
     than max_json_depth is refused (400 invalid_request) before anything parses it;
  4. for routes that take `collection` in a JSON body (ask, search, ask/stream, feedback), checks
     the key may use that collection before the handler runs: 403;
  5. admits at most max_concurrent_queries ask/search at once, the rest wait up to queue_timeout_s,
     then 503 + Retry-After; ask/search still unanswered after request_timeout_s get 504;
  6. counts requests by route and status, and their latency, for /metrics.

Handlers call `collection_service(request, collection, action)` to get the QAService of a
collection the caller may use (authorisation by role and collection in one place).
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from starlette.datastructures import Headers, QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.audit import AuditLog
from service.auth import ALL, ANONYMOUS, VIEW_LINK_ROLE, KeyFileError, KeyStore, Principal
from service.collections import CollectionStore
from service.errors import error_response
from service.jobs import JobRunner, JobStore
from service.limits import QueryGate, TokenBuckets, retry_after
from service.metrics import Metrics, route_label
from service.ops_errors import CollectionNotFound, Forbidden
from service.registry import CollectionLoadError, CollectionRegistry
from service.settings import Settings
from service.view_links import ViewLinks

log = logging.getLogger(__name__)

QUERY_ROUTES = ("/v1/ask", "/v1/search", "/v1/ask/stream")
TIMED_ROUTES = ("/v1/ask", "/v1/search")  # a stream answers progressively; it has no overall deadline
# Routes whose handler serves (or, for feedback, files against) the collection named in the body, or the
# default one, through `collection_service`; the action the key needs on it. Feedback needs what ask needs.
BODY_COLLECTION_ROUTES = {"/v1/ask": "ask", "/v1/search": "search", "/v1/ask/stream": "ask",
                          "/v1/feedback": "ask"}
PUBLIC_ROUTES = {("POST", "/v1/ask"), ("POST", "/v1/ask/stream"), ("POST", "/v1/feedback"), ("GET", "/v1/examples")}
UPLOAD_PATH = re.compile(r"^/v1/collections/[^/]+/documents(/[^/]+)?$")
VIEW_LINK_PATH = re.compile(r"^/v1/documents/([^/]+)(?:/paragraphs/[^/]+)?$")  # what a view link opens
MULTIPART_OVERHEAD = 64 * 1024
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class OperationsError(RuntimeError):
    """A reason `notesqa serve` must not start (bad collection snapshot, unsafe binding)."""


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Operations:
    """Everything the operations layer keeps per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        data = settings.data_dir
        self.keys = KeyStore(data / "keys.json")
        self.store = CollectionStore(data, reserved=(settings.default_collection,))
        self.job_store = JobStore(data / "jobs")
        self.buckets = TokenBuckets(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self.gate = QueryGate(settings.max_concurrent_queries, settings.queue_timeout_s)
        self.audit = AuditLog(data / "audit", settings.audit_retention_days, settings.audit_enabled)
        self.metrics = Metrics()
        self.view_links = ViewLinks(data / "view_links.key", settings.view_link_ttl_days * 86400)
        self.registry: CollectionRegistry | None = None
        self.runner: JobRunner | None = None

    def auth_enabled(self) -> bool:
        return self.settings.auth_required or self.keys.configured()

    def start(self, default_service: Any, registry: CollectionRegistry | None = None) -> None:
        if registry is None:
            registry = CollectionRegistry(self.settings, default_service, self.store)
            registry.load_all(strict=True)
        self.registry = registry
        self.runner = JobRunner(self.settings, self.store, self.job_store, registry=registry,
                                on_finish=self._job_finished)
        self.runner.recover()
        registry.start_watching(self.settings.watch_interval_s)
        self.metrics.watch_state(lambda: registry.ready()[1], self.runner.counts)
        self.audit.prune()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop(self.settings.build_stop_timeout_s)
        if self.registry is not None:
            self.registry.stop()
        self.audit.close()

    def _job_finished(self, job) -> None:
        self.audit.write("job", job=job.id, collection=job.collection, action=job.action, doc_id=job.doc_id,
                         state=job.state, error=job.error)


def preload_collections(settings: Settings, default_service: Any) -> CollectionRegistry:
    """Load every collection before serving; raises OperationsError naming the collection and file."""
    registry = CollectionRegistry(settings, default_service, CollectionStore(
        settings.data_dir, reserved=(settings.default_collection,)))
    try:
        registry.load_all(strict=True)
    except CollectionLoadError as exc:
        raise OperationsError(str(exc)) from None
    return registry


def check_binding(settings: Settings, *, insecure_no_auth: bool) -> Settings:
    """Open (no keys) only on loopback; on another interface keys are required from the first request."""
    try:
        configured = KeyStore(settings.data_dir / "keys.json").configured()
    except KeyFileError as exc:
        raise OperationsError(str(exc)) from None
    if is_loopback(settings.host):
        return settings
    if configured:
        return settings.model_copy(update={"auth_required": True})
    if insecure_no_auth:
        log.warning("serving %s WITHOUT AUTHENTICATION on a non-loopback interface", settings.host)
        return settings
    raise OperationsError(
        f"refusing to serve on {settings.host} without API keys: anyone who can reach it could read every "
        f"collection and change documents. Create a key first (notesqa keys create --name NAME --role admin), "
        f"bind 127.0.0.1, or pass --insecure-no-auth-on-network if you really mean it")


def operations(request: Request) -> Operations:
    return request.app.state.operations


def principal(request: Request) -> Principal:
    return getattr(request.state, "principal", None) or ANONYMOUS


def authorize(request: Request, action: str, collection: str | None = None) -> Principal:
    """Raise 403 unless the caller's role allows `action` on `collection` (None: any collection)."""
    who = principal(request)
    if not who.allows(action):
        raise Forbidden(f"the key {who.name!r} (role {who.role}) may not {action}")
    if collection is not None and not who.may_use(collection):
        raise Forbidden(f"the key {who.name!r} may not use collection {collection!r}")
    return who


def collection_service(request: Request, collection: str | None, action: str) -> Any:
    """The QAService of `collection` (default when None), after checking the caller may `action` it."""
    ops = operations(request)
    name = collection or ops.settings.default_collection
    authorize(request, action, name)
    registry = ops.registry
    if registry is None:  # before start-up completed (never for a served app)
        if name != ops.settings.default_collection:
            raise CollectionNotFound(f"no collection named {name!r}")
        return request.app.state.qa_service
    return registry.service(name)


def _collection_qa(request: Request, collection: Annotated[str | None, Query(
        description="Collection to read from (default: the default collection).", max_length=64)] = None) -> Any:
    return collection_service(request, collection, "read")


CollectionQADep = Annotated[Any, Depends(_collection_qa)]


def audit_query(request: Request, kind: str, collection: str | None, text: str, started: float,
                cited: list[str] | None = None, results: int | None = None, abstained: bool | None = None) -> None:
    ops = operations(request)
    who = principal(request)
    ops.audit.write(kind, key=who.name, role=who.role, collection=collection or ops.settings.default_collection,
                    question=text, cited_documents=cited, results=results, abstained=abstained,
                    latency_ms=round((time.perf_counter() - started) * 1000, 1))


def ask(request: Request, body: Any) -> Any:
    """POST /v1/ask: the collection's answer, audited."""
    started = time.perf_counter()
    collection = getattr(body, "collection", None)
    response = collection_service(request, collection, "ask").ask(body.question, body.top_k,
                                                                  getattr(body, "doc_ids", None))
    audit_query(request, "ask", collection, body.question, started,
                cited=sorted({c.doc_id for c in response.citations}), abstained=response.abstained)
    ops = operations(request)
    if ops.auth_enabled():  # the viewer a citation links to carries no key
        name = collection or ops.settings.default_collection
        citations = [c.model_copy(update={"view_token": ops.view_links.sign(name, c.doc_id)})
                     for c in response.citations]
        response = response.model_copy(update={"citations": citations})
    return response


def search(request: Request, body: Any) -> Any:
    """POST /v1/search: the collection's ranking, audited."""
    started = time.perf_counter()
    collection = getattr(body, "collection", None)
    response = collection_service(request, collection, "search").search(body.query, body.top_k,
                                                                        getattr(body, "doc_ids", None))
    audit_query(request, "search", collection, body.query, started,
                cited=sorted({r.doc_id for r in response.results}), results=len(response.results))
    return response


# --- the middleware ---------------------------------------------------------------------------

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


class OperationsMiddleware:
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

        # 4. the collection named in a JSON body (every JSON body is depth-checked on the way)
        action = BODY_COLLECTION_ROUTES.get(path)
        check_collection = action and method == "POST" and (who.role == "public" or ALL not in who.collections)
        if check_collection or (not upload and method in ("POST", "PUT", "PATCH")):
            try:
                body = await _read_body(receive)
            except BodyTooLarge as exc:
                return await self._reject(ops, scope, receive, send, 413, "payload_too_large", str(exc.detail))
            if json_depth_exceeds(body, ops.settings.max_json_depth):
                return await self._reject(ops, scope, receive, send, 400, "invalid_request",
                                          f"the JSON body is nested deeper than {ops.settings.max_json_depth} "
                                          "levels")
            receive = _replay(body, receive)
        if check_collection:
            collection = _body_collection(body) or ops.settings.default_collection
            if not who.can(action, collection):
                return await self._reject(ops, scope, receive, send, 403, "forbidden",
                                          f"the key {who.name!r} may not use collection {collection!r}")

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


def _body_collection(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    value = data.get("collection") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


# --- wiring -----------------------------------------------------------------------------------

def install_operations(app: FastAPI, settings: Settings) -> None:
    """Before CORS is added, so that CORS headers also reach the 401/403/413/429/503 answers."""
    from service.ops_api import routers

    app.state.operations = ops = Operations(settings)
    app.state.collections = None
    # the origins of public (widget) keys must pass CORS too (keys created later need a restart or
    # NOTESQA_CORS_ORIGINS)
    try:
        records = ops.keys.list()
    except KeyFileError:
        records = []  # every /v1 request fails closed (500) until the file is fixed; `serve` refuses to start
    public_origins = {o for r in records if r.role == "public" and r.revoked_at is None for o in r.origins}
    if public_origins - set(settings.cors_origins):
        settings.cors_origins = sorted(set(settings.cors_origins) | public_origins)
    app.add_middleware(OperationsMiddleware)
    for router in routers:
        app.include_router(router)


def start_operations(app: FastAPI) -> None:
    ops: Operations = app.state.operations
    ops.start(app.state.qa_service, getattr(app.state, "collections", None))
    app.state.collections = ops.registry


def stop_operations(app: FastAPI) -> None:
    ops: Operations | None = getattr(app.state, "operations", None)
    if ops is not None:
        ops.stop()
