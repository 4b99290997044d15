"""The loaded index behind the API and the CLI: input limits, serialised queries, hot reload."""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from retrieval.conversation import Turn
from retrieval.pipeline import NotesQA
from retrieval.validation import TextError, check_text
from service.errors import DocumentNotFound, ParagraphNotFound, TopKOutOfRange, from_text_error
from service.schemas import (AskResponse, DocumentDetail, DocumentList, DocumentSummary, Health, ParagraphOut,
                             SearchResponse)
from service.settings import Settings

log = logging.getLogger(__name__)


class QAService:
    def __init__(self, pipeline: NotesQA, settings: Settings, *, query_lock: threading.Lock | None = None) -> None:
        self._pipeline = pipeline
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
    def pipeline(self) -> NotesQA:
        """The NotesQA pipeline now serving (for in-process evaluation)."""
        return self._pipeline

    def built_from(self) -> str | None:
        """The corpus path the served snapshot was built from, as its manifest records it."""
        return self._pipeline.manifest.get("corpus")

    def source_titles(self) -> dict[str, str]:
        """Source file name -> title of the served snapshot (a .jsonl counts once, untitled, for its records)."""
        names: dict[str, str] = {}
        for info in self._pipeline.documents():
            source = str(info.get("source", ""))
            jsonl = ".jsonl:" in source
            names.setdefault(Path(source.rsplit(":", 1)[0]).name if jsonl else source,
                             "" if jsonl else info["title"])
        return names

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
                self._pipeline = fresh
        log.info("now serving snapshot %s", fresh.snapshot_name)
        return self.health()

    def ask(self, question: str, top_k: int = 5, doc_ids: list[str] | None = None,
            history: Sequence[Turn] = ()) -> AskResponse:
        self._check_text("question", question)
        self._check_top_k(top_k)
        with self._query_lock:
            answer = self._pipeline.ask(question, top_k=top_k, doc_ids=doc_ids, history=history)
        return AskResponse.from_answer(answer)

    def search(self, query: str, top_k: int = 10, doc_ids: list[str] | None = None) -> SearchResponse:
        self._check_text("query", query)
        self._check_top_k(top_k)
        with self._query_lock:
            pipeline = self._pipeline
            hits = pipeline.search(query, top_k=top_k, doc_ids=doc_ids)
        titles = pipeline.titles()
        return SearchResponse.from_hits(hits, titles)

    # Browsing never calls the embedder, so it takes no lock: snapshots are never mutated,
    # and reading the `_qa` reference once gives a consistent view even during a reload.
    def documents(self) -> DocumentList:
        return DocumentList(documents=[
            DocumentSummary(doc_id=info["doc_id"], title=info["title"], metadata=info.get("metadata") or {},
                            paragraphs=info["paragraphs"])
            for info in self._pipeline.documents()])

    def document(self, doc_id: str) -> DocumentDetail:
        pipeline = self._pipeline
        try:
            paragraphs = pipeline.document_paragraphs(doc_id)
        except KeyError:
            raise DocumentNotFound(f"no document with id {doc_id!r}") from None
        info = pipeline.document(doc_id)
        return DocumentDetail(doc_id=doc_id, title=info["title"], metadata=info.get("metadata") or {},
                              paragraphs=[ParagraphOut.from_paragraph(p)
                                          for p in sorted(paragraphs, key=lambda p: p.ordinal)])

    def paragraph(self, doc_id: str, paragraph_id: str) -> ParagraphOut:
        pipeline = self._pipeline
        try:
            pipeline.document(doc_id)
        except KeyError:
            raise DocumentNotFound(f"no document with id {doc_id!r}") from None
        try:
            return ParagraphOut.from_paragraph(pipeline.paragraph(doc_id, paragraph_id))
        except KeyError:
            raise ParagraphNotFound(f"document {doc_id!r} has no paragraph {paragraph_id!r}") from None

    def health(self) -> Health:
        pipeline = self._pipeline
        manifest = pipeline.manifest
        return Health(documents=manifest["counts"]["documents"], paragraphs=manifest["counts"]["paragraphs"],
                      embedder=manifest["embedder"]["name"], built_at=manifest.get("built_at"),
                      snapshot=pipeline.snapshot_name)

    def _check_text(self, field: str, text: str) -> None:
        try:
            check_text(text, field=field, max_chars=self._settings.max_question_chars)
        except TextError as exc:
            raise from_text_error(exc) from None

    def _check_top_k(self, top_k: int) -> None:
        limit = self._settings.max_top_k
        if not 1 <= top_k <= limit:
            raise TopKOutOfRange(f"top_k must be between 1 and {limit}, got {top_k}")

