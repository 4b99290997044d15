"""The chat experience: the embeddable widget and the pages, streamed answers, examples, feedback.

`pages_router` serves the static front end (no API key needed to fetch code):
    /widget.js              the widget: <script src="https://<service>/widget.js" data-api=…>
    /                       the full-page chat (the same widget, inline)
    /documents/{doc_id}     the source viewer (#paragraph_id, ?q=quote to mark)
    /web/{asset}            the pages' own CSS and JS
`api_router` adds to /v1:
    POST /v1/ask/stream     the /v1/ask answer as Server-Sent Events: citations, delta…, done | error
    GET  /v1/examples       a few example questions for the served corpus
    POST /v1/feedback       thumbs up/down (+ comment) on an answer, appended to a JSONL file
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from service.errors import EmptyQuestion, InvalidText, QuestionTooLong, ServiceError
from service.feedback import FeedbackCreated, FeedbackRequest, feedback_path, new_record, store_for
from service.operations import ask as ask_in_collection
from service.operations import collection_service, operations
from service.schemas import AskRequest, AskResponse, ErrorResponse

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
EXAMPLES_FILE = "examples.json"
MAX_EXAMPLES = 6
CHUNK_CHARS = 20

# The pages render every server string as text; the policy is a second line of defence.
PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'self'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
ASSET_TYPES = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
PAGE_ASSETS = {"viewer.js", "pages.css"}

INVALID = {422: {"model": ErrorResponse, "description": "Invalid request (see `code`)"}}

pages_router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/v1", responses=INVALID)


def _qa(request: Request) -> Any:
    return request.app.state.qa_service


def _settings(request: Request) -> Any:
    return request.app.state.settings


# --- pages --------------------------------------------------------------------------------------

def _page(name: str, status_code: int = 200) -> FileResponse:
    return FileResponse(WEB_DIR / name, status_code=status_code, media_type="text/html; charset=utf-8",
                        headers=PAGE_HEADERS)


@pages_router.get("/")
def chat_page() -> FileResponse:
    return _page("index.html")


@pages_router.get("/widget.js")
def widget_script() -> FileResponse:
    # loaded by pages of other origins; CORP lets pages that require it (COEP) load it too
    return FileResponse(WEB_DIR / "widget.js", media_type=ASSET_TYPES[".js"],
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                                 "Cross-Origin-Resource-Policy": "cross-origin"})


@pages_router.get("/web/{asset}")
def page_asset(asset: str) -> FileResponse:
    if asset not in PAGE_ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no asset {asset!r}")
    return FileResponse(WEB_DIR / asset, media_type=ASSET_TYPES[Path(asset).suffix],
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


@pages_router.get("/documents/{doc_id}")
def viewer_page(doc_id: str, request: Request) -> FileResponse:
    """The viewer page; its script fetches /v1/documents/{doc_id}[?collection=…] and says when it is unknown.

    The page itself needs no key. Once keys are required its status never depends on the document: the
    page is fetched without a key, and a 404 would tell anyone which ids exist; the page's own fetch
    (with a key or a view token) reports an unknown one. Open (no key configured), anyone may list the
    documents anyway, and an unknown one of the default collection is also a 404 status.
    """
    if operations(request).auth_enabled() or "collection" in request.query_params:
        return _page("viewer.html")
    known = doc_id in {d.doc_id for d in _qa(request).documents().documents}
    return _page("viewer.html", 200 if known else 404)


# --- streaming answers ----------------------------------------------------------------------------

_ATOM = re.compile(r"\[\d+\]|.", re.S)
_BREAK_AFTER = set("。！？；!?;\n")


def chunk_answer(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Cut an answer into stream deltas: at sentence ends, or every `size` characters.

    A citation marker "[12]" is never cut, and stays with the sentence before it.
    The chunks join back to exactly `text`.
    """
    atoms = _ATOM.findall(text)
    chunks: list[str] = []
    current = ""
    for i, atom in enumerate(atoms):
        current += atom
        following = atoms[i + 1] if i + 1 < len(atoms) else ""
        if len(following) > 1:  # a marker comes next: keep it with this sentence
            continue
        if atom[-1] in _BREAK_AFTER or len(atom) > 1 or len(current) >= size:
            chunks.append(current)
            current = ""
    if current:
        chunks.append(current)
    return chunks


def sse(event: str, data: Any) -> bytes:
    # json.dumps escapes newlines, so the data is one line
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _paragraph_kind(qa: Any, doc_id: str, paragraph_id: str) -> str | None:
    try:
        return qa.paragraph(doc_id, paragraph_id).kind
    except ServiceError:
        return None


def _answer(request: Request, body: AskRequest) -> tuple[AskResponse, dict[int, str | None]]:
    """The answer as /v1/ask gives it (same collection, checks and audit), and its cited paragraphs' kinds."""
    answer = ask_in_collection(request, body)
    qa = collection_service(request, body.collection, "ask")
    return answer, {c.marker: _paragraph_kind(qa, c.doc_id, c.paragraph_id) for c in answer.citations}


