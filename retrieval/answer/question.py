"""The question, analysed once: every later step (search, candidates, features) reads this object."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from index.normalization import compact, mostly_latin, normalize
from index.tokenization import content_terms, event_ordinals, named_entities, protected_terms, segment
from retrieval.answer.patterns import (ASKED_MEASURE, ASKING_ENDS, BARE_YEAR, CJK_RUN, DATE_GRAIN, QUESTION_TAIL, WH_PHRASE, asked_kind,
                                       counted_noun, question_type, who_answers)
from retrieval.query_analysis import expand_query, rendered_share


@dataclass(frozen=True)
class AnalysedQuestion:
    asked: str  # as the caller wrote it
    analysed: str  # what search queries: the question plus Chinese equivalents of its English terms
    english: bool
    qtype: str | None  # date, number, money, place, ... (patterns.QUESTION_TYPES), None for "what"
    rendered: float  # share of an English question's content words the glossary could render

    @cached_property
    def normalized(self) -> str:
        return normalize(self.asked)

    @cached_property
    def compact(self) -> str:
        return compact(self.asked)

    @cached_property
    def matchable(self) -> str:
        """The question as the notes could word it: English terms only match through their equivalents."""
        if "\n" not in self.analysed:
            return self.asked
        equivalents = self.analysed.split("\n", 1)[1]
        if self.english:
            return equivalents + " " + " ".join(re.findall(r"\d[\d/.\-]*", self.asked))
        return f"{self.asked} {equivalents}"

    @cached_property
    def matchable_compact(self) -> str:
        return compact(self.matchable)

    @cached_property
    def terms(self) -> tuple[str, ...]:
        """Content words that an answering text should cover (compact form, single Latin letters dropped)."""
        return tuple(dict.fromkeys(compact(t) for t in content_terms(self.matchable) if len(t) > 1 or not t.isascii()))

    @cached_property
    def names(self) -> tuple[str, ...]:
        """People, places and organisations the question names (as asked: a glossary rendering is no sentence)."""
        return named_entities(self.asked)

    @cached_property
    def who(self) -> frozenset[str] | None:
        return who_answers(self.asked)

    @cached_property
    def counted_noun(self) -> str | None:
        return counted_noun(self.asked) if self.qtype == "number" else None

    @cached_property
    def asked_measure(self) -> str | None:
        m = ASKED_MEASURE.search(self.normalized)
        return m.group(1) if m else None

    @cached_property
    def date_grain(self) -> str | None:
        return next((unit for unit, asks in DATE_GRAIN if asks.search(self.asked)), None)

    @cached_property
    def asked_kind(self) -> str | None:
        return asked_kind(self.asked) if self.qtype in (None, "list") and not self.who else None

    @cached_property
    def protected(self) -> tuple[str, ...]:
        """Exact-lookup terms (symbols, resolutions, dates) that are more than a bare year."""
        return tuple(t for t in protected_terms(self.asked) if not BARE_YEAR.fullmatch(t))

    @cached_property
    def specifics(self) -> tuple[str, ...]:
        """Dates and ordinals ("2025年", "第十一届"): a document that never mentions one is about another."""
        specific = [compact(t) for t in protected_terms(self.asked) if re.search(r"\d", t)]
        return tuple(dict.fromkeys(specific + [compact(t) for t in event_ordinals(self.asked)]))

    @cached_property
    def wh_context(self) -> tuple[str, str] | None:
        """(the words before the question word, the words after it), compact: an answer stands between them."""
        text = QUESTION_TAIL.sub("", self.compact)
        m = WH_PHRASE.search(text)
        if m is None:
            return None
        right = text[m.end():]
        if m.group(0).endswith(ASKING_ENDS) and right:
            # "哪两个公司合作开发", "什么制度来实施": the noun asked about is not in the text beside the answer
            first = segment(right)[0]
            if len(first) > 1 and CJK_RUN.fullmatch(first):
                right = right[len(first):]
        return text[:m.start()], right


def analyse_question(question: str, known: Callable[[str], bool] = lambda word: False) -> AnalysedQuestion:
    """`known`: whether a Latin-script word occurs in the notes as it is (an acronym needs no rendering)."""
    english = mostly_latin(question)
    return AnalysedQuestion(asked=question, analysed=expand_query(question), english=english,
                            qtype=question_type(question),
                            rendered=rendered_share(question, known) if english else 1.0)
