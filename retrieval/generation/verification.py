"""Citation verification: every claim of a generated answer is checked against the paragraph it cites.

A claim is a sentence of the answer, or the part of one before a citation marker. It is kept when the
paragraph its marker names supports it (VerificationSettings: every figure, date, symbol and name of the
claim stands in the paragraph, and the wording is close, by character bigrams or by embedding cosine).
A claim its own paragraph does not support is re-marked to another numbered paragraph that does, else
dropped and listed as unsupported with the reason, so that a reviewer sees what the model said and why
it is not shown.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from index.normalization import compact, mostly_latin, normalize
from index.tokenization import named_entities, protected_terms
from retrieval.answer.patterns import TITLE_SPAN
from retrieval.generation.prompt import Source
from retrieval.generation.settings import VerificationSettings

MARKER = re.compile(r"\[(\d+)\]")
_TOKEN = re.compile(r"\[\d+\]|[。！？!?；;\n]|\s|.", re.S)
_SENTENCE_END = set("。！？!?；;\n")
_LEADING_PUNCT = "，,、：:；;。 \n"
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_LATIN_WORD = re.compile(r"[a-z][a-z0-9\-']+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_NAME = re.compile(r"[A-Za-z]{2,}")
SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;\n]*")
_DATE_PART = re.compile(r"\d{4}年|\d{1,2}月\d{1,2}日|\d{1,2}月")

Embed = Callable[[Sequence[str]], np.ndarray]  # texts -> one unit vector per row


@dataclass
class Claim:
    text: str  # as the model wrote it, markers removed (punctuation kept, so kept claims join back)
    markers: list[int] = field(default_factory=list)  # as the model wrote them

    def render(self, markers: Sequence[int]) -> str:
        body = self.text.rstrip()
        end = ""
        while body and body[-1] in _SENTENCE_END:
            end = body[-1] + end
            body = body[:-1]
        return body + "".join(f"[{m}]" for m in markers) + end


@dataclass
class Support:
    supported: bool
    lexical: float
    cosine: float
    missing: list[str]  # figures, dates, symbols, names of the claim the paragraph does not hold
    context: float | None = None  # set when a bare fact stands in the paragraph, but not where the question is


@dataclass
class KeptClaim:
    claim: Claim
    markers: list[int]  # the paragraphs that support it
    remarked: bool  # its markers are not those the model wrote


@dataclass
class Unsupported:
    claim: str
    cited: list[int]
    reason: str


@dataclass
class Verification:
    kept: list[KeptClaim]
    unsupported: list[Unsupported]

    @property
    def answer(self) -> str:
        """The kept claims joined back with their (possibly new) markers."""
        text = "".join(k.claim.render(k.markers) for k in self.kept)
        return text.lstrip(_LEADING_PUNCT).strip()

    @property
    def cited(self) -> list[int]:
        return list(dict.fromkeys(m for k in self.kept for m in k.markers))


def _content_len(text: str) -> int:
    return sum(1 for ch in text if ch.isalnum())


def split_claims(answer: str, min_chars: int = 2) -> list[Claim]:
    """Claims of an answer, in order: its sentences, each with the markers inside it or right after it
    ("A[1]，B[2]。" -> "A，B。" [1, 2]; "A。[1]" -> "A。" [1]; "根据资料[1]，A。" -> "根据资料，A。" [1]: a marker
    names the source of its sentence, wherever the model put it). Text too short to state anything joins
    the claim before it."""
    claims: list[Claim] = []
    text, markers, closed = "", [], False

    def flush() -> None:
        nonlocal text, markers, closed
        if _content_len(text) >= min_chars or (text.strip() and not claims):
            claims.append(Claim(text, markers))
        elif claims:
            claims[-1].text += text
            claims[-1].markers.extend(m for m in markers if m not in claims[-1].markers)
        text, markers, closed = "", [], False

    for token in _TOKEN.findall(answer):
        if m := MARKER.fullmatch(token):
            if int(m.group(1)) not in markers:
                markers.append(int(m.group(1)))
        elif token in _SENTENCE_END:
            text += token
            closed = True
        elif token.isspace():
            text += token
        else:
            if closed:
                flush()
            text += token
    flush()
    return [c for c in claims if c.text.strip() or c.markers]


def required_terms(claim: str) -> list[str]:
    """What a supporting paragraph must hold word for word (compact, normalised): every figure, date,
    document symbol, resolution and URL, every quoted title, and, in a claim written in Chinese, every
    name jieba tags and every Latin-script word (an English sentence's words need not be in a Chinese
    paragraph: the embedding judges it)."""
    text = normalize(claim)
    terms = [d.replace(",", "") for d in _DIGITS.findall(text)]
    for term in protected_terms(claim):
        # a date is checked by its parts: "2018年6月6日" is stated by a schedule row "6月6日" whose document's
        # title names 2018
        terms += _DATE_PART.findall(term) if _DATE_PART.match(term) else [compact(term)]
    terms += [compact(t.strip("《》“”「」『』")) for t in TITLE_SPAN.findall(claim)]
    if not mostly_latin(claim):
        terms += list(named_entities(claim))
        terms += [w.lower() for w in _LATIN_NAME.findall(claim)]
    return [t for t in dict.fromkeys(terms) if t]


def _holds(paragraph: str, term: str) -> bool:
    if term.isdigit() or _DIGITS.fullmatch(term):
        # a figure matches a whole figure of the paragraph: "6" is not in "16"
        return term in {d.replace(",", "") for d in _DIGITS.findall(normalize(paragraph))}
    return term in compact(paragraph)


def _units(text: str) -> list[str]:
    """A text's comparable units: CJK character bigrams (a lone character counts), Latin words, figures."""
    plain = MARKER.sub("", text)
    cjk = "".join(ch if _CJK.match(ch) else " " for ch in compact(plain))
    units = [run[i:i + 2] for run in cjk.split() for i in range(max(1, len(run) - 1))]
    words = normalize(plain)
    return units + _LATIN_WORD.findall(words) + _DIGITS.findall(words)


