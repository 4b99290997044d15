"""retrieval.answer.model: the fitted answer model file and its checks."""
from __future__ import annotations

import json

import pytest

from retrieval.answer.model import DEFAULT_MODEL, AnswerModelError, load_model

pytestmark = pytest.mark.unit


def test_a_model_fitted_on_other_features_is_refused(tmp_path):
    data = json.loads(DEFAULT_MODEL.read_text(encoding="utf-8"))
    data["features"]["span"] = data["features"]["span"][:-1]
    damaged = tmp_path / "model.json"
    damaged.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(AnswerModelError, match="other features"):
        load_model(damaged)
