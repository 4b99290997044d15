"""Features: everything the signals say about a paragraph, a span and an answer, as named numbers.

Three tables, one per fitted model (retrieval/answer/model.py):
    PARAGRAPH_FEATURES  a fused search hit, for the reranker;
    SPAN_FEATURES       a candidate span inside a unit of a reranked paragraph, for the span scorer;
    ANSWER_FEATURES     the best span of a question, for the probability that the answer is right.
A feature that does not apply (a question that names no date has no "date missing") is -1, so the
models can tell "absent" from "false".
"""
from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from cachetools import LRUCache

from index.normalization import compact
from index.tokenization import named_entities
from retrieval.answer.candidates import SPAN_KIND_CODE, Span, Unit, UnitView, sentences_with_offsets
from retrieval.answer.patterns import (CJK_RUN, FACT_REQUIRED, LATIN_NAME_OR_TITLE, QUESTION_CHARS, QUESTION_TYPES,
                                       WH_PHRASE, fact_pattern)
from retrieval.answer.question import AnalysedQuestion
from retrieval.search import SearchHit

NOT_APPLICABLE = -1.0  # a sentinel value, not a weight: no feature takes it when it applies
# "coverage" is defined as this share of the IDF-weighted term coverage plus the rest of the bigram coverage.
# It fixes what the feature means, not how much it counts (the fitted models weigh it, beside both parts
# as features of their own): changing it changes the features, so the model must be refitted
TERM_COVERAGE_SHARE = 0.5
QTYPE_CODE = {name: i + 1 for i, (name, _, _) in enumerate(QUESTION_TYPES)}  # 0: no type ("what")
PARAGRAPH_KINDS = ("paragraph", "heading", "footnote", "table_row", "list_item", "front_matter")

# which span kinds are facts of the kind a question type asks for (the answer-type signal)
COMPATIBLE_KINDS = {
    "date": {"date"}, "time": {"time"}, "number": {"number", "money"}, "money": {"money"},
    "place": {"place", "place_name"}, "ordinal": {"ordinal"}, "symbol": {"symbol"}, "resolution": {"resolution"},
    "url": {"url"}, "email": {"email"}, "reason": {"reason", "unit", "clause"},
    "list": {"list", "unit", "gap", "clause"},
}
WHO_KINDS = {"person", "organisation", "latin", "title"}
_FUNCTION_START = set("的是在和与了为被把将对及或并而")
_FUNCTION_END = set("的了和与及或在是")

PARAGRAPH_FEATURES = (
    "rank", "fused", "fused_rel", "dense", "dense_gap", "keyword", "keyword_rel", "coverage", "term_coverage",
    "bigram_coverage", "title_coverage", "best_sentence_coverage", "protected_share", "ordinal_share",
    "holds_fact", "kind", "length", "has_number", "specifics_missing", "names_missing", "counted_present",
    "qtype", "question_chars",
)
SPAN_FEATURES = (
    "kind", "qtype", "compatible", "who_compatible", "chars", "question_char_share", "in_question",
    "left_match", "right_match", "left_near", "right_near", "left_term_gap", "right_term_gap",
    "left_window_share", "right_window_share", "starts_function", "ends_function", "after_punct", "before_punct",
    "has_digit", "has_latin", "counted_after", "measure_in", "grain_in", "position", "is_unit",
    "unit_local_coverage", "unit_coverage", "sentence_coverage", "unit_rank", "unit_chars", "unit_holds_fact",
    "paragraph_rank", "paragraph_score", "paragraph_score_gap", "lead_ratio",
)
ANSWER_FEATURES = (
    "span_score", "span_margin", "span_kind", "compatible", "qtype", "unit_local_coverage", "unit_coverage",
    "sentence_coverage", "paragraph_score", "paragraph_margin", "paragraph_rank", "dense", "fused", "coverage",
    "protected_all", "specifics_missing", "names_missing", "who_unnamed", "counted_present", "fact_required_missing",
    "lead_ratio", "kind_unmentioned", "rendered", "english", "question_chars", "terms", "left_match", "right_match",
    "agreeing_share", "document_coverage", "rarest_term_missing",
)


