"""`notesqa train arbiter`: fit the arbiter on questions neither the answer model nor the span reader saw.

Input: the held-out answers `notesqa train answers` wrote (`var/train/out_of_fold.jsonl`: what the answer
model fitted without each question's fold answered, and its calibrated confidence), kept to the questions
the shipped span reader never trained on: the sample dev sets and the articles of DRCD test and CMRC 2018
trial its training held out. Each is read by the span reader as serving reads it (retrieval/answer/fact.py),
as asked, with its evidence withheld and with its subject swapped (evaluation/training.py).

Two logistic regressions (scikit-learn), fitted with K group folds so every reported figure comes from a
fit that did not see the question:
  1. which fact: P(the reader's span has a higher character F1 against the gold answers than the answer
     model's fact), on the answerable questions where the two differ;
  2. how sure: P(the answer given after that choice is right), on every reading (near misses are wrong;
     a question's near misses weigh as much between them as its answerable reading,
     evaluation/reading_weights.py);
     the abstention threshold is the highest whose false abstention on held-out answerable questions stays
     within the stated rate.
Then both are refitted on everything and written, with the report and the digests of the answer model and
span reader files they were fitted beside, to one JSON file. CMRC 2018 dev is never read.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from evaluation.reader_training import ReaderTrainingSettings, held_out_question_ids
from evaluation.reading_weights import reading_weights
from evaluation.scoring import abstention_threshold, answer_correct, char_f1, exact_match, expected_calibration_error
from retrieval.answer.arbiter import (DEFAULT_ARBITER, Arbiter, Logistic, ModelAnswer, features, file_digest,
                                      reader_pick)
from retrieval.answer.fact import FactSettings, propose
from retrieval.answer.model import DEFAULT_MODEL, load_model
from retrieval.answer.reader import ReaderSettings
from retrieval.answer.render import shown_part
from retrieval.answer.span_reader import DEFAULT_READER, SpanReader, load_reader
from retrieval.pipeline import AskSettings

log = logging.getLogger(__name__)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
OUT_OF_FOLD = "out_of_fold.jsonl"  # in the training work folder: every held-out answer `notesqa train answers` gave


@dataclass(frozen=True)
class ArbiterTrainingSettings:
    folds: int = 5
    regularisation: float = 1.0  # C of both logistic regressions (inverse L2 strength)
    # the reader's fact is taken where the fitted P(it is the better one) exceeds this: 0.5 is the Bayes choice
    # between two answers
    prefer_reader_above: float = 0.5
    false_abstention_target: float = 0.05  # as `notesqa train answers` picks its threshold


@dataclass
class ArbiterExample:
    """One held-out answer of the answer model, read again by the span reader."""
    record: dict  # the out-of-fold record
    row: np.ndarray  # ARBITER_FEATURES
    reader_available: bool
    model_f1: float
    reader_f1: float
    model_em: float
    reader_em: float
    model_right: bool
    reader_right: bool  # the answer shown around the reader's span holds a gold answer
    filled_f1: float  # today's fact without an arbiter: the model's, else the reader's best in the shown part
    filled_em: float

    @property
    def asked(self) -> bool:
        return self.record["variant"] == "asked" and self.record["answerable"]

    def given(self, reader_fact: bool) -> tuple[bool, float, float]:
        """(right, fact F1, fact EM) of the answer given with the reader's fact or the model's."""
        if reader_fact:
            return self.reader_right, self.reader_f1, self.reader_em
        return self.model_right, self.model_f1, self.model_em


def unseen_records(records: list[dict], held_ids: set[str]) -> list[dict]:
    """The records of questions the span reader never trained on."""
    return [r for r in records if r["set"] == "sample_dev" or r["id"] in held_ids]


def read_example(record: dict, reader: SpanReader, fact_settings: FactSettings, answer_max_chars: int,
                 unit_max_chars: int) -> ArbiterExample:
    text, shown = record["paragraph"], tuple(record["shown"])
    proposals = propose(reader, record["question"], text, shown, fact_settings)
    model_fact = text[record["fact"][0]:record["fact"][1]] if record["fact"] else None
    model = ModelAnswer(record["confidence"], model_fact, record["span_kind"], record["qtype"])
    picked = reader_pick(text, proposals, unit_max_chars)
    answers, answerable = record["answers"], record["answerable"] and record["variant"] == "asked"
    reader_fact = text[picked[0].start:picked[0].end] if picked else ""
    reader_right = False
    if picked is not None and answerable:
        pick, unit = picked
        if pick.inside:
            reader_right = record["right"]
        else:
            shown_text = shown_part(text, unit, (pick.start, pick.end), answer_max_chars, unit_max_chars)[0]
            reader_right = answer_correct(shown_text, answers, record["list_items"])
    inside = next((p for p in proposals if p.inside), None)
    filled = model_fact if model_fact is not None else (text[inside.start:inside.end] if inside else "")
    score = (lambda span: (char_f1(span, answers), exact_match(span, answers))) if answerable else (lambda _: (0, 0))
    (model_f1, model_em), (reader_f1, reader_em), (filled_f1, filled_em) = map(score, (model_fact or "",
                                                                                      reader_fact, filled))
    return ArbiterExample(record, features(model, text, proposals), picked is not None, model_f1, reader_f1,
                          model_em, reader_em, bool(record["right"]), reader_right, filled_f1, filled_em)


def _fit_logistic(x: np.ndarray, y: np.ndarray, cfg: ArbiterTrainingSettings,
                  weight: np.ndarray | None = None) -> Logistic:
    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    fitted = LogisticRegression(C=cfg.regularisation, max_iter=1000).fit((x - scaler.mean_) / scale, y,
                                                                         sample_weight=weight)
    return Logistic(scaler.mean_.copy(), scale, fitted.coef_[0].copy(), float(fitted.intercept_[0]))


def _fact_data(examples: list[ArbiterExample]) -> tuple[np.ndarray, np.ndarray]:
    """Answerable readings where the reader proposes a fact and the two facts score differently."""
    chosen = [e for e in examples if e.asked and e.reader_available and e.reader_f1 != e.model_f1]
    return np.vstack([e.row for e in chosen]), np.array([e.reader_f1 > e.model_f1 for e in chosen], dtype=int)


def _fit(examples: list[ArbiterExample], cfg: ArbiterTrainingSettings) -> tuple[Logistic, Logistic]:
    fact_choice = _fit_logistic(*_fact_data(examples), cfg)
    take = _takes(fact_choice, examples, cfg)
    x = np.column_stack([np.vstack([e.row for e in examples]), take])
    y = np.array([e.given(t)[0] for e, t in zip(examples, take)], dtype=int)
    weight = reading_weights([(e.record["set"], e.record["id"]) for e in examples],
                             [e.record["variant"] for e in examples])
    return fact_choice, _fit_logistic(x, y, cfg, weight)


def _takes(fact_choice: Logistic, examples: list[ArbiterExample], cfg: ArbiterTrainingSettings) -> np.ndarray:
    p = fact_choice.probability(np.vstack([e.row for e in examples]))
    return np.array([e.reader_available for e in examples]) & (p > cfg.prefer_reader_above)


def cross_validate(examples: list[ArbiterExample], cfg: ArbiterTrainingSettings) -> tuple[np.ndarray, np.ndarray]:
    """Held-out (take the reader's fact, probability the answer is right) of every example."""
    groups = [e.record["group"] for e in examples]
    take = np.zeros(len(examples), dtype=bool)
    prob = np.zeros(len(examples))
    for train_idx, test_idx in GroupKFold(n_splits=cfg.folds).split(np.zeros(len(examples)), groups=groups):
        fact_choice, confidence = _fit([examples[i] for i in train_idx], cfg)
        test = [examples[i] for i in test_idx]
        take[test_idx] = _takes(fact_choice, test, cfg)
        prob[test_idx] = confidence.probability(np.column_stack([np.vstack([e.row for e in test]),
                                                                 take[test_idx]]))
    return take, prob


def _figures(examples: list[ArbiterExample], right: np.ndarray, prob: np.ndarray, threshold: float,
             f1: np.ndarray, em: np.ndarray) -> dict:
    asked = np.array([e.asked for e in examples])
    swapped = np.array([e.record["variant"] == "swapped" for e in examples])
    near = ~asked & ~swapped
    answered = prob >= threshold
    return {
        "questions": len({(e.record["set"], e.record["id"]) for e in examples}),
        "answer_accuracy": round(float((answered & right)[asked].mean()), 4) if asked.any() else None,
        "fact_em": round(float(em[asked].mean()), 4) if asked.any() else None,
        "fact_f1": round(float(f1[asked].mean()), 4) if asked.any() else None,
        "false_abstention": round(float((~answered)[asked].mean()), 4) if asked.any() else None,
        "near_miss_abstention": round(float((~answered)[near & ~right].mean()), 4) if (near & ~right).any()
        else None,
        "swapped_abstention": round(float((~answered)[swapped].mean()), 4) if swapped.any() else None,
        "ece": expected_calibration_error(prob.tolist(), right.astype(float).tolist()),
        "ece_answerable": expected_calibration_error(prob[asked].tolist(), right[asked].astype(float).tolist())
        if asked.any() else None,
    }


def report(examples: list[ArbiterExample], take: np.ndarray, prob: np.ndarray, threshold: float,
           model_threshold: float) -> dict:
    """Per training set, the answer model alone (today's serving: its fact, else the reader's inside the shown
    part) and with the arbiter, both held out."""
    out: dict[str, dict] = {}
    for name in dict.fromkeys(e.record["set"] for e in examples):
        idx = np.array([i for i, e in enumerate(examples) if e.record["set"] == name])
        part = [examples[i] for i in idx]
        t = take[idx]
        alone = _figures(part, np.array([e.model_right for e in part]),
                         np.array([e.record["confidence"] for e in part]), model_threshold,
                         np.array([e.filled_f1 for e in part]), np.array([e.filled_em for e in part]))
        right, f1, em = (np.array(column) for column in zip(*(e.given(k) for e, k in zip(part, t))))
        arbitrated = _figures(part, right, prob[idx], threshold, f1, em)
        arbitrated["reader_fact_taken"] = round(float(t[[e.asked for e in part]].mean()), 4)
        out[name] = {"answer_model_alone": alone, "with_arbiter": arbitrated}
    return out


def train_arbiter(records: list[dict], reader: SpanReader, model_threshold: float,
                  cfg: ArbiterTrainingSettings, fact_settings: FactSettings | None = None) -> tuple[Arbiter, dict]:
    started = time.perf_counter()
    fact_settings = fact_settings or FactSettings()
    answer_max_chars, unit_max_chars = AskSettings().answer_max_chars, ReaderSettings().unit_max_chars
    examples = [read_example(r, reader, fact_settings, answer_max_chars, unit_max_chars)
                for r in tqdm(records, desc="span reader", unit="reading", disable=None)]
    take, prob = cross_validate(examples, cfg)
    asked = np.array([e.asked for e in examples])
    threshold = abstention_threshold(prob[asked].tolist(), cfg.false_abstention_target)
    fact_choice, confidence = _fit(examples, cfg)
    result = {"cross_validated": report(examples, take, prob, threshold, model_threshold),
              "folds": cfg.folds, "abstain_below": round(threshold, 4), "settings": asdict(cfg),
              "reading": asdict(fact_settings),
              "readings": len(examples), "seconds": round(time.perf_counter() - started, 1)}
    return Arbiter(fact_choice, confidence, cfg.prefer_reader_above, threshold, {}, result, fact_settings), result


def arbiter_command(
        out: Annotated[Path, typer.Option(help="Where the arbiter file goes.")] = DEFAULT_ARBITER,
        work: Annotated[Path, typer.Option(help="The training work folder (`notesqa train answers` --work).")]
        = Path("var/train"),
        shared: Annotated[Path, typer.Option(help="The shared datasets folder.")] = SHARED,
        answer_model: Annotated[Path, typer.Option(help="The answer model the held-out answers came from.")]
        = DEFAULT_MODEL,
        span_reader: Annotated[Path, typer.Option(help="The span reader file.")] = DEFAULT_READER,
        folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = ArbiterTrainingSettings.folds,
        context_chars: Annotated[int, typer.Option(help="Characters each side of the shown part the span reader "
                                                        "reads (kept in the file: serving reads the same).")]
        = FactSettings.context_chars,
) -> None:
    """Fit the arbiter between the answer model and the span reader on the questions neither saw (after
    `notesqa train answers`); write the arbiter file and print the cross-validated report. About 2-3 minutes."""
    source = work / OUT_OF_FOLD
    if not source.exists():
        raise typer.BadParameter(f"{source} not found: run `notesqa train answers --work {work}` first")
    records = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    reader = load_reader(span_reader)
    split = ReaderTrainingSettings(**{k: v for k, v in reader.report.get("settings", {}).items()
                                      if k in ReaderTrainingSettings.__dataclass_fields__})
    unseen = unseen_records(records, held_out_question_ids(shared, split))
    log.info("%d of %d held-out readings are of questions the span reader never saw", len(unseen), len(records))
    cfg = ArbiterTrainingSettings(folds=folds)
    arbiter, result = train_arbiter(unseen, reader, load_model(answer_model).abstain_below, cfg,
                                    FactSettings(context_chars=context_chars))
    arbiter.fitted_with = {"answer_model": file_digest(answer_model), "span_reader": file_digest(span_reader)}
    out.parent.mkdir(parents=True, exist_ok=True)
    arbiter.save(out)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=1))
    typer.echo(f"wrote {out}")
