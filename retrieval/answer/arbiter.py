"""The arbiter: the answer model's reading and the span reader's, weighed by two fitted logistic regressions.

The answer model (LightGBM over the rule signals) picks the passage, a span and a calibrated confidence.
The span reader (a fine-tuned encoder) reads the part of the paragraph the answer shows, with the text
around it, and proposes its own span with a probability and a "no answer here" probability. Neither is
right everywhere: the rules name typed facts well (a date with its range, a document symbol), the reader
names the free-text answers the rules cut badly, and its "no answer here" tells a near miss apart. So:

    answer model's answer + reader's proposals --features--> which fact: P(the reader's span is the better
      one) --> the answer (its unit shown, when the reader's span lies outside the shown part)
      --> how sure: P(the answer is right) --> abstain below the fitted threshold

Both regressions, their standardisation and the threshold are fitted by `notesqa train arbiter`
(evaluation/arbiter_training.py) on questions neither model was trained on, and live in one JSON file that
names the answer model and span reader it was fitted with: it refuses to run beside others.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.normalization import compact
from retrieval.answer.candidates import SPAN_KINDS, Unit
from retrieval.answer.fact import FactSettings, Proposal, propose
from retrieval.answer.render import RenderedAnswer, abstention, compose, unit_at
from retrieval.answer.span_reader import SpanReader

DEFAULT_ARBITER = Path(__file__).parent.parent / "resources" / "arbiter.json"
FORMAT_VERSION = 1
# span kinds the answer model finds by their form, not by position: a date, a count, a name, a title...
_FORM_KINDS = frozenset(SPAN_KINDS) - {"unit", "ngram", "gap", "clause"}

ARBITER_FEATURES = (
    "model_logit",  # the answer model's calibrated confidence, as a logit
    "model_has_fact",  # the answer model named a fact (its best span is not the whole unit)
    "model_form_fact",  # ... one found by its form (date, count, name, title, symbol)
    "question_typed",  # the question asks for a typed fact (a date, a number, a place...)
    "reader_probability",  # the reader's best span
    "reader_no_span",  # its window's "no answer here"
    "reader_inside",  # the reader's best span lies in the shown part
    "reader_inside_probability",  # the reader's best span inside the shown part (0: none)
    "agreement",  # character overlap (F1) of the model's fact and the reader's best span
    "reader_chars",  # log length of the reader's best span
    "model_fact_chars",  # log length of the model's fact (0: none)
)
CONFIDENCE_FEATURES = (*ARBITER_FEATURES, "reader_fact")  # reader_fact: the answer given is the reader's


class ArbiterError(RuntimeError):
    """An arbiter file that is missing, damaged, or fitted beside another answer model or span reader."""


@dataclass(frozen=True)
class ModelAnswer:
    """What the answer model answered, as the arbiter sees it."""
    confidence: float
    fact: str | None
    span_kind: str
    qtype: str | None


_PROBABILITY_FLOOR = 1e-4  # keeps the logit of a calibrated 0 or 1 finite


def _logit(p: float) -> float:
    p = min(max(p, _PROBABILITY_FLOOR), 1 - _PROBABILITY_FLOOR)
    return math.log(p / (1 - p))


def overlap(a: str, b: str) -> float:
    """Character F1 of two texts (compact form): how far two spans say the same."""
    x, y = Counter(compact(a)), Counter(compact(b))
    common = sum((x & y).values())
    if not common:
        return 0.0
    precision, recall = common / sum(x.values()), common / sum(y.values())
    return 2 * precision * recall / (precision + recall)


def features(model: ModelAnswer, text: str, proposals: list[Proposal]) -> np.ndarray:
    """One row of ARBITER_FEATURES; `text` is the paragraph the proposals' offsets point into."""
    best = proposals[0] if proposals else None
    inside = next((p for p in proposals if p.inside), None)
    reader_span = text[best.start:best.end] if best else ""
    return np.array([
        _logit(model.confidence),
        float(model.fact is not None),
        float(model.fact is not None and model.span_kind in _FORM_KINDS),
        float(model.qtype is not None),
        best.probability if best else 0.0,
        best.no_span if best else 1.0,
        float(bool(best and best.inside)),
        inside.probability if inside else 0.0,
        overlap(model.fact, reader_span) if model.fact and best else 0.0,
        math.log1p(len(reader_span)),
        math.log1p(len(model.fact or "")),
    ], dtype=np.float64)


