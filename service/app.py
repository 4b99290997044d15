"""The HTTP API: `create_app(settings)` returns the FastAPI application.

Run it with `notesqa serve`, or `uvicorn service.app:create_app --factory` (settings from
NOTESQA_* environment variables). Middleware, from the outside in: HEAD as GET, CORS, the request guard
(service/middleware.py); then one router per resource (service/routes/).
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from service.domain.keys import KeyFileError
from service.domain.operations import Operations
from service.domain.qa_service import QAService
from service.domain.registry import CollectionRegistry
from service.errors import install_error_handlers
from service.middleware import CorsRefusalLogMiddleware, GuardMiddleware, HeadAsGetMiddleware
from service.routes import collections, documents, feedback, health, jobs, keys, pages, qa, stream
from service.routes.docs import install_api_docs
from service.settings import Settings

ROUTERS = (collections.router, jobs.router, keys.router, health.router, qa.router, documents.router,
           stream.router, feedback.router, pages.router)


def _package_version() -> str:
    try:
        return version("notesqa")
    except PackageNotFoundError:
        return "0+unknown"


def _allow_public_key_origins(ops: Operations, settings: Settings) -> None:
    """The origins of public (widget) keys must pass CORS too (keys created later need a restart or
    NOTESQA_CORS_ORIGINS)."""
    try:
        records = ops.keys.list()
    except KeyFileError:
        records = []  # every /v1 request fails closed (500) until the file is fixed; `serve` refuses to start
    public_origins = {o for r in records if r.role == "public" and r.revoked_at is None for o in r.origins}
    if public_origins - set(settings.cors_origins):
        settings.cors_origins = sorted(set(settings.cors_origins) | public_origins)


def create_app(settings: Settings | None = None, *, qa_service: QAService | None = None,
               registry: CollectionRegistry | None = None) -> FastAPI:
    """`qa_service` (and `registry`, the collections) let the caller load the indexes first and report a bad
    one before serving; otherwise the lifespan loads them."""
    settings = settings or Settings()
    ops = Operations(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # uvicorn binds the port only after startup, so /healthz answers once the index is loaded
        default = qa_service or await run_in_threadpool(QAService.load, settings)
        await run_in_threadpool(ops.start, default, registry)  # collections, jobs left by a crash, keys, audit
        try:
            yield
        finally:
            ops.stop()

    app = FastAPI(title="NotesQA", version=_package_version(), lifespan=lifespan,
                  description="Question answering over Chinese source notes, with paragraph-level citations.",
                  docs_url=None, redoc_url=None)  # FastAPI's pages load from a CDN: see service/routes/docs.py
    app.state.settings = settings
    app.state.operations = ops
    _allow_public_key_origins(ops, settings)
    app.add_middleware(GuardMiddleware)  # keys, limits, body bounds, admission (before CORS, see below)
    if settings.cors_origins:
        # added after the guard, so it wraps it: CORS headers also reach the 401/403/413/429/503 answers
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST"], allow_headers=["*"],
                           expose_headers=["Retry-After"])  # the widget shows how long to wait after a 429
    app.add_middleware(CorsRefusalLogMiddleware)  # logs refused cross-origin requests, naming NOTESQA_CORS_ORIGINS
    app.add_middleware(HeadAsGetMiddleware)  # outermost: a HEAD passes every check its GET would
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    install_api_docs(app)  # /docs with local assets
    return app
