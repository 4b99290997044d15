"""NotesQA: the facade over one index snapshot (search, ask, browse documents)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from index.embedders import DEFAULT_EMBEDDER, Embedder, create_embedder
from index.models import Paragraph
from index.snapshot import Snapshot, load_snapshot
from retrieval.answering import AnswerComposer, AnswerSettings, question_type
from retrieval.query_analysis import expand_query
from retrieval.search import HybridSearcher, SearchHit, SearchSettings


@dataclass
class Citation:
    marker: int
    doc_id: str
    title: str
    paragraph_id: str
    paragraph_number: str | None
    section: str | None
    text: str
    quote: str
    start: int
    end: int
    score: float


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    confidence: float = 0.0
    hits: list[SearchHit] = field(default_factory=list)  # the ranking the answer was drawn from

    def to_dict(self) -> dict:
        return {"answer": self.answer, "abstained": self.abstained,
                "citations": [asdict(c) for c in self.citations]}


ANSWER_TYPE_DEPTH = 20  # candidates re-ordered by whether they hold the kind of fact asked for
ANSWER_TYPE_BONUS = 0.15


def _check_text(text: str) -> None:
    if not text.strip():
        raise ValueError("the text is empty")
    if "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text):
        raise ValueError("the text contains a NUL or an unpaired surrogate")  # the C engine takes UTF-8


class NotesQA:
    def __init__(self, snapshot: Snapshot, embedder: Embedder, search_settings: SearchSettings | None = None,
                 answer_settings: AnswerSettings | None = None) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self.searcher = HybridSearcher(snapshot, embedder, search_settings)
        searchable = [snapshot.paragraphs[i] for i in snapshot.searchable]
        titles = {doc_id: info["title"] for doc_id, info in snapshot.documents.items()}
        self.composer = AnswerComposer(snapshot.keyword_df, searchable, embedder, answer_settings, titles)
        self._by_id = {(p.doc_id, p.paragraph_id): p for p in snapshot.paragraphs}

    @classmethod
    def load(cls, index_dir: str | Path, embedder_spec: str = DEFAULT_EMBEDDER, **settings) -> "NotesQA":
        embedder = create_embedder(embedder_spec)
        return cls(load_snapshot(index_dir, expected_embedder=embedder.name), embedder, **settings)

    def title(self, doc_id: str) -> str:
        return self.snapshot.documents[doc_id]["title"]

    def _retrieve(self, question: str, top_k: int, mode: str = "hybrid") -> tuple[list[SearchHit], np.ndarray, str]:
        _check_text(question)
        query_vector = self.embedder.encode_query([question])[0]
        analysed = expand_query(question)
        hits = self.searcher.search(analysed, max(top_k, ANSWER_TYPE_DEPTH), query_vector=query_vector, mode=mode)
        if mode == "hybrid":
            hits = self._prefer_answer_type(question, hits)
        return hits[:top_k], query_vector, analysed

    @staticmethod
    def _prefer_answer_type(question: str, hits: list[SearchHit]) -> list[SearchHit]:
        """A question asking for a date, number, place... favours paragraphs that hold one."""
        qtype = question_type(question)
        if qtype is None:
            return hits
        for hit in hits:
            if AnswerComposer.extract_fact(qtype, hit.paragraph.text, question):
                hit.score += ANSWER_TYPE_BONUS
        return sorted(hits, key=lambda h: -h.score)

    def search(self, query: str, top_k: int = 10, mode: str = "hybrid") -> list[SearchHit]:
        return self._retrieve(query, top_k, mode)[0]

    def ask(self, question: str, top_k: int = 5) -> Answer:
        hits, query_vector, analysed = self._retrieve(question, max(top_k, 5))
        composed = self.composer.compose(question, hits, query_vector, analysed=analysed)
        citations = [
            Citation(marker=c.marker, doc_id=c.hit.paragraph.doc_id, title=self.title(c.hit.paragraph.doc_id),
                     paragraph_id=c.hit.paragraph.paragraph_id, paragraph_number=c.hit.paragraph.paragraph_number,
                     section=c.hit.paragraph.section, text=c.hit.paragraph.text, quote=c.quote,
                     start=c.hit.paragraph.start, end=c.hit.paragraph.end, score=round(c.hit.score, 4))
            for c in composed.claims
        ]
        return Answer(question, composed.answer, composed.abstained, citations, composed.confidence, hits[:top_k])

    def documents(self) -> list[dict]:
        return list(self.snapshot.documents.values())

    def document_paragraphs(self, doc_id: str) -> list[Paragraph]:
        if doc_id not in self.snapshot.documents:
            raise KeyError(doc_id)
        return [p for p in self.snapshot.paragraphs if p.doc_id == doc_id]

    def paragraph(self, doc_id: str, paragraph_id: str) -> Paragraph:
        return self._by_id[(doc_id, paragraph_id)]