@dataclass
class CorpusStats:
    """What the features need of the whole index: term document frequencies, titles, each document's text.
    A document's text is read when a question first needs it (a large index is not held in memory)."""
    keyword_df: Mapping[str, int]
    n_paragraphs: int
    titles: dict[str, str]
    # doc_ids -> the compact texts of each one's searchable paragraphs (the snapshot's store, one read)
    document_texts: Callable[[Sequence[str]], Mapping[str, Sequence[str]]]
    cached_documents: int  # documents whose joined text is kept between questions (AskSettings)

    def __post_init__(self) -> None:
        self._texts: LRUCache[str, str] = LRUCache(maxsize=max(self.cached_documents, 1))
        self._lock = threading.Lock()  # the service's threads share one cache

    def read_documents(self, doc_ids: Iterable[str]) -> None:
        """Read the texts of those of `doc_ids` not cached, all at once (a question's hits name ~20)."""
        with self._lock:
            missing = [d for d in dict.fromkeys(doc_ids) if d not in self._texts]
        if missing:
            self._read(missing)

    def document_text(self, doc_id: str) -> str:
        """`doc_id`'s searchable paragraphs, compact, joined by \x1f ("" for an unknown id)."""
        with self._lock:
            text = self._texts.get(doc_id)
        # read alone when it was never read, or another question's documents have pushed it out since
        return self._read([doc_id])[doc_id] if text is None else text

    def _read(self, doc_ids: list[str]) -> dict[str, str]:
        """Read `doc_ids`' texts in one go, cache and return them."""
        found = self.document_texts(doc_ids)
        texts = {d: "\x1f".join(found.get(d, ())) for d in doc_ids}
        with self._lock:
            self._texts.update(texts)
        return texts

    def idf(self, term: str) -> float:
        return math.log(1 + self.n_paragraphs / (1 + self.keyword_df.get(term, 0)))


def _bigrams(text: str) -> list[str]:
    grams = []
    for run in CJK_RUN.findall(text):
        grams.extend(run[i:i + 2] for i in range(len(run) - 1))
    return list(dict.fromkeys(g for g in grams if not (g[0] in QUESTION_CHARS and g[1] in QUESTION_CHARS)))


@dataclass
class QuestionTerms:
    """The question's terms with their corpus IDF, and its character bigrams."""
    terms: tuple[str, ...]
    weights: np.ndarray
    bigrams: list[str]

    @classmethod
    def of(cls, question: AnalysedQuestion, stats: CorpusStats) -> "QuestionTerms":
        terms = question.terms
        return cls(terms, np.array([stats.idf(t) for t in terms], dtype=np.float64),
                   _bigrams(question.matchable_compact))

    def coverage(self, target: str) -> tuple[float, float, float]:
        """(combined, IDF-weighted term share, bigram share) of the question found in compact `target`."""
        term = float(sum(w for t, w in zip(self.terms, self.weights) if t in target) / self.weights.sum()) \
            if self.terms and self.weights.sum() > 0 else 0.0
        gram = sum(g in target for g in self.bigrams) / len(self.bigrams) if self.bigrams else term
        return TERM_COVERAGE_SHARE * term + (1 - TERM_COVERAGE_SHARE) * gram, term, gram

    def local_coverage(self, targets: list[str]) -> list[float]:
        """Coverage of each target, weighting what tells the targets apart: a term every candidate holds
        (the subject of the article) says little about which of them answers."""
        n = len(targets)

        def local(term: str) -> float:
            return math.log(1 + n / (1 + sum(term in t for t in targets)))

        term_w = [w * local(t) for t, w in zip(self.terms, self.weights)]
        gram_w = [local(g) for g in self.bigrams]
        out = []
        for target in targets:
            term_cov = sum(w for t, w in zip(self.terms, term_w) if t in target) / sum(term_w) if sum(term_w) else 0.0
            gram_cov = sum(w for g, w in zip(self.bigrams, gram_w) if g in target) / sum(gram_w) \
                if sum(gram_w) else term_cov
            out.append(TERM_COVERAGE_SHARE * term_cov + (1 - TERM_COVERAGE_SHARE) * gram_cov)
        return out


