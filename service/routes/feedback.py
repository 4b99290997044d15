"""POST /v1/feedback: thumbs up/down (and a comment) on an answer, appended to a JSONL file."""
from __future__ import annotations

from fastapi import APIRouter, Request, status
from starlette.concurrency import run_in_threadpool

from service.deps import CallerDep, OperationsDep, SettingsDep, collection_qa
from service.domain.feedback import check_feedback, feedback_path, new_record, store_for
from service.routes import error_responses
from service.schemas import FeedbackCreated, FeedbackRequest

router = APIRouter(prefix="/v1", tags=["feedback"], responses=error_responses(422))


@router.post("/feedback", status_code=status.HTTP_201_CREATED)
async def post_feedback(body: FeedbackRequest, request: Request, ops: OperationsDep, caller: CallerDep,
                        settings: SettingsDep) -> FeedbackCreated:
    """Record a thumbs up/down (and optional comment) on an answer; `notesqa feedback export` turns
    the records into evaluation questions."""
    collection = body.collection or settings.default_collection
    collection_qa(ops, caller, collection, "ask")  # feedback is about an answer: the key must be allowed to ask
    check_feedback(body, settings.max_question_chars)
    record = new_record(body, collection=collection, origin=request.headers.get("origin"))
    await run_in_threadpool(store_for(feedback_path(settings)).append, record)
    return FeedbackCreated(id=record["id"])
