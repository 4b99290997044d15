"""A grounded LLM answer: the prompt from the extractive reading, the model's text, its claims verified.

The extractive answer is computed first and stays the fallback: any failure of the model (down, slow,
malformed output) or a refusal gives it back with the reason (`engine_note`). An answer whose claims
are all unsupported becomes an abstention; where it disagrees with the extractive reader's `fact`, the
response says so and its confidence is lowered.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

from index.normalization import compact, mostly_latin, normalize
from retrieval.answer.render import ABSTAIN_MESSAGE, ABSTAIN_MESSAGE_EN
from retrieval.generation.base import Generation, GenerationError, Generator
from retrieval.generation.prompt import Source, build_prompt, is_refusal, sources
from retrieval.generation.settings import GenerationSettings
from retrieval.generation.verification import SENTENCE, Embed, Verification, lexical_overlap, verify
from retrieval.pipeline import Answer

log = logging.getLogger(__name__)

_DIGITS = re.compile(r"\d+")


@dataclass
class Plan:
    """What is sent to the model for one question, and what the outcome is built from."""
    question: str
    extractive: Answer
    numbered: list[Source]
    structured: bool

    def prompt(self, settings: GenerationSettings):
        return build_prompt(self.question, self.numbered, settings.prompt, self.structured)


@dataclass
class Outcome:
    """The answer to give: `fields` update the extractive answer's dict (Answer.to_dict)."""
    engine: str  # "llm" | "extractive"
    note: str | None  # why the extractive answer was given, or what the reader should know of the LLM one
    fields: dict = field(default_factory=dict)
    unsupported: list[dict] = field(default_factory=list)
    claims: int = 0  # claims the model made (kept + unsupported)
    generation: Generation | None = None
    reason: str | None = None  # stable code of a fallback (llm_unavailable, llm_timeout, llm_refused...)

    def apply(self, extractive: dict) -> dict:
        return {**extractive, **self.fields, "engine": self.engine, "engine_note": self.note,
                "unsupported": self.unsupported}


def fallback(reason: str, message: str) -> Outcome:
    log.warning("LLM answer not used (%s): %s", reason, message)
    return Outcome("extractive", f"{reason}: {message}", reason=reason)


def _quote(paragraph: str, claims: list[str]) -> str:
    """The paragraph's sentence that shares the most with the claims citing it."""
    sentences = [s.strip() for s in SENTENCE.findall(paragraph) if s.strip()] or [paragraph]
    return max(sentences, key=lambda s: sum(lexical_overlap(c, s) for c in claims))


def _agrees(fact: str, answer: str) -> bool:
    """The extractive fact stands in the LLM answer (word for word, or, across languages, its figures)."""
    if compact(fact) in compact(answer):
        return True
    digits = _DIGITS.findall(normalize(fact))
    return bool(digits) and set(digits) <= set(_DIGITS.findall(normalize(answer)))