def _share(found: list[bool]) -> float:
    return sum(found) / len(found) if found else NOT_APPLICABLE


def _spelled_in(name: str, text: str) -> bool:
    """Whether `text` names `name`, allowing for a word jieba cut across a boundary or a variant
    transliteration: most of its character pairs have to be missing to call it absent."""
    if name in text:
        return True
    pairs = [name[i:i + 2] for i in range(len(name) - 1)]
    return sum(p not in text for p in pairs) <= len(pairs) / 2


@dataclass
class QuestionContext:
    """One question against one index: the analysed question and what every feature function shares."""
    question: AnalysedQuestion
    stats: CorpusStats
    terms: QuestionTerms = field(init=False)

    def __post_init__(self) -> None:
        self.terms = QuestionTerms.of(self.question, self.stats)

    def document_text(self, doc_id: str) -> str:
        return self.stats.document_text(doc_id)

    def titled_document_text(self, doc_id: str) -> str:
        """The document's compact title, then its text: what a document is said to name or mention."""
        return f"{compact(self.stats.titles.get(doc_id, ''))}\x1f{self.document_text(doc_id)}"

    def specifics_missing(self, doc_id: str) -> float:
        specifics = self.question.specifics
        if not specifics:
            return NOT_APPLICABLE
        text = self.document_text(doc_id)
        return float(not any(t in text for t in specifics))

    def names_missing(self, doc_ids: set[str]) -> float:
        names = self.question.names
        if not names:
            return NOT_APPLICABLE
        text = "\x1f".join(self.titled_document_text(d) for d in doc_ids)
        return sum(not _spelled_in(n, text) for n in names) / len(names)

    def document_terms(self, doc_id: str) -> tuple[float, float]:
        """How far the cited document (its title and every searchable paragraph) speaks of what the question
        asks about: (its coverage, the IDF of the rarest question term it never mentions against the rarest
        term's). A near miss in another article on a like subject shares the generic words, not the subject's
        name, which is the rarest term; a question after something the notes never mention (a menu, a fee)
        names a term no paragraph holds, the rarest of all. Question words are no such term."""
        asked = [(t, w) for t, w in zip(self.terms.terms, self.terms.weights) if not WH_PHRASE.fullmatch(t)]
        if not asked:
            return NOT_APPLICABLE, NOT_APPLICABLE
        text = self.titled_document_text(doc_id)
        missing = [w for t, w in asked if t not in text]
        rarest = max(w for _, w in asked)
        return self.terms.coverage(text)[0], (max(missing) / rarest if missing else 0.0)

    def counted_present(self, text: str) -> float:
        noun = self.question.counted_noun
        return NOT_APPLICABLE if noun is None else float(compact(noun) in text)

    def holds_fact(self, text: str) -> float:
        pattern = fact_pattern(self.question.qtype) if self.question.qtype else None
        if pattern is None:
            return NOT_APPLICABLE
        return float(any(compact(m.group(0)) not in self.question.compact for m in pattern.finditer(text)))


