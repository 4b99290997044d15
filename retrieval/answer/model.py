"""The fitted answer model: a paragraph reranker, a span scorer and a calibrated answer probability.

One JSON file, written by `notesqa train answers` (evaluation/training.py) and shipped in the package:
three LightGBM boosters as their text dumps, the isotonic map from the answer classifier's raw output to a
calibrated probability, the abstention threshold picked on held-out folds, the feature names each model
was fitted on (checked on load) and the training report. No weight lives in code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import lightgbm
import numpy as np

from retrieval.answer.features import ANSWER_FEATURES, PARAGRAPH_FEATURES, SPAN_FEATURES

DEFAULT_MODEL = Path(__file__).parent.parent / "resources" / "answer_model.json"
FORMAT_VERSION = 1


class AnswerModelError(RuntimeError):
    """A model file that is missing, damaged or fitted on other features."""


@dataclass
class AnswerModel:
    reranker: lightgbm.Booster
    span_scorer: lightgbm.Booster
    answer_classifier: lightgbm.Booster
    calibration_x: np.ndarray
    calibration_y: np.ndarray
    abstain_below: float
    report: dict

    def rerank(self, features: np.ndarray) -> np.ndarray:
        return _predict(self.reranker, features)

    def score_spans(self, features: np.ndarray) -> np.ndarray:
        return _predict(self.span_scorer, features)

    def confidence(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probability that the answer is right, one per row."""
        raw = _predict(self.answer_classifier, features)
        return np.interp(raw, self.calibration_x, self.calibration_y)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "features": {"paragraph": list(PARAGRAPH_FEATURES), "span": list(SPAN_FEATURES),
                         "answer": list(ANSWER_FEATURES)},
            "reranker": self.reranker.model_to_string(),
            "span_scorer": self.span_scorer.model_to_string(),
            "answer_classifier": self.answer_classifier.model_to_string(),
            "calibration": {"x": self.calibration_x.tolist(), "y": self.calibration_y.tolist()},
            "abstain_below": self.abstain_below,
            "report": self.report,
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                              encoding="utf-8")


def _predict(booster: lightgbm.Booster, features: np.ndarray) -> np.ndarray:
    if len(features) == 0:
        return np.zeros(0)
    return booster.predict(features, raw_score=True, num_threads=1)  # one question's rows: threads cost more


def load_model(path: str | Path = DEFAULT_MODEL) -> AnswerModel:
    return _load(str(path))


@lru_cache(maxsize=4)  # every collection's NotesQA shares the one shipped model
def _load(path: str) -> AnswerModel:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AnswerModelError(f"cannot read the answer model {path}: {exc} (run `notesqa train answers`)") from exc
    expected = {"paragraph": list(PARAGRAPH_FEATURES), "span": list(SPAN_FEATURES), "answer": list(ANSWER_FEATURES)}
    if data.get("format") != FORMAT_VERSION or data.get("features") != expected:
        raise AnswerModelError(f"the answer model {path} was fitted on other features than this code computes: "
                               "refit it with `notesqa train answers`")
    try:
        return AnswerModel(
            reranker=lightgbm.Booster(model_str=data["reranker"]),
            span_scorer=lightgbm.Booster(model_str=data["span_scorer"]),
            answer_classifier=lightgbm.Booster(model_str=data["answer_classifier"]),
            calibration_x=np.asarray(data["calibration"]["x"], dtype=np.float64),
            calibration_y=np.asarray(data["calibration"]["y"], dtype=np.float64),
            abstain_below=float(data["abstain_below"]),
            report=data.get("report", {}),
        )
    except (KeyError, TypeError, ValueError, lightgbm.basic.LightGBMError) as exc:
        raise AnswerModelError(f"the answer model {path} is damaged: {exc}") from exc