@api_router.post(
    "/ask/stream", tags=["questions"], response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "Server-Sent Events: `citations` ({citations, abstained}; each citation "
                                    "also has the paragraph's `kind`), then `delta` events ({text}) whose "
                                    "texts join into the answer, then `done` (the /v1/ask response) or "
                                    "`error` ({code, message})."}})
async def ask_stream(body: AskRequest, request: Request) -> StreamingResponse:
    """`/v1/ask`, streamed. Invalid questions get the same 4xx JSON errors before the stream starts."""
    answer, kinds = await run_in_threadpool(_answer, request, body)
    delay = max(0, getattr(_settings(request), "stream_delay_ms", 0)) / 1000

    async def events() -> AsyncIterator[bytes]:
        try:
            citations = [{**c.model_dump(), "kind": kinds.get(c.marker)} for c in answer.citations]
            yield sse("citations", {"citations": citations, "abstained": answer.abstained})
            for chunk in chunk_answer(answer.answer):
                yield sse("delta", {"text": chunk})
                if delay:
                    await asyncio.sleep(delay)  # pace the deltas so the answer visibly streams in
            yield sse("done", answer.model_dump())
        except asyncio.CancelledError:
            raise
        except Exception:  # the status line is already sent: report in the stream
            log.exception("streaming an answer failed")
            yield sse("error", {"code": "internal_error",
                                "message": "The server hit an unexpected error; it has been logged."})

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# --- example questions ---------------------------------------------------------------------------

class Examples(BaseModel):
    examples: list[str] = Field(description="Questions the served corpus can answer.",
                                examples=[["资产追回工作组2018年的会议是哪天开幕的？"]])


def _corpus_folder(path: str | Path | None) -> Path | None:
    if not path:
        return None
    path = Path(path)
    return path.parent if path.suffix == ".jsonl" else path


def _read_examples(path: Path) -> list[dict]:
    """examples.json: {"examples": [{"question", "doc_ids"?}, ...]} or a list of questions."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return []
    items = data.get("examples", []) if isinstance(data, dict) else data
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            item = {"question": item}
        if isinstance(item, dict) and isinstance(item.get("question"), str) and item["question"].strip():
            out.append(item)
    return out


def load_examples(settings: Any, qa: Any) -> list[str]:
    """From `settings.examples_path`, else examples.json in the folder the served index was built from.

    An example that names doc_ids is offered only when the served index holds those documents.
    """
    candidates: list[Path] = []
    if getattr(settings, "examples_path", None):
        candidates.append(Path(settings.examples_path))
    else:
        try:
            built_from = _corpus_folder(qa.qa.snapshot.manifest.get("corpus"))
        except AttributeError:
            built_from = None
        for folder in (built_from, _corpus_folder(getattr(settings, "corpus_path", None))):
            if folder is not None and folder / EXAMPLES_FILE not in candidates:
                candidates.append(folder / EXAMPLES_FILE)
    served = {d.doc_id for d in qa.documents().documents}
    for path in candidates:
        usable = [e["question"].strip() for e in _read_examples(path)
                  if all(d in served for d in e.get("doc_ids") or [])]
        if usable:
            return usable[:MAX_EXAMPLES]
    return []


@api_router.get("/examples", tags=["questions"])
async def examples(request: Request, collection: str | None = Query(
        default=None, max_length=64, description="Collection (default: the default collection).")) -> Examples:
    """A few questions the served corpus answers, for the chat's empty state."""
    def load() -> list[str]:
        return load_examples(_settings(request), collection_service(request, collection, "ask"))
    return Examples(examples=await run_in_threadpool(load))


# --- feedback ------------------------------------------------------------------------------------

def _check_feedback(body: FeedbackRequest, max_chars: int) -> None:
    if not body.question.strip():
        raise EmptyQuestion("question is empty")
    if len(body.question) > max_chars:
        raise QuestionTooLong(f"question has {len(body.question)} characters; the limit is {max_chars}")
    texts = [body.question, body.answer, body.comment or ""]
    texts += [t for c in body.citations for t in (c.quote, c.title or "", c.section or "")]
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidText("the feedback contains a lone surrogate, which is not valid text") from None
        if "\x00" in text:
            raise InvalidText("the feedback contains a NUL character")


@api_router.post("/feedback", tags=["feedback"], status_code=status.HTTP_201_CREATED)
async def post_feedback(body: FeedbackRequest, request: Request) -> FeedbackCreated:
    """Record a thumbs up/down (and optional comment) on an answer; `notesqa feedback export` turns
    the records into evaluation questions."""
    settings = _settings(request)
    # authorised like /v1/ask: the key must be allowed to ask the collection the feedback is about
    collection_service(request, body.collection, "ask")
    _check_feedback(body, getattr(settings, "max_question_chars", 2000))
    record = new_record(body, collection=body.collection or settings.default_collection,
                        origin=request.headers.get("origin"))
    await run_in_threadpool(store_for(feedback_path(settings)).append, record)
    return FeedbackCreated(id=record["id"])
