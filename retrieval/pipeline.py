"""NotesQA: the facade over one index snapshot (search, ask, browse documents)."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from index.embedders import DEFAULT_EMBEDDER, Embedder, create_embedder
from index.models import Paragraph
from index.snapshot import Snapshot, load_snapshot
from retrieval.answer.arbiter import DEFAULT_ARBITER, Arbiter, ModelAnswer, arbitrate, load_arbiter
from retrieval.answer.features import CorpusStats
from retrieval.answer.model import DEFAULT_MODEL, load_model
from retrieval.answer.question import AnalysedQuestion, analyse_question
from retrieval.answer.reader import AnswerReader, ReaderSettings
from retrieval.answer.render import render
from retrieval.answer.span_reader import DEFAULT_READER, SpanReader, load_reader
from retrieval.conversation import ConversationSettings, Turn, resolve
from retrieval.query_analysis import schedule_day, with_equivalents
from retrieval.search import HybridSearcher, SearchHit, SearchSettings
from retrieval.validation import check_text


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
class FactCitation:
    """Where the fact stands: offsets in the cited paragraph's text (exact) and in the source file (the
    paragraph's start plus the same offset: exact for a paragraph that is one unbroken run of its source)."""
    marker: int
    doc_id: str
    paragraph_id: str
    paragraph_start: int
    paragraph_end: int
    start: int
    end: int


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    confidence: float = 0.0  # calibrated probability that the answer is right (also given when abstaining)
    hits: list[SearchHit] = field(default_factory=list)  # the ranking the answer was drawn from
    fact: str | None = None  # the concise answer, when the answer holds one
    fact_citation: FactCitation | None = None
    resolved_question: str | None = None  # the question answered, when a follow-up was completed from history
    # on abstention, the best-ranked passages for the reader to look through (search results, not an answer)
    closest: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"answer": self.answer, "abstained": self.abstained,
                "citations": [asdict(c) for c in self.citations], "fact": self.fact,
                "fact_citation": asdict(self.fact_citation) if self.fact_citation else None,
                "confidence": round(self.confidence, 4), "resolved_question": self.resolved_question,
                "closest": self.closest}


_ROW_DATE = re.compile(r"^(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*日")


@dataclass(frozen=True)
class AskSettings:
    rerank_depth: int = 30  # fused hits the reranker orders
    answer_max_chars: int = 80  # the unit that holds the fact, with the neighbours that fit; a longer unit is cut
    closest_on_abstention: int = 3  # passages offered to read when the service abstains
    # documents whose joined text the answer features keep between questions (read from the snapshot's
    # store when first needed: a large index is not held in memory)
    cached_documents: int = 256


