"""Rendering: a reading becomes the cited answer, its fact and the fact's place in the source."""
from __future__ import annotations

from dataclasses import dataclass

from retrieval.answer.candidates import Unit, split_units
from retrieval.answer.reader import Reading
from retrieval.search import SearchHit

ABSTAIN_MESSAGE = "资料中没有找到相关内容。"
ABSTAIN_MESSAGE_EN = "The notes do not contain an answer to this question."
ELLIPSIS = "…"


@dataclass
class Claim:
    hit: SearchHit
    quote: str
    marker: int


@dataclass
class RenderedAnswer:
    answer: str
    abstained: bool
    claims: list[Claim]
    fact: str | None
    fact_offsets: tuple[int, int] | None  # in the cited paragraph's text
    confidence: float
    shown_offsets: tuple[int, int] | None = None  # the part of the cited paragraph the answer shows


def abstention(english: bool, confidence: float = 0.0) -> RenderedAnswer:
    return RenderedAnswer(ABSTAIN_MESSAGE_EN if english else ABSTAIN_MESSAGE, True, [], None, None, confidence)


def _window(text: str, start: int, end: int, budget: int) -> tuple[str, int, int]:
    """At most `budget` characters of `text` around [start, end), cut ends marked; -> (text, its start and
    end in `text`)."""
    if len(text) <= budget:
        return text, 0, len(text)
    spare = max(budget - (end - start), 0)
    left = max(0, min(start - spare // 2, len(text) - budget))
    right = min(len(text), max(end, left + budget))
    piece = text[left:right]
    return (ELLIPSIS if left else "") + piece + (ELLIPSIS if right < len(text) else ""), left, right


def _passage(text: str, unit: Unit, unit_max_chars: int, budget: int) -> tuple[int, int]:
    """The unit grown by whole neighbouring units of its paragraph while they fit in `budget`, the next one
    tried before the previous one (a fact is more often stated after the words that name it) ->
    (start, end) in the paragraph text. A reader checking the answer then sees the sentence around the fact,
    and a fact a clause away from the best-scored one is still in front of them."""
    units = split_units(text, unit_max_chars)
    here = next((i for i, u in enumerate(units) if u.start == unit.start), None)
    start, end = unit.start, unit.start + len(unit.text)
    if here is None:
        return start, end
    before, after = here - 1, here + 1
    grown = True
    while grown:
        grown = False
        if after < len(units) and units[after].start + len(units[after].text) - start <= budget:
            end = units[after].start + len(units[after].text)
            after += 1
            grown = True
        if before >= 0 and end - units[before].start <= budget:
            start = units[before].start
            before -= 1
            grown = True
    return start, end


def render(reading: Reading, english: bool, abstain_below: float, answer_max_chars: int,
           unit_max_chars: int) -> RenderedAnswer:
    """The unit that holds the best span, with the neighbouring units that fit in `answer_max_chars`, marked
    [1] against its paragraph; the span is the fact unless it is the whole unit (a reason, a list: the
    clause is the answer)."""
    if reading.best is None or reading.confidence < abstain_below:
        return abstention(english, reading.confidence)
    info, span = reading.unit, reading.span
    hit = reading.hits[info.paragraph_index]
    unit = info.unit.text
    fact_start, fact_end = info.unit.start + span.start, info.unit.start + span.end
    if len(unit) > answer_max_chars:
        shown, left, right = _window(unit, span.start, span.end, answer_max_chars)
        quote = unit
        start, end = info.unit.start + left, info.unit.start + right
    else:
        start, end = _passage(hit.paragraph.text, info.unit, unit_max_chars, answer_max_chars)
        shown = quote = hit.paragraph.text[start:end].strip()
    fact = None if span.kind == "unit" else unit[span.start:span.end]
    fact_offsets = None if fact is None else (fact_start, fact_end)
    claim = Claim(hit, quote, 1)
    return RenderedAnswer(f"{shown}[1]", False, [claim], fact, fact_offsets, reading.confidence, (start, end))
