"""POST /v1/ask, POST /v1/search and GET /v1/examples: questions against one collection."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from service.deps import CallerDep, OperationsDep, SettingsDep, authorize, collection_qa
from service.domain.examples import load_examples
from service.routes import error_responses
from service.schemas import AskRequest, AskResponse, Examples, SearchRequest, SearchResponse

router = APIRouter(prefix="/v1", tags=["questions"], responses=error_responses(422))


@router.post("/ask")
def ask(body: AskRequest, ops: OperationsDep, caller: CallerDep) -> AskResponse:
    """Answer a question from the notes, with paragraph-level citations, or abstain."""
    authorize(caller, "ask", body.collection or ops.settings.default_collection)
    return ops.ask(caller, body.collection, body.question, body.top_k, body.doc_ids, body.turns(),
                   body.conversation_id)


@router.post("/search")
def search(body: SearchRequest, ops: OperationsDep, caller: CallerDep) -> SearchResponse:
    """Rank the notes' paragraphs for a query (hybrid dense + keyword search)."""
    authorize(caller, "search", body.collection or ops.settings.default_collection)
    return ops.search(caller, body.collection, body.query, body.top_k, body.doc_ids)


@router.get("/examples")
async def examples(ops: OperationsDep, caller: CallerDep, settings: SettingsDep,
                   collection: Annotated[str | None, Query(
                       max_length=64, description="Collection (default: the default collection).")] = None,
                   ) -> Examples:
    """A few questions the served corpus answers, for the chat's empty state."""
    qa = collection_qa(ops, caller, collection, "ask")
    return Examples(examples=await run_in_threadpool(load_examples, settings, qa))