def lexical_overlap(claim: str, paragraph: str) -> float:
    """Share of the claim's units found in the paragraph."""
    units = _units(claim)
    if not units:
        return 0.0
    target = compact(paragraph)
    return sum(1 for u in units if u in target) / len(units)


def check(claim: str, evidence: str, paragraph: str, cosine: float, settings: VerificationSettings) -> Support:
    """`evidence`: what may state the claim's figures and names (the paragraph with its document's title,
    section and context: "6月6日" of a schedule row is 2018's by its document's title); `paragraph`: the text
    its wording is compared with. The question does not count as evidence: "马克龙说了什么？" must not let
    a claim put words in 马克龙's mouth."""
    missing = [t for t in required_terms(claim) if not _holds(evidence, t)]
    lexical = lexical_overlap(claim, paragraph)
    if mostly_latin(claim) != mostly_latin(paragraph):
        close = cosine >= settings.cross_lingual_cosine_min
    else:
        close = lexical >= settings.lexical_min and cosine >= settings.cosine_min
    return Support(not missing and close, round(lexical, 3), round(cosine, 3), missing)


def context_overlap(claim: str, paragraph: str, question: str, lexical_min: float) -> float:
    """For a bare fact ("129"): the share of the question's units in the paragraph's sentence that states
    it (the best such sentence: it holds the claim word for word, or its figures and names, or, with none,
    `lexical_min` of its units). A figure the paragraph holds in a sentence about something else (129
    member states, not 129 staff) is no answer to the question."""
    terms = required_terms(claim)
    plain = compact(MARKER.sub("", claim)).rstrip("。！？!?；;")

    def states(sentence: str) -> bool:
        if plain and plain in compact(sentence):
            return True
        if terms:
            return all(_holds(sentence, t) for t in terms)
        return lexical_overlap(claim, sentence) >= lexical_min

    stating = [sentence for sentence in SENTENCE.findall(paragraph) if states(sentence)]
    return max((lexical_overlap(question, sentence) for sentence in stating), default=0.0)


