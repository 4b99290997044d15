"""Candidate generators: the units an answer can quote, and the spans inside them a fact can be.

Units are sentences; a sentence longer than the answer budget is cut into runs of its clauses (court
judgments join a whole holding with "，"). Spans are the typed facts of every question type's pattern,
names from the tagger, quoted titles, Latin-script names, the run between the words that surround the
question word, runs of one to a few jieba words, and the unit's clauses (what a "how" or "why" question asks
is often one clause of a longer sentence); the unit itself is a span too (a reason, a list).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from index.normalization import to_simplified
from index.segmentation import CLAUSE_ENDS, split_sentences
from index.tokenization import ORGANISATION_TAGS, PERSON_TAGS, PLACE_TAGS, dictionary_name_tag, word_offsets
from retrieval.answer.patterns import CLAUSE_PUNCTUATION, LATIN_SPAN, QUESTION_TYPES, TITLE_SPAN

_CLAUSE_BREAK = re.compile(r"[，,；;。！？!?]")  # a clause span never crosses these (an enumeration's "、" it may)

# span kinds: the fact patterns' names, then the generators'; their index is the model's categorical code
SPAN_KINDS = (["unit", "ngram", "gap", "title", "latin", "person", "place_name", "organisation"]
              + [name for name, _, _ in QUESTION_TYPES] + ["clause"])
SPAN_KIND_CODE = {kind: i for i, kind in enumerate(SPAN_KINDS)}
_NAME_KIND = {**{t: "person" for t in PERSON_TAGS}, **{t: "place_name" for t in PLACE_TAGS},
              **{t: "organisation" for t in ORGANISATION_TAGS}}


@dataclass(frozen=True)
class Unit:
    start: int  # offset in the paragraph text
    text: str
    sentence: str  # the whole sentence the unit was cut from (the unit itself when not cut)


@dataclass(frozen=True)
class Span:
    start: int  # offsets in the unit text
    end: int
    kind: str


def sentences_with_offsets(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) pairs of a paragraph; a text with no sentence end is one sentence.

    A line break ends a sentence too; "；" does not: it separates the items of one list."""
    out, pos = [], 0
    for piece in split_sentences(text, breaks="\n"):
        stripped = piece.strip()
        if len(stripped.replace(" ", "")) >= 2:
            out.append((text.find(stripped, pos), stripped))
        pos += len(piece)
    return out or [(0, text)]


# the paragraphs of a collection recur across questions (bounded: a large index would fill any size)
@lru_cache(maxsize=16384)
def split_units(text: str, max_chars: int) -> tuple[Unit, ...]:
    units: list[Unit] = []
    for start, sentence in sentences_with_offsets(text):
        if len(sentence) <= max_chars:
            units.append(Unit(start, sentence, sentence))
            continue
        run_start, run = 0, ""
        offset = 0
        for clause in split_sentences(sentence, CLAUSE_ENDS):
            if run and len(run) + len(clause) > max_chars:
                units.append(Unit(start + run_start, run, sentence))
                run_start, run = offset, ""
            run += clause
            offset += len(clause)
        if run.strip():
            units.append(Unit(start + run_start, run, sentence))
    return tuple(units)


@lru_cache(maxsize=16384)
def match_text(text: str) -> str:
    """`text` in the form questions are compared in (NFKC, simplified, lower case), position for position."""
    folded = to_simplified(unicodedata.normalize("NFKC", text)).lower()
    return folded if len(folded) == len(text) else text.lower()


@lru_cache(maxsize=16384)
def _words(text: str) -> tuple[tuple[int, int, str | None], ...]:
    """(start, end, name kind or None) of each jieba word of a unit's match text."""
    return tuple((start, end, _NAME_KIND.get(dictionary_name_tag(text[start:end]) or ""))
                 for start, end in word_offsets(text) if not text[start:end].isspace())


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and (text[start].isspace() or text[start] in _OPENERS_EXCLUDED):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in _CLOSERS_EXCLUDED):
        end -= 1
    return start, end


_OPENERS_EXCLUDED = CLAUSE_PUNCTUATION - set("《“「（(")
_CLOSERS_EXCLUDED = CLAUSE_PUNCTUATION - set("》”」）)")


