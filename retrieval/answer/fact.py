"""The fact: the span reader's best span inside the part of the paragraph the answer shows.

The answer component picks the passage and says how sure it is; the span reader (a fine-tuned encoder)
then reads that passage with the text around it and names the words that answer, so the fact is always
a span of the text the answer shows and cites.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from retrieval.answer.span_reader import SpanReader


@dataclass(frozen=True)
class FactSettings:
    context_chars: int = 150  # characters each side of the shown part the span reader reads with it
    candidates: int = 20  # the span reader's best spans looked through for one inside the shown part
    # False: the span reader names the fact only where the answer model's best span is its whole unit: on
    # the sample dev sets replacing every fact lowered exact match from 0.480 to 0.252 (README, data flow)
    replace_model_fact: bool = False


def _edge(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch).startswith("P")


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without the spaces and punctuation at its ends (a quoted title keeps its marks)."""
    while start < end and _edge(text[start]) and text[start] not in "“《「『(（":
        start += 1
    while end > start and _edge(text[end - 1]) and text[end - 1] not in "”》」』)）":
        end -= 1
    return start, end


def read_fact(reader: SpanReader, question: str, text: str, shown: tuple[int, int],
              settings: FactSettings) -> tuple[int, int] | None:
    """(start, end) in `text` of the best span inside `shown`, or None when the reader finds none there."""
    begin, finish = shown
    lo = max(0, begin - settings.context_chars)
    hi = min(len(text), finish + settings.context_chars)
    for span in reader.read(question, [text[lo:hi]], top=settings.candidates):
        start, end = trim(text, span.start + lo, span.end + lo)
        if begin <= start < end <= finish:
            return start, end
    return None
