"""NotesQA: the facade over one index snapshot (search, ask, browse documents)."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from index.embedders import DEFAULT_EMBEDDER, Embedder, create_embedder
from index.models import Paragraph
from index.snapshot import Snapshot, load_snapshot
from retrieval.answering import AnswerComposer, AnswerSettings, question_type
from retrieval.query_analysis import expand_query, schedule_day, with_equivalents
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


_ROW_DATE = re.compile(r"^(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*日")
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
        depth = max(top_k, ANSWER_TYPE_DEPTH)
        hits = self.searcher.search(analysed, depth, query_vector=query_vector, mode=mode)
        if mode == "hybrid" and hits and (date := self._schedule_date(question, hits[0].paragraph.doc_id)):
            # "第一天下午" names no date: read it off the schedule of the document found, then search again
            analysed = with_equivalents(analysed, [date])
            hits = self.searcher.search(analysed, depth, query_vector=query_vector, mode=mode)
        if mode == "hybrid":
            hits = self._prefer_answer_type(question, hits)
        return hits[:top_k], query_vector, analysed

    @cached_property
    def _schedule_dates(self) -> dict[str, list[str]]:
        """Each document's schedule days in order, from the dates its table rows start with."""
        days: dict[str, set[tuple[int, int, int]]] = {}
        for paragraph in self.snapshot.paragraphs:
            if paragraph.kind == "table_row" and (m := _ROW_DATE.match(paragraph.text)):
                days.setdefault(paragraph.doc_id, set()).add((int(m.group(1) or 0), int(m.group(2)), int(m.group(3))))
        return {doc_id: [f"{month}月{day}日" for _, month, day in sorted(dates)] for doc_id, dates in days.items()}

    def _schedule_date(self, question: str, doc_id: str) -> str | None:
        """The date a relative day ("最后一天") stands for in `doc_id`'s schedule, if it has one."""
        if (day := schedule_day(question)) is None:
            return None
        dates = self._schedule_dates.get(doc_id, [])
        return dates[day] if -len(dates) <= day < len(dates) else None

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
