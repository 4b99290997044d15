"""The loaded index behind the API and the CLI: input limits, serialised queries, hot reload."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

from retrieval.conversation import Turn
from retrieval.generation import GeneratorConfig, GroundedAnswerer, Outcome, create_generator
from retrieval.generation.grounded import fallback
from retrieval.pipeline import Answer, NotesQA
from retrieval.validation import TextError, check_text
from service.errors import DocumentNotFound, ParagraphNotFound, TopKOutOfRange, from_text_error
from service.schemas import (AskResponse, DocumentDetail, DocumentList, DocumentSummary, Health, ParagraphOut,
                             SearchResponse)
from service.settings import Settings

log = logging.getLogger(__name__)

# Where a streamed LLM answer's pieces go: ("citations", [the prompt's numbered paragraphs]) once, then
# ("delta", text)...; set by POST /v1/ask/stream around the one ask it makes (Operations.ask in between
# knows nothing of streaming). None: the answer is generated whole.
_stream_sink: ContextVar[Callable[[str, Any], None] | None] = ContextVar("notesqa_llm_stream_sink", default=None)


@contextmanager
def streaming_to(sink: Callable[[str, Any], None]) -> Iterator[None]:
    """LLM answers asked in this block (this thread) are streamed to `sink` as they are written."""
    token = _stream_sink.set(sink)
    try:
        yield
    finally:
        _stream_sink.reset(token)


class StreamCancelled(Exception):
    """Raised by a stream's sink when its client has gone: the answer being generated is abandoned."""


class LLMAnswers:
    """The process's language model: one client and one bound on answers in flight, for every collection."""

    def __init__(self, settings: Settings) -> None:
        config = GeneratorConfig(base_url=settings.llm_base_url or "", model=settings.llm_model,
                                 api_key=settings.llm_api_key.get_secret_value(), timeout_s=settings.llm_timeout_s,
                                 max_tokens=settings.llm_max_tokens, temperature=settings.llm_temperature)
        self.answerer = GroundedAnswerer(create_generator(settings.llm_backend, config))
        self.slots = threading.BoundedSemaphore(settings.llm_max_concurrent)


@lru_cache(maxsize=4)
def _llm_for(base_url: str, backend: str, model: str, api_key: str, timeout_s: float, max_tokens: int,
             temperature: float, max_concurrent: int) -> LLMAnswers:
    return LLMAnswers(Settings(llm_base_url=base_url, llm_backend=backend, llm_model=model, llm_api_key=api_key,
                               llm_timeout_s=timeout_s, llm_max_tokens=max_tokens, llm_temperature=temperature,
                               llm_max_concurrent=max_concurrent))


def llm_answers(settings: Settings) -> LLMAnswers | None:
    """The LLM these settings name (shared by every service with the same settings), or None when off."""
    if not (settings.llm_base_url or "").strip():
        return None
    return _llm_for(settings.llm_base_url.strip(), settings.llm_backend, settings.llm_model,
                    settings.llm_api_key.get_secret_value(), settings.llm_timeout_s, settings.llm_max_tokens,
                    settings.llm_temperature, settings.llm_max_concurrent)


def prompt_citations(numbered) -> list[dict]:
    """The prompt's numbered paragraphs as citations (the stream's first event, before the answer is checked)."""
    return [{"marker": s.marker, "doc_id": s.paragraph.doc_id, "title": s.title,
             "paragraph_id": s.paragraph.paragraph_id, "paragraph_number": s.paragraph.paragraph_number,
             "section": s.paragraph.section, "text": s.paragraph.text, "quote": s.shown, "start": s.paragraph.start,
             "end": s.paragraph.end, "score": round(s.score, 4), "view_token": None, "kind": s.paragraph.kind}
            for s in numbered]


class QAService:
    def __init__(self, pipeline: NotesQA, settings: Settings, *, query_lock: threading.Lock | None = None) -> None:
        self._pipeline = pipeline
        self._settings = settings
        # The embedder is a C engine that is not safe to call from several threads at once,
        # and FastAPI runs sync endpoints on a thread pool: every query goes through this lock.
        # Several services sharing one embedder (collections) share one lock (`query_lock`).
        self._query_lock = query_lock or threading.Lock()
        self._reload_lock = threading.Lock()
        self._llm = llm_answers(settings)

    @classmethod
    def load(cls, settings: Settings, *, query_lock: threading.Lock | None = None) -> QAService:
        """Raises index.snapshot.SnapshotError (missing, damaged, other embedder) or EmbedderError."""
        return cls(NotesQA.load(settings.index_dir, settings.embedder, span_reader_path=settings.span_reader_path,
                                arbiter_path=settings.arbiter_path),
                   settings, query_lock=query_lock)

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
            fresh = NotesQA.load(self._settings.index_dir, self._settings.embedder,
                                 span_reader_path=self._settings.span_reader_path,
                                 arbiter_path=self._settings.arbiter_path)
            with self._query_lock:
                self._pipeline = fresh
        log.info("now serving snapshot %s", fresh.snapshot_name)
        return self.health()

    def ask(self, question: str, top_k: int = 5, doc_ids: list[str] | None = None,
            history: Sequence[Turn] = ()) -> AskResponse:
        self._check_text("question", question)
        self._check_top_k(top_k)
        with self._query_lock:
            pipeline = self._pipeline
            answer = pipeline.ask(question, top_k=top_k, doc_ids=doc_ids, history=history)
        if self._llm is None:
            return AskResponse.from_answer(answer)
        return AskResponse.model_validate(self._llm_outcome(pipeline, answer).apply(answer.to_dict()))

    def _llm_outcome(self, pipeline: NotesQA, answer: Answer) -> Outcome:
        """The LLM's verified answer, or the reason the extractive one stands; never raises."""
        llm = self._llm
        question = answer.resolved_question or answer.question
        plan = llm.answerer.plan(question, answer, pipeline.title)
        if isinstance(plan, Outcome):
            return plan
        if not llm.slots.acquire(blocking=False):
            return fallback("llm_busy", "every language model slot is answering another question")

        def embed(texts):
            with self._query_lock:  # the embedder is not safe to call from several threads
                return pipeline.embedder.encode_query(texts)

        sink = _stream_sink.get()
        try:
            if sink is None:
                return llm.answerer.answer(plan, embed)
            outcome, started = None, False
            for piece in llm.answerer.stream(plan, embed):
                if isinstance(piece, Outcome):
                    outcome = piece
                    continue
                if not started:
                    sink("citations", prompt_citations(plan.numbered))
                    started = True
                sink("delta", piece)
            return outcome or fallback("llm_malformed", "the stream ended without an answer")
        except StreamCancelled:
            log.info("the client of a streamed LLM answer went away; generation stopped")
            return fallback("llm_cancelled", "the client went away")
        except Exception as exc:  # a bug or an unforeseen client error must not cost the answer
            log.exception("the LLM answer failed")
            return fallback("llm_error", f"{type(exc).__name__}: {str(exc)[:200]}")
        finally:
            llm.slots.release()

    def search(self, query: str, top_k: int = 10, doc_ids: list[str] | None = None) -> SearchResponse:
        self._check_text("query", query)
        self._check_top_k(top_k)
        with self._query_lock:
            pipeline = self._pipeline
            hits = pipeline.search(query, top_k=top_k, doc_ids=doc_ids)
        return SearchResponse.from_hits(hits, {h.paragraph.doc_id: pipeline.title(h.paragraph.doc_id) for h in hits})

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

