"""Staff feedback on answers: an append-only JSONL store, and its export as evaluation questions.

Every `POST /v1/feedback` appends one JSON line to `settings.feedback_path` (default: `feedback.jsonl`
next to the index folder), naming the collection it is about (`collection`; the default collection's
name when the body names none); the caller's key must be allowed to ask that collection, as for /v1/ask.
Lines are written whole under a lock (a thread lock, plus `flock` so that several server processes can
share the file), so concurrent posts never interleave.

Changing a rating or adding a comment posts a new record that names the one it replaces in
`supersedes`; the export keeps only the latest record of such a chain.

`notesqa feedback export` turns the records into this project's evaluation JSONL (see
evaluation/datasets.py), so that real staff questions become test cases:

=========================  ===========  ======================================  =============
rating / answer            answerable   answers, evidence, doc_ids              needs_review
=========================  ===========  ======================================  =============
up, answered               true         direct fact (or []), cited quotes/docs  false
up, abstained              false        empty: staff agree the notes hold none  false
down, abstained            true         empty: staff expected an answer         true
down, answered             true         empty: the served answer is not gold    true
=========================  ===========  ======================================  =============

A down-rated answer is assumed to have been answerable (the staff member expected the notes to
answer it); a reviewer should fill in the gold answer and evidence, or set answerable to false, and
the comment usually says which. `answers` holds only the answer's direct fact (e.g. "2018 年 6 月 6 日"
before the quoted sentence); when the answer has none it is empty, and the item then scores
retrieval (evidence, doc_ids) but its answer accuracy needs a reviewer's gold answer.
"""
from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.normalization import mostly_latin
from index.segmentation import split_sentences
from retrieval.answer.render import ABSTAIN_MESSAGE, ABSTAIN_MESSAGE_EN
from retrieval.validation import TextError, check_text
from service.errors import from_text_error
from service.schemas import FeedbackRequest

try:  # POSIX: also lock against other server processes appending to the same file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

FEEDBACK_FILE = "feedback.jsonl"
def default_feedback_path(index_dir: Path) -> Path:
    return Path(index_dir).parent / FEEDBACK_FILE


def feedback_path(settings: Any) -> Path:
    """`settings.feedback_path`, else feedback.jsonl next to the index folder."""
    return Path(settings.feedback_path) if getattr(settings, "feedback_path", None) else \
        default_feedback_path(settings.index_dir)


def check_feedback(body: FeedbackRequest, max_question_chars: int) -> None:
    """Raise the API's 422 errors for a question that is empty or too long, or text that is not valid."""
    texts = [("answer", body.answer), ("comment", body.comment or "")]
    texts += [("citation", t) for c in body.citations for t in (c.quote, c.title or "", c.section or "")]
    try:
        check_text(body.question, field="question", max_chars=max_question_chars)
        for field, text in texts:
            if text.strip():
                check_text(text, field=field)
    except TextError as exc:
        raise from_text_error(exc) from None


def question_lang(question: str) -> str:
    return "en" if mostly_latin(question) else "zh"


def new_record(body: FeedbackRequest, *, collection: str | None = None,
               origin: str | None = None) -> dict[str, Any]:
    """`collection`: the collection the answer came from, as resolved by the server (default: the body's)."""
    abstained = body.abstained
    if abstained is None:
        abstained = not body.citations and body.answer.strip() in {ABSTAIN_MESSAGE, ABSTAIN_MESSAGE_EN}
    return {
        "id": uuid.uuid4().hex,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "question": body.question,
        "answer": body.answer,
        "fact": body.fact,
        "abstained": abstained,
        "rating": body.rating,
        "comment": (body.comment or "").strip() or None,
        "citations": [c.model_dump() for c in body.citations],
        "lang": question_lang(body.question),
        "collection": collection or body.collection,
        "supersedes": body.supersedes,
        "origin": origin,
    }


