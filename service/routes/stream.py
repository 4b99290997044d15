"""POST /v1/ask/stream: the /v1/ask answer as Server-Sent Events (citations, delta…, done | error)."""
from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from service.deps import CallerDep, OperationsDep, SettingsDep, collection_qa
from service.domain.keys import Principal
from service.domain.operations import Operations
from service.domain.qa_service import StreamCancelled, streaming_to
from service.errors import ServiceError
from service.routes import error_responses
from service.schemas import AskRequest, AskResponse

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["questions"], responses=error_responses(422))

_ATOM = re.compile(r"\[\d+\]|.", re.S)
_BREAK_AFTER = set("。！？；!?;\n")


def chunk_answer(text: str, size: int) -> list[str]:
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


def _answer(ops: Operations, caller: Principal, body: AskRequest) -> tuple[AskResponse, dict[int, str | None]]:
    """The answer as /v1/ask gives it (same collection, checks and audit), and its cited paragraphs' kinds."""
    qa_service = collection_qa(ops, caller, body.collection, "ask")
    answer = ops.ask(caller, body.collection, body.question, body.top_k, body.doc_ids, body.turns(),
                     body.conversation_id)

    def kind(doc_id: str, paragraph_id: str) -> str | None:
        try:
            return qa_service.paragraph(doc_id, paragraph_id).kind
        except ServiceError:
            return None

    return answer, {c.marker: kind(c.doc_id, c.paragraph_id) for c in answer.citations}


@router.post(
    "/ask/stream", response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "Server-Sent Events: `citations` ({citations, abstained}; each citation "
                                    "also has the paragraph's `kind`), then `delta` events ({text}) whose "
                                    "texts join into the answer, then `done` (the /v1/ask response) or "
                                    "`error` ({code, message}). With the LLM on, `citations` lists the "
                                    "paragraphs the model was given and the deltas are its text as it is "
                                    "written, before verification: `done` carries the verified answer, its "
                                    "citations, `engine` and `unsupported`, and replaces what was streamed."}})
async def ask_stream(body: AskRequest, ops: OperationsDep, caller: CallerDep,
                     settings: SettingsDep) -> StreamingResponse:
    """`/v1/ask`, streamed. Invalid questions get the same 4xx JSON errors before the stream starts."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue = asyncio.Queue()
    cancelled = threading.Event()

    def sink(kind: str, data: Any) -> None:
        if cancelled.is_set():  # the client went away: stop generating
            raise StreamCancelled
        if kind == "citations":  # the prompt's paragraphs open the viewer like the final citations
            data = ops.signed(body.collection, data)
        loop.call_soon_threadsafe(pieces.put_nowait, (kind, data))

    def work() -> tuple[AskResponse, dict[int, str | None]]:
        with streaming_to(sink):
            return _answer(ops, caller, body)

    task = asyncio.ensure_future(run_in_threadpool(work))
    first = asyncio.ensure_future(pieces.get())
    await asyncio.wait({task, first}, return_when=asyncio.FIRST_COMPLETED)
    if not first.done():  # nothing streamed as it was written: the answer is complete (or a 4xx is raised)
        first.cancel()
        answer, kinds = await task
        return _sse_response(_chunked(answer, kinds, settings))
    return _sse_response(_live(first.result(), pieces, task, cancelled))


def _sse_response(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _chunked(answer: AskResponse, kinds: dict[int, str | None], settings) -> AsyncIterator[bytes]:
    """A finished answer, cut into deltas at sentence ends and paced so that it visibly streams in."""
    delay = max(0, settings.stream_delay_ms) / 1000
    try:
        citations = [{**c.model_dump(), "kind": kinds.get(c.marker)} for c in answer.citations]
        yield sse("citations", {"citations": citations, "abstained": answer.abstained})
        for chunk in chunk_answer(answer.answer, settings.stream_chunk_chars):
            yield sse("delta", {"text": chunk})
            if delay:
                await asyncio.sleep(delay)
        yield sse("done", answer.model_dump())
    except asyncio.CancelledError:
        raise
    except Exception:  # the status line is already sent: report in the stream
        log.exception("streaming an answer failed")
        yield _internal_error()


async def _live(first: tuple[str, Any], pieces: asyncio.Queue, task: asyncio.Future,
                cancelled: threading.Event) -> AsyncIterator[bytes]:
    """An LLM answer as it is written: the prompt's paragraphs, the model's text, then the verified answer."""
    try:
        kind, data = first
        while True:
            if kind == "citations":
                yield sse("citations", {"citations": data, "abstained": False})
            else:
                yield sse("delta", {"text": data})
            if not pieces.empty():
                kind, data = pieces.get_nowait()
                continue
            getter = asyncio.ensure_future(pieces.get())
            await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            kind, data = getter.result()
        while not pieces.empty():  # written just before the answer was returned
            kind, data = pieces.get_nowait()
            yield sse("delta", {"text": data})
        answer, _ = await task
        yield sse("done", answer.model_dump())
    except asyncio.CancelledError:
        cancelled.set()
        raise
    except Exception:
        log.exception("streaming an answer failed")
        yield _internal_error()
    finally:
        cancelled.set()


def _internal_error() -> bytes:
    return sse("error", {"code": "internal_error", "message": "The server hit an unexpected error; it has been logged."})