def paragraph_features(ctx: QuestionContext, hits: list[SearchHit]) -> np.ndarray:
    q = ctx.question
    out = np.full((len(hits), len(PARAGRAPH_FEATURES)), NOT_APPLICABLE, dtype=np.float32)
    if not hits:
        return out
    top_fused = max(h.score for h in hits) or 1e-6
    top_dense = max(h.dense for h in hits)
    top_keyword = max(h.keyword for h in hits) or 1e-6
    protected = [compact(t) for t in q.protected]
    ordinals = [t for t in q.specifics if t.startswith("第")]
    if q.specifics or q.names:  # what `specifics_missing` and `names_missing` look for in each hit's document
        ctx.stats.read_documents(h.paragraph.doc_id for h in hits)
    for i, hit in enumerate(hits):
        p = hit.paragraph
        target = compact(f"{p.context}\n{p.text}")
        combined, term, gram = ctx.terms.coverage(target)
        title = compact(ctx.stats.titles.get(p.doc_id, ""))
        sentences = [compact(s) for _, s in sentences_with_offsets(p.text)]
        best_sentence = max((ctx.terms.coverage(s)[0] for s in sentences), default=0.0)
        out[i] = [
            i, hit.score, hit.score / top_fused, hit.dense, top_dense - hit.dense, hit.keyword,
            hit.keyword / top_keyword, combined, term, gram, ctx.terms.coverage(title)[0] if title else 0.0,
            best_sentence, _share([t in target for t in protected]), _share([t in target for t in ordinals]),
            ctx.holds_fact(p.text), PARAGRAPH_KINDS.index(p.kind) if p.kind in PARAGRAPH_KINDS else len(PARAGRAPH_KINDS),
            len(p.text), float(p.paragraph_number is not None), ctx.specifics_missing(p.doc_id),
            ctx.names_missing({p.doc_id}), ctx.counted_present(target), QTYPE_CODE.get(q.qtype, 0), len(q.asked),
        ]
    return out


@dataclass
class UnitInfo:
    """A unit of a reranked paragraph with what its spans' features share."""
    paragraph_index: int  # position in the reranked hits
    unit: Unit
    local_coverage: float
    coverage: float
    sentence_coverage: float
    lead_ratio: float  # coverage of the text up to the unit's end against the paragraph's whole coverage
    rank: int = 0  # by local coverage among the units read


def _term_positions(ctx: QuestionContext, text: str) -> list[tuple[int, int]]:
    spans = []
    for term in ctx.question.terms:
        start = text.find(term)
        while start >= 0:
            spans.append((start, start + len(term)))
            start = text.find(term, start + 1)
    return spans


def span_features(ctx: QuestionContext, info: UnitInfo, view: UnitView, spans: list[Span],
                  paragraph_scores: np.ndarray, *, window: int) -> np.ndarray:
    q = ctx.question
    text = view.text
    n = len(text)
    qchars = set(q.matchable_compact)
    positions = _term_positions(ctx, text)
    term_ends = sorted(e for _, e in positions)
    term_starts = sorted(s for s, _ in positions)
    mask = [0] * n
    for s, e in positions:
        for i in range(s, e):
            mask[i] = 1
    prefix = [0]
    for v in mask:
        prefix.append(prefix[-1] + v)
    qtype = q.qtype
    compatible = COMPATIBLE_KINDS.get(qtype, set())
    pattern = fact_pattern(qtype) if qtype else None
    unit_holds = NOT_APPLICABLE if pattern is None else float(bool(pattern.search(info.unit.text)))
    noun = compact(q.counted_noun) if q.counted_noun else None
    measure, grain = q.asked_measure, q.date_grain
    top_score = float(paragraph_scores.max()) if len(paragraph_scores) else 0.0
    paragraph_score = float(paragraph_scores[info.paragraph_index])
    unit_part = [info.local_coverage, info.coverage, info.sentence_coverage, info.rank, len(info.unit.text),
                 unit_holds, info.paragraph_index, paragraph_score, top_score - paragraph_score, info.lead_ratio]
    qtype_code = QTYPE_CODE.get(qtype, 0)
    far = window * 4
    left_at, right_at = view.left_at, view.right_at
    rows = []
    for span in spans:
        s, e = span.start, span.end
        piece = text[s:e].replace(" ", "")
        before = bisect.bisect_right(term_ends, s)
        left_gap = s - term_ends[before - 1] if before else far
        after_i = bisect.bisect_left(term_starts, e)
        right_gap = term_starts[after_i] - e if after_i < len(term_starts) else far
        lw0 = max(0, s - window)
        rw1 = min(n, e + window)
        following = text[e:e + 12].replace(" ", "")
        rows.append([
            SPAN_KIND_CODE[span.kind], qtype_code,
            NOT_APPLICABLE if not compatible else float(span.kind in compatible),
            NOT_APPLICABLE if not q.who else float(span.kind in WHO_KINDS),
            len(piece), sum(ch in qchars for ch in piece) / max(len(piece), 1), float(piece in q.matchable_compact),
            left_at[s], right_at[e], max(left_at[max(s - 2, 0):s + 1]), max(right_at[e:min(e + 2, n) + 1]),
            left_gap, right_gap,
            (prefix[s] - prefix[lw0]) / max(s - lw0, 1), (prefix[rw1] - prefix[e]) / max(rw1 - e, 1),
            float(piece[:1] in _FUNCTION_START), float(piece[-1:] in _FUNCTION_END),
            float(s == 0 or not text[s - 1].isalnum()), float(e >= n or not text[e].isalnum()),
            float(any(ch.isdigit() for ch in piece)), float(any(ch.isascii() and ch.isalpha() for ch in piece)),
            NOT_APPLICABLE if noun is None else float(noun in piece or following.startswith(noun)),
            NOT_APPLICABLE if measure is None else float(measure in piece),
            NOT_APPLICABLE if grain is None else float(grain in piece),
            s / max(n, 1), float(span.kind == "unit"), *unit_part,
        ])
    return np.asarray(rows, dtype=np.float32).reshape(len(spans), len(SPAN_FEATURES))


