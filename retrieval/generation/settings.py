"""Every number that decides how an LLM answer is asked for and checked (one place, documented)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PromptSettings:
    # Paragraphs put in front of the model, best-ranked first. Each costs prompt tokens, and on a CPU the
    # prompt is most of the time (about 30 tokens/s on 2 shared cores): three cover recall@3 ≈ 0.98 here.
    paragraphs: int = 3
    # A paragraph longer than this is cut to a window around the extractive quote (else its head).
    paragraph_max_chars: int = 360
    # What the model must answer, alone, when the paragraphs do not hold the answer.
    refusal_token: str = "NO_ANSWER"


@dataclass(frozen=True)
class VerificationSettings:
    """A claim (a sentence of the answer) is supported by a paragraph when every figure, date, symbol and
    name it states stands in the paragraph (or in the question, which the claim may repeat), it says
    something the question does not, and its wording is close to the paragraph's:
    - written in the paragraph's script: its character bigrams found in the paragraph reach `lexical_min`
      and its embedding's cosine with the paragraph reaches `cosine_min`;
    - in another script (an English answer over a Chinese paragraph, where no bigram can match): the
      cosine reaches `cross_lingual_cosine_min`.
    multilingual-e5-small's cosines sit in a narrow band (measured on the sample notes: a right Chinese
    paraphrase 0.92-0.94, an unrelated Chinese sentence 0.85-0.86, a right English one 0.84-0.86), so the
    cosine alone separates little: it is a floor against a lexical coincidence, and the figures and names
    are the check that catches a wrong fact."""
    lexical_min: float = 0.5  # share of the claim's (compact, normalised) character bigrams in the paragraph
    cosine_min: float = 0.80
    cross_lingual_cosine_min: float = 0.84
    claim_min_chars: int = 2  # shorter fragments (a stray "。") join the claim before them
    short_claim_chars: int = 16  # a shorter claim (a bare fact) is embedded after the question it answers,
    # and the paragraph's sentence stating it must hold this share of the question's bigrams
    short_claim_context_min: float = 0.25  # measured: "3" for 多少个代表团 0.19, a right enumeration 0.27
    # confidence of an answer whose facts disagree with the extractive reader's is multiplied by this
    disagreement_factor: float = 0.5


@dataclass(frozen=True)
class GenerationSettings:
    prompt: PromptSettings = PromptSettings()
    verification: VerificationSettings = VerificationSettings()
    # Also ask the model when the extractive reader abstained (a claim that passes verification is then the
    # answer). Off: on 40 sample-dev questions (2026-12-04) it answered 4 of the 10 unanswerable ones the
    # reader had abstained on, wrongly (bare figures such as "3[3]" pass verification when the paragraph holds
    # them), and rescued no answerable one; the calibrated reader's abstention stands.
    ask_when_extractive_abstains: bool = False
