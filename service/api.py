"""The HTTP API: `create_app(settings)` returns the FastAPI application.

Run it with `notesqa serve`, or `uvicorn service.api:create_app --factory` (settings from
NOTESQA_* environment variables).
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from service.api_docs import install_api_docs
from service.chat import api_router as chat_api_router
from service.chat import pages_router as chat_pages_router
from service.errors import install_error_handlers
from service.head_requests import HeadAsGetMiddleware
from service.operations import CollectionQADep, install_operations, start_operations, stop_operations
from service.operations import ask as ask_in_collection
from service.operations import search as search_in_collection
from service.qa_service import QAService
from service.schemas import (AskRequest, AskResponse, DocumentDetail, DocumentList, ErrorResponse, Health,
                             ParagraphOut, SearchRequest, SearchResponse)
from service.settings import Settings


def get_qa(request: Request) -> QAService:
    return request.app.state.qa_service


QADep = Annotated[QAService, Depends(get_qa)]

INVALID = {422: {"model": ErrorResponse, "description": "Invalid request (see `code`)"}}
NOT_FOUND = {404: {"model": ErrorResponse, "description": "Unknown document or paragraph"}}

qa_router = APIRouter(prefix="/v1", tags=["questions"], responses=INVALID)
documents_router = APIRouter(prefix="/v1/documents", tags=["documents"], responses={**INVALID, **NOT_FOUND})
health_router = APIRouter(tags=["health"])


@qa_router.post("/ask")
def ask(body: AskRequest, request: Request) -> AskResponse:
    """Answer a question from the notes, with paragraph-level citations, or abstain."""
    return ask_in_collection(request, body)  # the body's collection (or the default), checked and audited


@qa_router.post("/search")
def search(body: SearchRequest, request: Request) -> SearchResponse:
    """Rank the notes' paragraphs for a query (hybrid dense + keyword search)."""
    return search_in_collection(request, body)


@documents_router.get("")
def list_documents(qa: CollectionQADep) -> DocumentList:
    return qa.documents()


@documents_router.get("/{doc_id}")
def get_document(doc_id: str, qa: CollectionQADep) -> DocumentDetail:
    """A document with all its paragraphs in reading order."""
    return qa.document(doc_id)


@documents_router.get("/{doc_id}/paragraphs/{paragraph_id}")
def get_paragraph(doc_id: str, paragraph_id: str, qa: CollectionQADep) -> ParagraphOut:
    return qa.paragraph(doc_id, paragraph_id)


@health_router.get("/healthz")
def healthz(qa: QADep) -> Health:
    return qa.health()


def _package_version() -> str:
    try:
        return version("notesqa")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(settings: Settings | None = None, *, qa_service: QAService | None = None) -> FastAPI:
    """`qa_service` lets the caller load the index first (and report a bad one before serving)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # uvicorn binds the port only after startup, so /healthz answers once the index is loaded
        if getattr(app.state, "qa_service", None) is None:
            app.state.qa_service = await run_in_threadpool(QAService.load, settings)
        await run_in_threadpool(start_operations, app)  # collections, jobs left by a crash, keys, audit
        try:
            yield
        finally:
            stop_operations(app)

    app = FastAPI(title="NotesQA", version=_package_version(), lifespan=lifespan,
                  description="Question answering over Chinese source notes, with paragraph-level citations.",
                  docs_url=None, redoc_url=None)  # FastAPI's pages load from a CDN: see service/api_docs.py
    app.state.settings = settings
    app.state.qa_service = qa_service
    install_operations(app, settings)  # keys, limits, collections, jobs, /readyz, /metrics (before CORS)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST"], allow_headers=["*"],
                           expose_headers=["Retry-After"])  # the widget shows how long to wait after a 429
    app.add_middleware(HeadAsGetMiddleware)  # outermost: a HEAD passes every check its GET would
    install_error_handlers(app)
    app.include_router(qa_router)
    app.include_router(documents_router)
    app.include_router(health_router)
    app.include_router(chat_api_router)  # /v1/ask/stream, /v1/examples, /v1/feedback
    app.include_router(chat_pages_router)  # /, /widget.js, /documents/{doc_id}, /web/*
    install_api_docs(app)  # /docs with local assets
    return app