class FeedbackStore:
    """Append-only JSONL; get one per file with `store_for(path)` so that they share its lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # released when the descriptor is closed
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # a crash cut the last line short: do not glue onto it
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)

    def read(self) -> Iterator[dict[str, Any]]:
        """The records in order; lines that are not JSON objects (a cut-short write) are skipped."""
        for record in self._objects():
            if record.get("question"):
                yield record

    def _objects(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    yield record


_stores: dict[Path, FeedbackStore] = {}
_stores_lock = threading.Lock()


def store_for(path: str | Path) -> FeedbackStore:
    key = Path(os.path.abspath(path))
    with _stores_lock:
        if key not in _stores:
            _stores[key] = FeedbackStore(key)
        return _stores[key]


# --- export -------------------------------------------------------------------------------------

_MARKER = re.compile(r"\[\d+\]")


def _evidence(citations: Iterable[dict]) -> list[str]:
    # a quote may join non-adjacent sentences of its paragraph with "…": each sentence is a verbatim substring
    out: list[str] = []
    for citation in citations:
        for sentence in split_sentences(citation.get("quote") or "", breaks="…"):
            sentence = _MARKER.sub("", sentence).strip()
            if sentence and sentence not in out:
                out.append(sentence)
    return out


def to_eval_item(record: dict[str, Any]) -> dict[str, Any]:
    up = record.get("rating") == "up"
    abstained = bool(record.get("abstained"))
    citations = record.get("citations") or []
    gold = up and not abstained
    doc_ids: list[str] = []
    if gold:
        for citation in citations:
            if citation.get("doc_id") and citation["doc_id"] not in doc_ids:
                doc_ids.append(citation["doc_id"])
    fact = (record.get("fact") or "") if gold else ""  # the service's own fact field, never re-parsed
    return {
        "id": f"fb-{str(record.get('id', ''))[:12]}",
        "question": record["question"],
        "answers": [fact] if fact else [],
        "list_items": [],
        "evidence": _evidence(citations) if gold else [],
        "doc_ids": doc_ids,
        "answerable": not (up and abstained),
        "type": "feedback",
        "lang": record.get("lang") or question_lang(record["question"]),
        "rating": record.get("rating"),
        "comment": record.get("comment"),
        "needs_review": not up,
        "served_answer": record.get("answer"),
        "collection": record.get("collection"),
        "created_at": record.get("created_at"),
    }


def current_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records no later record supersedes (the latest of each chain), in file order."""
    records = list(records)
    superseded = {r["supersedes"] for r in records if r.get("supersedes")}
    return [r for r in records if r.get("id") not in superseded]


def export_items(records: Iterable[dict[str, Any]], rating: str | None = None) -> list[dict[str, Any]]:
    """Evaluation items from feedback records, superseded ones dropped, optionally one rating only."""
    return [to_eval_item(r) for r in current_records(records) if rating is None or r.get("rating") == rating]


def write_jsonl(items: Iterable[dict[str, Any]], path: str | Path) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(path)
    return count


# --- review -------------------------------------------------------------------------------------
# GET /v1/feedback, POST /v1/feedback/{id}/review, GET /v1/feedback/export (service/routes/feedback.py).
#
# Reviewing is the editor's work: whoever may change a collection's documents acts on what its users
# said of the answers. So the action is "write": admins review every collection, editors theirs.
REVIEW_ACTION = "write"
REVIEWS_SUFFIX = ".reviews.jsonl"


def reviews_path(feedback_file: str | Path) -> Path:
    """Where the review marks of a feedback file are kept: feedback.jsonl -> feedback.reviews.jsonl."""
    path = Path(feedback_file)
    return path.with_name(path.stem + REVIEWS_SUFFIX)


class ReviewStore(FeedbackStore):
    """The review marks, append-only like the feedback itself (one line per mark, the latest mark of a
    record wins). A side file, so that the feedback file stays exactly what staff said and what
    `notesqa feedback export` reads."""

    def read(self) -> Iterator[dict[str, Any]]:
        for mark in self._objects():
            if isinstance(mark.get("feedback_id"), str):
                yield mark

    def latest(self) -> dict[str, dict[str, Any]]:
        """feedback id -> its latest mark."""
        return {mark["feedback_id"]: mark for mark in self.read()}


def review_store_for(feedback_file: str | Path) -> ReviewStore:
    key = Path(os.path.abspath(reviews_path(feedback_file)))
    with _stores_lock:
        store = _stores.get(key)
        if not isinstance(store, ReviewStore):
            store = _stores[key] = ReviewStore(key)
        return store


def review_mark(feedback_id: str, reviewed: bool, by: str) -> dict[str, Any]:
    return {"feedback_id": feedback_id, "reviewed": reviewed, "by": by,
            "at": datetime.now(UTC).isoformat(timespec="seconds")}


@dataclass(frozen=True)
class ReviewItem:
    """A current feedback record as stored, the collection it is about, and its latest review mark."""

    record: dict[str, Any]
    collection: str
    mark: dict[str, Any] | None

    @property
    def reviewed(self) -> bool:
        return bool(self.mark and self.mark.get("reviewed"))

    def view(self) -> dict[str, Any]:
        """The record with its review state (the body of FeedbackRecordOut)."""
        mark = self.mark or {}
        return {**self.record, "collection": self.collection, "reviewed": self.reviewed,
                "reviewed_at": mark.get("at"), "reviewed_by": mark.get("by")}


def review_items(records: Iterable[dict[str, Any]], marks: dict[str, dict[str, Any]], *,
                 visible: Callable[[str], bool], default_collection: str, collection: str | None = None,
                 rating: str | None = None, reviewed: bool | None = None) -> list[ReviewItem]:
    """The current records (superseded ones dropped) of the collections `visible` lets the reviewer see,
    filtered, in file order. A record that names no collection (written before records did) is about the
    default collection."""
    items = []
    for record in current_records(records):
        if not isinstance(record.get("id"), str):
            continue
        name = record.get("collection") or default_collection
        if not visible(name) or collection not in (None, name) or rating not in (None, record.get("rating")):
            continue
        item = ReviewItem(record, name, marks.get(record["id"]))
        if reviewed is None or item.reviewed == reviewed:
            items.append(item)
    return items