@dataclass
class Logistic:
    """A fitted logistic regression over standardised features."""
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def probability(self, rows: np.ndarray) -> np.ndarray:
        z = ((np.atleast_2d(rows) - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: dict) -> Logistic:
        return cls(*(np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")),
                   float(data["intercept"]))


@dataclass
class Arbiter:
    fact_choice: Logistic  # P(the reader's span is the better fact), over ARBITER_FEATURES
    confidence: Logistic  # P(the answer is right), over CONFIDENCE_FEATURES
    prefer_reader_above: float  # the reader's fact is taken where fact_choice says more than this
    abstain_below: float
    fitted_with: dict  # sha256 of the answer model and span reader files it was fitted beside
    report: dict
    reading: FactSettings = field(default_factory=FactSettings)  # how the span reader read what it was fitted on

    def decide(self, row: np.ndarray, reader_available: bool) -> tuple[bool, float]:
        """(take the reader's fact, calibrated probability that the answer is right)."""
        take = reader_available and float(self.fact_choice.probability(row)[0]) > self.prefer_reader_above
        return take, float(self.confidence.probability(np.append(row, float(take)))[0])

    def to_dict(self) -> dict:
        return {"format": FORMAT_VERSION,
                "features": {"fact_choice": list(ARBITER_FEATURES), "confidence": list(CONFIDENCE_FEATURES)},
                "fact_choice": self.fact_choice.to_dict(), "confidence": self.confidence.to_dict(),
                "prefer_reader_above": self.prefer_reader_above, "abstain_below": self.abstain_below,
                "fitted_with": self.fitted_with, "reading": asdict(self.reading), "report": self.report}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                              encoding="utf-8")


def file_digest(path: str | Path) -> str:
    stat = Path(path).stat()
    return _digest(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)  # by modification time and size: a rewritten file is hashed again
def _digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_arbiter(path: str | Path, answer_model: str | Path, span_reader: str | Path) -> Arbiter:
    """The arbiter file, checked against the answer model and span reader files it must run beside."""
    try:
        arbiter = _load(str(path), Path(path).stat().st_mtime_ns)
        actual = {"answer_model": file_digest(answer_model), "span_reader": file_digest(span_reader)}
    except OSError as exc:
        raise ArbiterError(f"cannot read the arbiter {path} or the models it runs beside: {exc} "
                           "(run `notesqa train arbiter`, or set NOTESQA_ARBITER=none)") from exc
    if arbiter.fitted_with != actual:
        stale = [name for name in actual if arbiter.fitted_with.get(name) != actual[name]]
        raise ArbiterError(f"the arbiter {path} was fitted beside another {' and '.join(stale)} than the one "
                           "configured: refit it with `notesqa train arbiter` (after `notesqa train answers`), "
                           "or set NOTESQA_ARBITER=none")
    return arbiter


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> Arbiter:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArbiterError(f"cannot read the arbiter {path}: {exc} (run `notesqa train arbiter`)") from exc
    expected = {"fact_choice": list(ARBITER_FEATURES), "confidence": list(CONFIDENCE_FEATURES)}
    if data.get("format") != FORMAT_VERSION or data.get("features") != expected:
        raise ArbiterError(f"the arbiter {path} was fitted on other features than this code computes: "
                           "refit it with `notesqa train arbiter`")
    try:
        return Arbiter(Logistic.from_dict(data["fact_choice"]), Logistic.from_dict(data["confidence"]),
                       float(data["prefer_reader_above"]), float(data["abstain_below"]),
                       dict(data["fitted_with"]), data.get("report", {}), FactSettings(**data["reading"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ArbiterError(f"the arbiter {path} is damaged: {exc}") from exc


def reader_pick(text: str, proposals: list[Proposal], unit_max_chars: int) -> tuple[Proposal, Unit] | None:
    """The reader's candidate fact and the unit of `text` that holds it: its best span, where it lies within
    one unit (the answer shows units)."""
    if not proposals:
        return None
    unit = unit_at(text, proposals[0].start, proposals[0].end, unit_max_chars)
    return None if unit is None else (proposals[0], unit)


def with_reader_fact(rendered: RenderedAnswer, pick: Proposal, unit: Unit, answer_max_chars: int,
                     unit_max_chars: int) -> RenderedAnswer:
    """The answer with the reader's span as its fact: the same shown part where the span lies in it, else
    `unit`, the one that holds the span."""
    hit = rendered.claims[0].hit
    text = hit.paragraph.text
    if pick.inside:
        return replace(rendered, fact=text[pick.start:pick.end], fact_offsets=(pick.start, pick.end))
    return compose(hit, unit, (pick.start, pick.end), True, rendered.confidence, answer_max_chars, unit_max_chars)


def arbitrate(arbiter: Arbiter, reader: SpanReader, question: str, rendered: RenderedAnswer, model: ModelAnswer,
              english: bool, answer_max_chars: int, unit_max_chars: int) -> RenderedAnswer:
    """The answer model's answer (rendered whatever its confidence) -> the final answer or an abstention."""
    text = rendered.claims[0].hit.paragraph.text
    proposals = propose(reader, question, text, rendered.shown_offsets, arbiter.reading)
    row = features(model, text, proposals)
    pick = reader_pick(text, proposals, unit_max_chars)
    take, confidence = arbiter.decide(row, pick is not None)
    if confidence < arbiter.abstain_below:
        return abstention(english, confidence)
    answer = with_reader_fact(rendered, *pick, answer_max_chars, unit_max_chars) if take else rendered
    return replace(answer, confidence=confidence)
