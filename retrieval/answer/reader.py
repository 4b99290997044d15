"""The reader: reranked paragraphs -> units -> candidate spans -> scores -> a calibrated answer.

    hits (fused search) --rerank--> the paragraphs read --split--> units (sentences, clause runs)
      --generate--> candidate spans --score--> the best span and its unit --classify--> confidence
Each arrow is one function below; the training command calls the same functions (evaluation/training.py),
so what is fitted is exactly what runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np

from index.normalization import compact
from retrieval.answer.candidates import Span, UnitView, span_candidates, split_units
from retrieval.answer.features import (CorpusStats, QuestionContext, UnitInfo, answer_features, paragraph_features,
                                       span_features)
from retrieval.answer.model import AnswerModel
from retrieval.answer.question import AnalysedQuestion
from retrieval.search import SearchHit


@dataclass(frozen=True)
class ReaderSettings:
    read_paragraphs: int = 5  # reranked paragraphs whose units are read
    unit_max_chars: int = 80  # a longer sentence is cut into runs of clauses: the answer is one unit
    candidate_units: int = 8  # units (by local coverage) whose spans are scored
    ngram_units: int = 4  # of those, units whose word runs are candidates too (the others: typed spans only)
    max_span_words: int = 4
    max_span_chars: int = 30
    max_clause_chars: int = 40  # a longer clause is no span of its own (it stays in its unit)
    min_anchor: int = 2  # characters of the question's context a gap span must match at its edge
    anchor_limit: int = 12  # longest context match counted
    context_window: int = 15  # characters each side of a span looked at for question terms
    agreement_top: int = 5  # best spans compared with the best one ("do the runners-up say the same")
    abstain_below: float | None = None  # None: the threshold fitted with the model


@dataclass
class Candidates:
    """All spans read for one question, with their feature rows."""
    infos: list[UnitInfo] = field(default_factory=list)
    spans: list[tuple[int, Span]] = field(default_factory=list)  # (index into infos, span)
    features: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))


@dataclass
class Reading:
    hits: list[SearchHit]  # reranked
    paragraph_scores: np.ndarray
    candidates: Candidates
    best: int | None  # index into candidates.spans
    span_scores: np.ndarray
    confidence: float
    answer_row: np.ndarray | None

    @property
    def unit(self) -> UnitInfo | None:
        return None if self.best is None else self.candidates.infos[self.candidates.spans[self.best][0]]

    @property
    def span(self) -> Span | None:
        return None if self.best is None else self.candidates.spans[self.best][1]


class AnswerReader:
    def __init__(self, stats: CorpusStats, model: AnswerModel | None, settings: ReaderSettings | None = None) -> None:
        self.stats = stats
        self.model = model
        self.settings = settings or ReaderSettings()

    @property
    def abstain_below(self) -> float:
        fixed = self.settings.abstain_below
        return self.model.abstain_below if fixed is None else fixed

    def context(self, question: AnalysedQuestion) -> QuestionContext:
        return QuestionContext(question, self.stats)

    def rerank(self, ctx: QuestionContext, hits: list[SearchHit],
               scores: np.ndarray | None = None) -> tuple[list[SearchHit], np.ndarray]:
        """`scores`: given by the training command (held-out fold predictions), else the reranker's."""
        if not hits:
            return [], np.zeros(0)
        if scores is None:
            scores = self.model.rerank(paragraph_features(ctx, hits))
        order = np.argsort(-scores, kind="stable")
        return [hits[i] for i in order], scores[order]

    def units(self, ctx: QuestionContext, hits: list[SearchHit]) -> list[UnitInfo]:
        """The units of the paragraphs read, best covered first, `candidate_units` of them."""
        cfg = self.settings
        pool = hits[:cfg.read_paragraphs]
        infos: list[UnitInfo] = []
        targets: list[str] = []
        for pi, hit in enumerate(pool):
            p = hit.paragraph
            title = self.stats.titles.get(p.doc_id, "")
            # the title and section are said of every sentence: an article on 杨群 is about 杨群 throughout.
            # An ordinal or figure in them is not: the text may be on another session
            topic = compact(f"{title}\n{p.context}")
            topic = "".join("\x1f" if ch.isdigit() else ch for ch in topic)
            whole = ctx.terms.coverage(compact(f"{p.context}\n{p.text}"))[0] or 1e-6
            head = compact(f"{title}\n{p.context}")
            body = compact(p.text)
            nonspace = list(accumulate((not c.isspace() for c in p.text), initial=0))  # before each offset
            for unit in split_units(p.text, cfg.unit_max_chars):
                unit_compact = compact(unit.text)
                # the text up to the unit's end: what the question names must come before or in it
                lead = head + body[:nonspace[unit.start] + len(unit_compact)]
                infos.append(UnitInfo(pi, unit, 0.0, ctx.terms.coverage(unit_compact)[0],
                                      ctx.terms.coverage(compact(unit.sentence))[0],
                                      ctx.terms.coverage(lead)[0] / whole))
                targets.append(f"{unit_compact}\x1f{topic}")
        for info, local in zip(infos, ctx.terms.local_coverage(targets)):
            info.local_coverage = local
        infos.sort(key=lambda u: (-u.local_coverage, u.paragraph_index, u.unit.start))
        for rank, info in enumerate(infos):
            info.rank = rank
        return infos[:cfg.candidate_units]

    def candidates(self, ctx: QuestionContext, hits: list[SearchHit], paragraph_scores: np.ndarray) -> Candidates:
        cfg = self.settings
        found = Candidates(infos=self.units(ctx, hits))
        tables = []
        for ui, info in enumerate(found.infos):
            view = UnitView(info.unit.text, ctx.question.wh_context, cfg.anchor_limit)
            spans = span_candidates(view, max_words=cfg.max_span_words, max_chars=cfg.max_span_chars,
                                    min_anchor=cfg.min_anchor, with_ngrams=info.rank < cfg.ngram_units,
                                    max_clause_chars=cfg.max_clause_chars)
            found.spans.extend((ui, s) for s in spans)
            tables.append(span_features(ctx, info, view, spans, paragraph_scores, window=cfg.context_window))
        if tables:
            found.features = np.vstack(tables)
        return found

    def span_text(self, found: Candidates, index: int) -> str:
        ui, span = found.spans[index]
        return found.infos[ui].unit.text[span.start:span.end]

    def agreement(self, found: Candidates, scores: np.ndarray, best: int) -> float:
        """Share of the runner-up spans that say the same as the best one (contain it or are contained)."""
        top = [i for i in np.argsort(-scores, kind="stable")[:self.settings.agreement_top + 1] if i != best]
        if not top:
            return 1.0
        mine = compact(self.span_text(found, best))
        same = 0
        for i in top:
            other = compact(self.span_text(found, i))
            same += bool(other) and (other in mine or mine in other)
        return same / len(top)

    def read(self, question: AnalysedQuestion, hits: list[SearchHit], *, paragraph_scores: np.ndarray | None = None,
             span_scores: np.ndarray | None = None) -> Reading:
        """The training command passes held-out scores; serving leaves them to the model."""
        ctx = self.context(question)
        reranked, pscores = self.rerank(ctx, hits, paragraph_scores)
        found = self.candidates(ctx, reranked, pscores)
        if not found.spans:
            return Reading(reranked, pscores, found, None, np.zeros(0), 0.0, None)
        scores = self.model.score_spans(found.features) if span_scores is None else span_scores
        best = int(np.argmax(scores))
        ui, span = found.spans[best]
        row = answer_features(ctx, reranked, pscores, found.infos[ui], span, found.features[best], scores,
                              self.agreement(found, scores, best))
        confidence = float(self.model.confidence(row.reshape(1, -1))[0])
        return Reading(reranked, pscores, found, best, scores, confidence, row)
