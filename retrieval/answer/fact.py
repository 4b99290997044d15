"""The span reader's proposals: its best spans in and around the part of the paragraph the answer shows.

The answer model picks the passage, a span and a calibrated confidence; the span reader (a fine-tuned
encoder) then reads that part of the paragraph with the text around it and proposes the words that answer.
The arbiter (`arbiter.py`) weighs the two.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from retrieval.answer.span_reader import SpanReader


@dataclass(frozen=True)
class FactSettings:
    context_chars: int = 150  # characters each side of the shown part the span reader reads with it
    candidates: int = 20  # the span reader's best spans kept


@dataclass(frozen=True)
class Proposal:
    start: int  # offsets in the paragraph text, edge spaces and punctuation trimmed
    end: int
    probability: float  # of this span against every span of its window and "no span"
    no_span: float  # its window's probability that the window states no answer
    inside: bool  # within the part of the paragraph the answer shows


def _edge(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch).startswith("P")


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without the spaces and punctuation at its ends (a quoted title keeps its marks)."""
    while start < end and _edge(text[start]) and text[start] not in "“《「『(（":
        start += 1
    while end > start and _edge(text[end - 1]) and text[end - 1] not in "”》」』)）":
        end -= 1
    return start, end


def propose(reader: SpanReader, question: str, text: str, shown: tuple[int, int],
            settings: FactSettings) -> list[Proposal]:
    """The reader's best spans in `shown` and `context_chars` around it, most probable first."""
    begin, finish = shown
    lo = max(0, begin - settings.context_chars)
    hi = min(len(text), finish + settings.context_chars)
    out: list[Proposal] = []
    seen: set[tuple[int, int]] = set()
    for span in reader.read(question, [text[lo:hi]], top=settings.candidates):
        start, end = trim(text, span.start + lo, span.end + lo)
        if start < end and (start, end) not in seen:
            seen.add((start, end))
            out.append(Proposal(start, end, span.probability, span.no_span, begin <= start and end <= finish))
    return out