class GroundedAnswerer:
    def __init__(self, generator: Generator, settings: GenerationSettings | None = None) -> None:
        self.generator = generator
        self.settings = settings or GenerationSettings()

    def plan(self, question: str, extractive: Answer, title: Callable[[str], str]) -> Plan | Outcome:
        """The prompt's paragraphs, or the Outcome that says why the model is not asked."""
        if extractive.abstained and not self.settings.ask_when_extractive_abstains:
            return Outcome("extractive", "llm_skipped: the extractive reader abstained", reason="llm_skipped")
        if not extractive.hits:
            return Outcome("extractive", "llm_skipped: no paragraph was found", reason="llm_skipped")
        quotes = {c.paragraph_id: c.quote for c in extractive.citations}
        numbered = sources(extractive.hits, [title(h.paragraph.doc_id) for h in extractive.hits], quotes,
                           self.settings.prompt)
        structured = bool(getattr(self.generator, "structured", False))
        return Plan(question, extractive, numbered, structured)

    def answer(self, plan: Plan, embed: Embed) -> Outcome:
        try:
            generation = self.generator.generate(plan.prompt(self.settings))
        except GenerationError as exc:
            return fallback(exc.reason, exc.message)
        return self.finish(plan, generation, embed)

    def stream(self, plan: Plan, embed: Embed) -> Iterator[str | Outcome]:
        """The model's text as it comes (a refusal token is held back, never shown), then the Outcome."""
        token = self.settings.prompt.refusal_token.lower()
        held, shown = "", False
        generation = None
        try:
            for piece in self.generator.stream(plan.prompt(self.settings)):
                if isinstance(piece, Generation):
                    generation = piece
                    continue
                if shown:
                    yield piece
                    continue
                held += piece
                if not token.startswith(held.strip().lower()):
                    shown = True
                    yield held
        except GenerationError as exc:
            yield fallback(exc.reason, exc.message + (" (after part of the answer was streamed)" if shown else ""))
            return
        if generation is None:
            yield fallback("llm_malformed", "the stream ended without an answer")
            return
        yield self.finish(plan, generation, embed)

    def finish(self, plan: Plan, generation: Generation, embed: Embed) -> Outcome:
        settings = self.settings
        english = mostly_latin(plan.question)
        if is_refusal(generation.text, settings.prompt):
            outcome = fallback("llm_refused", "the language model found no answer in the paragraphs")
            outcome.generation = generation
            return outcome
        checked = verify(generation.text, plan.numbered, embed, settings.verification, plan.question)
        unsupported = [asdict(u) for u in checked.unsupported]
        claims = len(checked.kept) + len(checked.unsupported)
        extractive = plan.extractive
        if not checked.kept:
            message = ABSTAIN_MESSAGE_EN if english else ABSTAIN_MESSAGE
            closest = extractive.closest or [s.record() for s in plan.numbered]
            log.info("LLM answer has no supported claim; abstaining (%d unsupported)", len(unsupported))
            return Outcome("llm", "llm_unsupported: no claim of the model's answer is supported by the paragraph "
                                  "it cites", {"answer": message, "abstained": True, "citations": [],
                                               "fact": None, "fact_citation": None, "closest": closest},
                           unsupported, claims, generation)
        return self._answered(plan, checked, unsupported, claims, generation)

    def _answered(self, plan: Plan, checked: Verification, unsupported: list[dict], claims: int,
                  generation: Generation) -> Outcome:
        extractive = plan.extractive
        text = checked.answer
        by_marker = {s.marker: s for s in plan.numbered}
        citations = []
        for marker in checked.cited:
            source = by_marker[marker]
            p = source.paragraph
            said = [k.claim.text for k in checked.kept if marker in k.markers]
            citations.append({"marker": marker, "doc_id": p.doc_id, "title": source.title,
                              "paragraph_id": p.paragraph_id, "paragraph_number": p.paragraph_number,
                              "section": p.section, "text": p.text, "quote": _quote(p.text, said),
                              "start": p.start, "end": p.end, "score": round(source.score, 4),
                              "view_token": None})
        confidence = extractive.confidence
        notes = []
        fact, fact_citation = None, None
        if extractive.abstained:
            notes.append(f"the extractive reader abstained (confidence {confidence:.2f}); this answer rests on its "
                         "verified citations alone")
        elif extractive.fact and not _agrees(extractive.fact, text):
            confidence *= self.settings.verification.disagreement_factor
            notes.append(f"the extractive reader's answer 「{extractive.fact}」 is not in this answer: "
                         "confidence lowered")
        elif extractive.fact:
            fact = extractive.fact  # the same fact, said by both
            cited_at = {c["paragraph_id"]: c["marker"] for c in citations}
            fc = extractive.fact_citation
            if fc is not None and fc.paragraph_id in cited_at:
                fact_citation = {**asdict(fc), "marker": cited_at[fc.paragraph_id]}
        if unsupported:
            notes.append(f"{len(unsupported)} unsupported claim(s) dropped")
        if any(k.remarked for k in checked.kept):
            notes.append("some claims were re-marked to the paragraph that supports them")
        return Outcome("llm", "; ".join(notes) or None,
                       {"answer": text, "abstained": False, "citations": citations, "fact": fact,
                        "fact_citation": fact_citation, "confidence": round(confidence, 4), "closest": []},
                       unsupported, claims, generation)