def answer_features(ctx: QuestionContext, hits: list[SearchHit], paragraph_scores: np.ndarray, info: UnitInfo,
                    span: Span, span_row: np.ndarray, span_scores: np.ndarray, agreeing_share: float) -> np.ndarray:
    """The best span of a question: how sure its own evidence makes it, and what speaks against it."""
    q = ctx.question
    hit = hits[info.paragraph_index]
    p = hit.paragraph
    target = compact(f"{p.context}\n{p.text}")
    ordered = np.sort(span_scores)[::-1]
    ordered_paragraphs = np.sort(paragraph_scores)[::-1]
    found_docs = {h.paragraph.doc_id for h in hits}
    unit_text = info.unit.text
    who_unnamed = NOT_APPLICABLE
    if q.who:
        who_unnamed = float(not (LATIN_NAME_OR_TITLE.search(unit_text) or named_entities(unit_text, q.who)))
    fact_required_missing = NOT_APPLICABLE
    if q.qtype in FACT_REQUIRED:
        fact_required_missing = float(ctx.holds_fact(p.text) != 1.0)
    kind_unmentioned = NOT_APPLICABLE
    if q.asked_kind:
        kind = q.asked_kind
        kind_unmentioned = float(not ctx.stats.keyword_df.get(kind) and not any(
            ch in ctx.document_text(d) for d in found_docs for ch in kind))
    protected = [compact(t) for t in q.protected]
    values = [
        ordered[0], ordered[0] - ordered[1] if len(ordered) > 1 else 1.0, SPAN_KIND_CODE[span.kind],
        span_row[SPAN_FEATURES.index("compatible")], QTYPE_CODE.get(q.qtype, 0), info.local_coverage, info.coverage,
        info.sentence_coverage, paragraph_scores[info.paragraph_index],
        ordered_paragraphs[0] - ordered_paragraphs[1] if len(ordered_paragraphs) > 1 else 1.0, info.paragraph_index,
        hit.dense, hit.score, ctx.terms.coverage(target)[0],
        NOT_APPLICABLE if not protected else float(all(t in target for t in protected)),
        ctx.specifics_missing(p.doc_id), ctx.names_missing(found_docs), who_unnamed, ctx.counted_present(target),
        fact_required_missing, info.lead_ratio, kind_unmentioned, q.rendered, float(q.english), len(q.asked),
        len(q.terms), span_row[SPAN_FEATURES.index("left_match")], span_row[SPAN_FEATURES.index("right_match")],
        agreeing_share, *ctx.document_terms(p.doc_id),
    ]
    return np.asarray(values, dtype=np.float32)
