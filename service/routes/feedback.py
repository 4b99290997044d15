"""/v1/feedback: thumbs up/down (and a comment) on an answer, appended to a JSONL file; and its review.

    POST /v1/feedback                     file feedback (a key that may ask the collection)
    GET  /v1/feedback                     list it for review (admins; editors: their collections)
    POST /v1/feedback/{id}/review         mark a record reviewed, or take the mark back
    GET  /v1/feedback/export              the evaluation JSONL `notesqa feedback export` writes
"""
from __future__ import annotations

import json
import logging
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from service.deps import CallerDep, OperationsDep, SettingsDep, authorize, collection_qa
from service.domain.feedback import (REVIEW_ACTION, ReviewItem, check_feedback, export_items, feedback_path,
                                     new_record, review_items, review_mark, review_store_for, store_for)
from service.domain.keys import Principal
from service.errors import FeedbackNotFound
from service.routes import CALLER_ERRORS, error_responses
from service.schemas import (MAX_FEEDBACK_PAGE, FeedbackCreated, FeedbackExportItem, FeedbackList,
                             FeedbackRecordOut, FeedbackRequest, FeedbackReview)
from service.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["feedback"], responses=error_responses(422))

EXPORT_MEDIA_TYPE = "application/x-ndjson"
EXPORT_FILENAME = "feedback_eval.jsonl"

CollectionFilter = Annotated[str | None, Query(max_length=64, description="Only this collection's feedback.")]
RatingFilter = Annotated[str | None, Query(pattern="^(up|down)$", description="Only 👍 (up) or only 👎 (down).")]
ReviewedFilter = Annotated[bool | None, Query(description="Only reviewed (true) or only unreviewed (false).")]


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


# --- review ---------------------------------------------------------------------------------------

def _reviewable(caller: Principal, settings: Settings, collection: str | None, rating: str | None,
                reviewed: bool | None) -> list[ReviewItem]:
    """The current records of the collections this key may review, filtered, in file order."""
    who = authorize(caller, REVIEW_ACTION, collection)
    path = feedback_path(settings)
    return review_items(store_for(path).read(), review_store_for(path).latest(), visible=who.may_use,
                        default_collection=settings.default_collection, collection=collection, rating=rating,
                        reviewed=reviewed)


def _out(item: ReviewItem) -> FeedbackRecordOut | None:
    try:
        return FeedbackRecordOut.model_validate(item.view())
    except ValidationError as exc:  # a line edited by hand: list the others, say which one is skipped
        log.warning("feedback record %s is not listed: %s", item.record.get("id"), exc.errors()[:1])
        return None


@router.get("/feedback", responses=CALLER_ERRORS)
def list_feedback(caller: CallerDep, settings: SettingsDep, collection: CollectionFilter = None,
                  rating: RatingFilter = None, reviewed: ReviewedFilter = None,
                  limit: Annotated[int, Query(ge=1, le=MAX_FEEDBACK_PAGE)] = 200,
                  offset: Annotated[int, Query(ge=0)] = 0) -> FeedbackList:
    """Feedback for review, newest first: admins see every collection's, editors their collections'."""
    items = _reviewable(caller, settings, collection, rating, reviewed)
    page = list(reversed(items))[offset:offset + limit]
    return FeedbackList(feedback=[out for out in map(_out, page) if out is not None], total=len(items))


@router.post("/feedback/{feedback_id}/review", responses=CALLER_ERRORS)
def review_feedback(feedback_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], body: FeedbackReview,
                    ops: OperationsDep, caller: CallerDep, settings: SettingsDep) -> FeedbackRecordOut:
    """Mark a record reviewed (or, with `reviewed: false`, not reviewed). A record of a collection the key
    may not review is not even there (404), as with jobs."""
    found = [item for item in _reviewable(caller, settings, None, None, None) if item.record["id"] == feedback_id]
    if not found:
        raise FeedbackNotFound(f"no feedback with id {feedback_id!r} to review")
    item = found[-1]
    mark = review_mark(feedback_id, body.reviewed, caller.name)
    review_store_for(feedback_path(settings)).append(mark)
    ops.audit_action(caller, "feedback_review", item.collection, feedback_id=feedback_id, reviewed=body.reviewed)
    out = _out(ReviewItem(item.record, item.collection, mark))
    if out is None:
        raise FeedbackNotFound(f"feedback {feedback_id!r} cannot be read; see the log")
    return out


@router.get("/feedback/export", response_class=Response, responses={
    **CALLER_ERRORS, 200: {"description": f"JSON Lines, one {FeedbackExportItem.__name__} per line",
                           "content": {EXPORT_MEDIA_TYPE: {"schema": FeedbackExportItem.model_json_schema()}}}})
def export_feedback(ops: OperationsDep, caller: CallerDep, settings: SettingsDep, collection: CollectionFilter = None,
                    rating: RatingFilter = None, reviewed: ReviewedFilter = None) -> Response:
    """The reviewable feedback as an evaluation dataset: the lines `notesqa feedback export` writes (the
    same mapping, in file order), limited to the key's collections and the filters."""
    items = _reviewable(caller, settings, collection, rating, reviewed)
    lines = [json.dumps(line, ensure_ascii=False) + "\n" for line in export_items(i.record for i in items)]
    ops.audit_action(caller, "feedback_export", collection or "*", items=len(lines))
    return Response("".join(lines), media_type=EXPORT_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{EXPORT_FILENAME}"'})
