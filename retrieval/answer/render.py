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


def unit_at(text: str, start: int, end: int, unit_max_chars: int) -> Unit | None:
    """The unit of the paragraph `text` that holds [start, end), or None when the span crosses units."""
    return next((u for u in split_units(text, unit_max_chars) if u.start <= start and end <= u.start + len(u.text)),
                None)


def shown_part(text: str, unit: Unit, focus: tuple[int, int], answer_max_chars: int,
               unit_max_chars: int) -> tuple[str, str, int, int]:
    """What the answer shows of the paragraph `text` around `focus` (offsets in `text`, inside `unit`): the
    unit with the neighbouring units that fit in `answer_max_chars`, or a window of a longer unit ->
    (shown text, quote, start, end in `text`)."""
    if len(unit.text) > answer_max_chars:
        shown, left, right = _window(unit.text, focus[0] - unit.start, focus[1] - unit.start, answer_max_chars)
        return shown, unit.text, unit.start + left, unit.start + right
    start, end = _passage(text, unit, unit_max_chars, answer_max_chars)
    quote = text[start:end].strip()
    return quote, quote, start, end


def compose(hit: SearchHit, unit: Unit, focus: tuple[int, int], fact: bool, confidence: float,
            answer_max_chars: int, unit_max_chars: int) -> RenderedAnswer:
    """The answer around `focus` (offsets in the paragraph, inside `unit`), marked [1] against its paragraph;
    `fact`: the focus is the concise answer (else the unit itself is the answer: a reason, a list)."""
    text = hit.paragraph.text
    shown, quote, start, end = shown_part(text, unit, focus, answer_max_chars, unit_max_chars)
    return RenderedAnswer(f"{shown}[1]", False, [Claim(hit, quote, 1)], text[focus[0]:focus[1]] if fact else None,
                          focus if fact else None, confidence, (start, end))


def render(reading: Reading, english: bool, abstain_below: float, answer_max_chars: int,
           unit_max_chars: int) -> RenderedAnswer:
    """The unit that holds the best span, with the neighbouring units that fit in `answer_max_chars`, marked
    [1] against its paragraph; the span is the fact unless it is the whole unit (a reason, a list: the
    clause is the answer)."""
    if reading.best is None or reading.confidence < abstain_below:
        return abstention(english, reading.confidence)
    info, span = reading.unit, reading.span
    focus = (info.unit.start + span.start, info.unit.start + span.end)
    return compose(reading.hits[info.paragraph_index], info.unit, focus, span.kind != "unit", reading.confidence,
                   answer_max_chars, unit_max_chars)