class UnitView:
    """A unit's match text with, at every position, how far the question's context matches there.

    left_at[i]: trailing characters of the words before the question word that end right at i;
    right_at[i]: leading characters of the words after it that start right at i (spaces skipped).
    """

    def __init__(self, unit_text: str, wh_context: tuple[str, str] | None, limit: int) -> None:
        self.raw = unit_text
        self.text = match_text(unit_text)
        n = len(self.text)
        self.left_at = [0] * (n + 1)
        self.right_at = [0] * (n + 1)
        if wh_context is None:
            return
        left, right = wh_context
        chars = [(i, ch) for i, ch in enumerate(self.text) if not ch.isspace()]
        if left:
            for k, (i, _) in enumerate(chars):
                m = 0
                while m < min(len(left), limit) and k - m >= 0 and chars[k - m][1] == left[-1 - m]:
                    m += 1
                self.left_at[i + 1] = m
        if right:
            for k, (i, _) in enumerate(chars):
                m = 0
                while m < min(len(right), limit) and k + m < len(chars) and chars[k + m][1] == right[m]:
                    m += 1
                self.right_at[i] = m
        # a position right after spaces matches like the position before them
        for i in range(1, n + 1):
            if self.text[i - 1].isspace():
                self.left_at[i] = self.left_at[i - 1]
        for i in range(n - 1, -1, -1):
            if self.text[i].isspace():
                self.right_at[i] = self.right_at[i + 1]


def _gap_spans(view: UnitView, min_anchor: int, max_chars: int) -> list[tuple[int, int]]:
    """Runs that begin where the question's left words end in the text and stop where its right words begin
    (or at the clause's end): "是由[光荣和ω-force]开发的" for "是由哪两个公司合作开发的"."""
    text, out = view.text, []
    starts = [i for i in range(1, len(text)) if view.left_at[i] >= min_anchor]
    ends = [i for i in range(1, len(text)) if view.right_at[i] >= min_anchor]
    for s in starts:
        stop = next((i for i in range(s, len(text)) if text[i] in CLAUSE_PUNCTUATION), len(text))
        following = [e for e in ends if s < e <= min(stop, s + max_chars)]
        out.append((s, following[0] if following else stop))
    for e in ends:
        begin = max((i + 1 for i in range(0, e) if text[i] in CLAUSE_PUNCTUATION), default=0)
        if e - begin <= max_chars:
            out.append((begin, e))
    return out


def _clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) of each clause of a unit with more than one."""
    breaks = [m.start() for m in _CLAUSE_BREAK.finditer(text)]
    bounds = [-1] + breaks + [len(text)]
    pieces = [(bounds[i] + 1, bounds[i + 1]) for i in range(len(bounds) - 1)]
    pieces = [(s, e) for s, e in pieces if text[s:e].strip()]
    return pieces if len(pieces) > 1 else []


def span_candidates(view: UnitView, *, max_words: int, max_chars: int, min_anchor: int,
                    with_ngrams: bool, max_clause_chars: int) -> list[Span]:
    """Every candidate span of a unit, each (start, end) once, the most specific kind kept."""
    raw, text = view.raw, view.text
    found: dict[tuple[int, int], str] = {}

    def add(start: int, end: int, kind: str, limit: int = max_chars) -> None:
        start, end = _trim(raw, start, end)
        if end > start and end - start <= limit and (start, end) not in found:
            found[(start, end)] = kind

    for name, _, pattern in QUESTION_TYPES:
        for m in pattern.finditer(raw):
            add(m.start(), m.end(), name)
    for m in TITLE_SPAN.finditer(raw):
        add(m.start(), m.end(), "title")
        add(m.start() + 1, m.end() - 1, "title")
    for m in LATIN_SPAN.finditer(raw):
        add(m.start(), m.end(), "latin")
    words = _words(text)
    for start, end, kind in words:
        if kind:
            add(start, end, kind)
    for start, end in _gap_spans(view, min_anchor, max_chars):
        add(start, end, "gap")
    if with_ngrams:
        for i in range(len(words)):
            for j in range(i, min(i + max_words, len(words))):
                if any(ch in CLAUSE_PUNCTUATION for ch in text[words[i][0]:words[j][1]]):
                    break
                add(words[i][0], words[j][1], "ngram")
    for start, end in _clauses(raw):
        add(start, end, "clause", max_clause_chars)
    found.setdefault((0, len(raw)), "unit")  # whatever its length: a reason or a list is the clause
    return [Span(s, e, kind) for (s, e), kind in found.items()]