def restates(claim: str, question: str) -> bool:
    """Every unit of the claim is the question's own ("主席[1]" for "会议的主席是谁？"): it answers nothing."""
    units = _units(claim)
    asked = compact(question)
    return bool(question) and all(u in asked for u in units)


def _reason(marker: int, support: Support | None) -> str:
    if support is None:
        return f"[{marker}] names no paragraph of the prompt"
    if support.missing:
        return f"[{marker}] does not state {', '.join(support.missing)}"
    if support.context is not None:
        return f"[{marker}] states it, but not about what the question asks (context {support.context:.2f})"
    return f"[{marker}] does not say this (lexical {support.lexical:.2f}, cosine {support.cosine:.2f})"


def _evidence(source: Source) -> str:
    p = source.paragraph
    return "\n".join(filter(None, [source.title, p.section, p.context, p.text]))


def verify(answer: str, numbered: Sequence[Source], embed: Embed, settings: VerificationSettings,
           question: str = "") -> Verification:
    """Check every claim of `answer` against the numbered paragraphs the model was given. A claim is kept
    with the markers whose paragraph supports it alone, else with all its markers when their paragraphs
    support it together (a sentence joining two), else re-marked to the best other paragraph that
    supports it, else dropped."""
    claims = split_claims(answer, settings.claim_min_chars)
    by_marker = {s.marker: s for s in numbered}
    if not claims or not numbered:
        return Verification([], [Unsupported(MARKER.sub("", c.text).strip(), list(c.markers),
                                             "no paragraph to check it against") for c in claims])
    texts = [MARKER.sub("", c.text).strip() for c in claims]
    # a bare fact ("180") embeds as noise: it is compared in the question's words ("...多少个法域？ 180")
    embedded = [f"{question} {t}" if question and len(t) < settings.short_claim_chars else t for t in texts]
    vectors = embed(embedded + [s.paragraph.text for s in numbered])
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    cosines = vectors[:len(claims)] @ vectors[len(claims):].T
    column = {s.marker: i for i, s in enumerate(numbered)}

    kept: list[KeptClaim] = []
    unsupported: list[Unsupported] = []
    for row, (claim, text) in enumerate(zip(claims, texts)):
        if restates(text, question):
            unsupported.append(Unsupported(text, list(claim.markers), "restates the question, answers nothing"))
            continue
        checks = {s.marker: check(text, _evidence(s), s.paragraph.text, float(cosines[row, column[s.marker]]),
                                  settings) for s in numbered}
        if question and len(text) < settings.short_claim_chars:
            for m, support in checks.items():
                if support.supported and (overlap := context_overlap(text, by_marker[m].paragraph.text, question,
                                                                       settings.lexical_min)) \
                        < settings.short_claim_context_min:
                    support.supported = False
                    support.context = round(overlap, 3)
        cited = [m for m in claim.markers if m in by_marker]
        own = [m for m in cited if checks[m].supported]
        if own:
            kept.append(KeptClaim(claim, own, remarked=len(own) != len(claim.markers)))
            continue
        if len(cited) > 1:
            together = check(text, "\n".join(_evidence(by_marker[m]) for m in cited),
                             "\n".join(by_marker[m].paragraph.text for m in cited),
                             max(checks[m].cosine for m in cited), settings)
            if together.supported:
                kept.append(KeptClaim(claim, cited, remarked=len(cited) != len(claim.markers)))
                continue
        others = sorted((m for m in checks if m not in cited and checks[m].supported),
                        key=lambda m: -(checks[m].lexical + checks[m].cosine))
        if others:
            kept.append(KeptClaim(claim, others[:1], remarked=True))
            continue
        reasons = [_reason(m, checks.get(m)) for m in claim.markers] or ["no citation marker, and no paragraph "
                                                                         "of the prompt supports it"]
        unsupported.append(Unsupported(text, list(claim.markers), "; ".join(reasons)))
    return Verification(kept, unsupported)