class NotesQA:
    def __init__(self, snapshot: Snapshot, embedder: Embedder, search_settings: SearchSettings | None = None,
                 reader_settings: ReaderSettings | None = None, ask_settings: AskSettings | None = None,
                 model_path: str | Path | None = DEFAULT_MODEL,
                 conversation_settings: ConversationSettings | None = None,
                 span_reader_path: str | Path | None = DEFAULT_READER,
                 arbiter_path: str | Path | None = DEFAULT_ARBITER) -> None:
        """`model_path` None: no fitted answer model (the training command computes features only);
        `span_reader_path` or `arbiter_path` None: the answer model answers alone (its own facts, confidence
        and threshold); the span reader is heard only through the arbiter fitted beside both."""
        self.snapshot = snapshot
        self.embedder = embedder
        self.searcher = HybridSearcher(snapshot, embedder, search_settings)
        self.ask_settings = ask_settings or AskSettings()
        self.stats = CorpusStats(snapshot.keyword_df, max(len(snapshot.searchable), 1), self.titles(),
                                 self.searcher.searchable_document_texts, self.ask_settings.cached_documents)
        self.reader = AnswerReader(self.stats, load_model(model_path) if model_path else None, reader_settings)
        self.span_reader: SpanReader | None = None
        self.arbiter: Arbiter | None = None
        if model_path and span_reader_path and arbiter_path:
            self.arbiter = load_arbiter(arbiter_path, model_path, span_reader_path)
            self.span_reader = load_reader(span_reader_path)
        self.conversation_settings = conversation_settings or ConversationSettings()
        self._schedules: dict[str, list[str]] = {}  # doc_id -> its schedule days, read when first asked

    @classmethod
    def load(cls, index_dir: str | Path, embedder_spec: str = DEFAULT_EMBEDDER, **settings) -> "NotesQA":
        embedder = create_embedder(embedder_spec)
        return cls(load_snapshot(index_dir, expected_embedder=embedder.name), embedder, **settings)

    def with_snapshot(self, snapshot: Snapshot) -> "NotesQA":
        """This facade's embedder, settings and fitted answer model over another snapshot (evaluation
        withholds paragraphs this way)."""
        qa = NotesQA(snapshot, self.embedder, self.searcher.settings, self.reader.settings, self.ask_settings,
                     model_path=None, conversation_settings=self.conversation_settings, span_reader_path=None)
        qa.reader.model = self.reader.model  # the same fitted models, whatever files they came from
        qa.span_reader, qa.arbiter = self.span_reader, self.arbiter
        return qa

    @property
    def manifest(self) -> dict:
        """The snapshot's manifest: embedder, backends, counts, build time, corpus, skipped sources."""
        return self.snapshot.manifest

    @property
    def snapshot_name(self) -> str:
        """The name of the snapshot served (its folder under `snapshots/`)."""
        return self.snapshot.path.name

    def title(self, doc_id: str) -> str:
        return self.snapshot.documents[doc_id]["title"]

    def titles(self) -> dict[str, str]:
        """doc_id -> title of every document."""
        return {doc_id: info["title"] for doc_id, info in self.snapshot.documents.items()}

    def analyse(self, question: str) -> AnalysedQuestion:
        check_text(question)
        return analyse_question(question, lambda word: word in self.snapshot.keyword_df)

    def fused_hits(self, question: AnalysedQuestion, depth: int, mode: str = "hybrid",
                   doc_ids: Sequence[str] | None = None, query_vector: np.ndarray | None = None,
                   prefer_doc_ids: Sequence[str] = ()) -> list[SearchHit]:
        """The fused (not yet reranked) ranking, `depth` deep; `doc_ids` restricts it to those documents,
        `prefer_doc_ids` (the documents a conversation's last turn cited) gives theirs a bonus."""
        if query_vector is None and mode != "keyword":
            query_vector = self.searcher.embed_query(question.asked)
        query = question.analysed
        hits = self.searcher.search(query, depth, query_vector=query_vector, mode=mode, doc_ids=doc_ids,
                                    prefer_doc_ids=prefer_doc_ids)
        if mode == "hybrid" and hits and (date := self._schedule_date(question.asked, hits[0].paragraph.doc_id)):
            # "第一天下午" names no date: read it off the schedule of the document found, then search again
            query = with_equivalents(query, [date])
            hits = self.searcher.search(query, depth, query_vector=query_vector, mode=mode, doc_ids=doc_ids,
                                        prefer_doc_ids=prefer_doc_ids)
        return hits

    def _schedule_dates(self, doc_id: str) -> list[str]:
        """`doc_id`'s schedule days in order, from the dates its table rows start with (read once)."""
        if doc_id not in self._schedules:
            days = {(int(m.group(1) or 0), int(m.group(2)), int(m.group(3)))
                    for p in self.snapshot.paragraphs.document(doc_id)
                    if p.kind == "table_row" and (m := _ROW_DATE.match(p.text))}
            self._schedules[doc_id] = [f"{month}月{day}日" for _, month, day in sorted(days)]
        return self._schedules[doc_id]

    def _schedule_date(self, question: str, doc_id: str) -> str | None:
        """The date a relative day ("最后一天") stands for in `doc_id`'s schedule, if it has one."""
        if (day := schedule_day(question)) is None:
            return None
        dates = self._schedule_dates(doc_id)
        return dates[day] if -len(dates) <= day < len(dates) else None

    def search(self, query: str, top_k: int = 10, mode: str = "hybrid",
               doc_ids: Sequence[str] | None = None) -> list[SearchHit]:
        """Hybrid search reordered by the fitted reranker; "dense" and "keyword" are the baselines' rankings."""
        question = self.analyse(query)
        if mode != "hybrid":
            return self.fused_hits(question, top_k, mode, doc_ids)
        hits = self.fused_hits(question, max(top_k, self.ask_settings.rerank_depth), mode, doc_ids)
        return self.reader.rerank(self.reader.context(question), hits)[0][:top_k]

    def ask(self, question: str, top_k: int = 5, doc_ids: Sequence[str] | None = None,
            history: Sequence[Turn] = ()) -> Answer:
        """`history`: the conversation's earlier turns, oldest first; a follow-up is completed from them
        (retrieval/conversation.py) and the documents the last turn cited are preferred."""
        check_text(question)
        resolved = resolve(question, history, self.conversation_settings)
        prefer = list(dict.fromkeys(d for pid in resolved.preferred_paragraph_ids
                                    if (d := self.snapshot.paragraphs.document_of(pid)) is not None))
        # every reading is answered; the one the calibrated confidence trusts most wins (ties: as asked)
        text, reading, rendered = max((self._read(text, top_k, doc_ids, prefer)
                                       for text in (resolved.text, *resolved.alternatives)),
                                      key=lambda read: (not read[2].abstained, read[2].confidence))
        citations = [
            Citation(marker=c.marker, doc_id=c.hit.paragraph.doc_id, title=self.title(c.hit.paragraph.doc_id),
                     paragraph_id=c.hit.paragraph.paragraph_id, paragraph_number=c.hit.paragraph.paragraph_number,
                     section=c.hit.paragraph.section, text=c.hit.paragraph.text, quote=c.quote,
                     start=c.hit.paragraph.start, end=c.hit.paragraph.end, score=round(c.hit.score, 4))
            for c in rendered.claims
        ]
        fact_citation = None
        if rendered.fact_offsets is not None and rendered.claims:
            p = rendered.claims[0].hit.paragraph
            begin, finish = rendered.fact_offsets
            fact_citation = FactCitation(rendered.claims[0].marker, p.doc_id, p.paragraph_id, begin, finish,
                                         min(p.start + begin, p.end), min(p.start + finish, p.end))
        closest = ([h.record(self.title(h.paragraph.doc_id))
                    for h in reading.hits[:min(top_k, self.ask_settings.closest_on_abstention)]]
                   if rendered.abstained else [])
        return Answer(question, rendered.answer, rendered.abstained, citations, rendered.confidence,
                      reading.hits[:top_k], rendered.fact, fact_citation,
                      text if text != question else None, closest)

    def _read(self, text: str, top_k: int, doc_ids: Sequence[str] | None, prefer: Sequence[str]):
        """(text, reading, rendered answer) of one reading of the question."""
        analysed = self.analyse(text)
        hits = self.fused_hits(analysed, max(top_k, self.ask_settings.rerank_depth), doc_ids=doc_ids,
                               prefer_doc_ids=prefer)
        reading = self.reader.read(analysed, hits)
        arbitrated = self.arbiter is not None and self.span_reader is not None
        # with the arbiter, the answer model's answer is composed whatever its confidence: the arbiter decides
        rendered = render(reading, analysed.english, 0.0 if arbitrated else self.reader.abstain_below,
                          self.ask_settings.answer_max_chars, self.reader.settings.unit_max_chars)
        if arbitrated and not rendered.abstained:
            model = ModelAnswer(reading.confidence, rendered.fact, reading.span.kind, analysed.qtype)
            rendered = arbitrate(self.arbiter, self.span_reader, text, rendered, model, analysed.english,
                                 self.ask_settings.answer_max_chars,
                                 self.reader.settings.unit_max_chars)
        return text, reading, rendered

    def documents(self) -> list[dict]:
        return list(self.snapshot.documents.values())

    def document(self, doc_id: str) -> dict:
        """One document's record (doc_id, title, source, metadata, counts); KeyError if there is none."""
        return self.snapshot.documents[doc_id]

    def searchable_paragraphs(self) -> list[Paragraph]:
        """The paragraphs search can find, in the order of the dense and keyword indexes' rows (all of them
        read from the store: for evaluation, not for serving)."""
        return self.snapshot.paragraphs.many(int(i) for i in self.snapshot.searchable)

    def document_paragraphs(self, doc_id: str) -> list[Paragraph]:
        if doc_id not in self.snapshot.documents:
            raise KeyError(doc_id)
        return self.snapshot.paragraphs.document(doc_id)

    def paragraph(self, doc_id: str, paragraph_id: str) -> Paragraph:
        paragraph = self.snapshot.paragraphs.find(doc_id, paragraph_id)
        if paragraph is None:
            raise KeyError((doc_id, paragraph_id))
        return paragraph
