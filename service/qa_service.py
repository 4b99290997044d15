"""The loaded index behind the API and the CLI: input limits, serialised queries, hot reload."""
from __future__ import annotations

import logging
import threading

from retrieval.pipeline import NotesQA
from service.errors import (DocumentNotFound, EmptyQuestion, InvalidText, ParagraphNotFound, QuestionTooLong,
                            TopKOutOfRange)
from service.schemas import (AskResponse, DocumentDetail, DocumentList, DocumentSummary, Health, ParagraphOut,
                             SearchResponse)
from service.settings import Settings

log = logging.getLogger(__name__)


class QAService:
    def __init__(self, qa: NotesQA, settings: Settings, *, query_lock: threading.Lock | None = None) -> None:
        self._qa = qa
        self._settings = settings
        # The embedder is a C engine that is not safe to call from several threads at once,
        # and FastAPI runs sync endpoints on a thread pool: every query goes through this lock.
        # Several services sharing one embedder (collections) share one lock (`query_lock`).
        self._query_lock = query_lock or threading.Lock()
        self._reload_lock = threading.Lock()

    @classmethod
    def load(cls, settings: Settings, *, query_lock: threading.Lock | None = None) -> QAService:
        """Raises index.snapshot.SnapshotError (missing, damaged, other embedder) or EmbedderError."""
        return cls(NotesQA.load(settings.index_dir, settings.embedder), settings, query_lock=query_lock)

    @property
    def query_lock(self) -> threading.Lock:
        """Held around every call into the embedder."""
        return self._query_lock

    @property
    def qa(self) -> NotesQA:
        """The NotesQA now serving (for in-process evaluation)."""
        return self._qa

    @property
    def settings(self) -> Settings:
        return self._settings

    def reload(self) -> Health:
        """Load the index folder's current snapshot and swap it in; on failure the old one keeps serving."""
        with self._reload_lock:
            # Loading runs outside the query lock so that queries keep being answered meanwhile;
            # it raises before the swap if the new snapshot is unusable.
            fresh = NotesQA.load(self._settings.index_dir, self._settings.embedder)
            with self._query_lock:
                self._qa = fresh
        log.info("now serving snapshot %s", fresh.snapshot.path.name)
        return self.health()

    def ask(self, question: str, top_k: int = 5, doc_ids: list[str] | None = None) -> AskResponse:
        self._check_text("question", question)
        self._check_top_k(top_k)
        with self._query_lock:
            answer = self._qa.ask(question, top_k=top_k, doc_ids=doc_ids)
        return AskResponse.from_answer(answer)

    def search(self, query: str, top_k: int = 10, doc_ids: list[str] | None = None) -> SearchResponse:
        self._check_text("query", query)
        self._check_top_k(top_k)
        with self._query_lock:
            qa = self._qa
            hits = qa.search(query, top_k=top_k, doc_ids=doc_ids)
        titles = {doc_id: info["title"] for doc_id, info in qa.snapshot.documents.items()}
        return SearchResponse.from_hits(hits, titles)

    # Browsing never calls the embedder, so it takes no lock: snapshots are never mutated,
    # and reading the `_qa` reference once gives a consistent view even during a reload.
    def documents(self) -> DocumentList:
        return DocumentList(documents=[
            DocumentSummary(doc_id=info["doc_id"], title=info["title"], metadata=info.get("metadata") or {},
                            paragraphs=info["paragraphs"])
            for info in self._qa.documents()])

    def document(self, doc_id: str) -> DocumentDetail:
        qa = self._qa
        try:
            paragraphs = qa.document_paragraphs(doc_id)
        except KeyError:
            raise DocumentNotFound(f"no document with id {doc_id!r}") from None
        info = qa.snapshot.documents[doc_id]
        return DocumentDetail(doc_id=doc_id, title=info["title"], metadata=info.get("metadata") or {},
                              paragraphs=[ParagraphOut.from_paragraph(p)
                                          for p in sorted(paragraphs, key=lambda p: p.ordinal)])

    def paragraph(self, doc_id: str, paragraph_id: str) -> ParagraphOut:
        qa = self._qa
        if doc_id not in qa.snapshot.documents:
            raise DocumentNotFound(f"no document with id {doc_id!r}")
        try:
            return ParagraphOut.from_paragraph(qa.paragraph(doc_id, paragraph_id))
        except KeyError:
            raise ParagraphNotFound(f"document {doc_id!r} has no paragraph {paragraph_id!r}") from None

    def health(self) -> Health:
        snapshot = self._qa.snapshot
        manifest = snapshot.manifest
        return Health(documents=manifest["counts"]["documents"], paragraphs=manifest["counts"]["paragraphs"],
                      embedder=manifest["embedder"]["name"], built_at=manifest.get("built_at"),
                      snapshot=snapshot.path.name)

    def _check_text(self, field: str, text: str) -> None:
        if not text.strip():
            raise EmptyQuestion(f"{field} is empty")
        limit = self._settings.max_question_chars
        if len(text) > limit:
            raise QuestionTooLong(f"{field} has {len(text)} characters; the limit is {limit}")
        # JSON can carry lone surrogates (\ud800) that the embedder cannot encode as UTF-8,
        # and a NUL would silently cut the text short inside the C engine
        if "\x00" in text or not _encodable(text):
            raise InvalidText(f"{field} contains characters that are not valid text (NUL or lone surrogate)")

    def _check_top_k(self, top_k: int) -> None:
        limit = self._settings.max_top_k
        if not 1 <= top_k <= limit:
            raise TopKOutOfRange(f"top_k must be between 1 and {limit}, got {top_k}")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
