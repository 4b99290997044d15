"""`notesqa train answers` on a small slice: the fitted scorer must beat every single feature on held-out data."""
from __future__ import annotations

import numpy as np
import pytest

from evaluation.datasets import load_dataset
from evaluation.scoring import char_f1
from evaluation.training import QueryVectorCache, TrainingSettings, collect, train
from retrieval.answer.features import SPAN_FEATURES
from retrieval.pipeline import NotesQA
from tests.conftest import SAMPLE_DEV

pytestmark = pytest.mark.slow


def _fact_f1(qa: NotesQA, examples, score) -> float:
    """Mean character F1 of the span `score` ranks first, over the answerable examples."""
    f1 = []
    for ex in examples:
        if not ex.item.answerable:
            continue
        question = qa.analyse(ex.item.question)
        ctx = qa.reader.context(question)
        reranked, pscores = qa.reader.rerank(ctx, ex.variants["asked"])
        found = qa.reader.candidates(ctx, reranked, pscores)
        if not found.spans:
            f1.append(0.0)
            continue
        best = int(np.argmax(score(found.features)))
        f1.append(char_f1(qa.reader.span_text(found, best), ex.item.answers))
    return float(np.mean(f1))


def test_fitted_scorer_beats_the_best_single_feature_on_held_out_questions(sample_index, tmp_path):
    qa = NotesQA.load(sample_index, model_path=None)
    cfg = TrainingSettings(folds=3, rounds=60)
    items = load_dataset(SAMPLE_DEV)
    examples = collect(qa, "sample_dev", items, cfg, QueryVectorCache(tmp_path / "vectors.npz"), 30,
                       subjects=["张伯伦", "托尔斯泰"])
    swapped = [ex.question("swapped") for ex in examples if "swapped" in ex.variants]
    assert swapped and all("张伯伦" in q or "托尔斯泰" in q for q in swapped)
    training, held_out = examples[:80], examples[80:]
    model, report, records = train({"sample_dev": qa}, training, cfg)
    assert 0.0 <= report["abstain_below"] <= 1.0
    assert report["cross_validated"]["sample_dev"]["swapped_abstention"] is not None
    assert not any(r["right"] for r in records if r["variant"] == "swapped")  # no answer to them is right
    qa.reader.model = model

    # the best single feature (either direction), chosen on the training slice as a fitted rule would be
    candidates = [(i, sign) for i in range(len(SPAN_FEATURES)) for sign in (1.0, -1.0)]
    on_training = {c: _fact_f1(qa, training, lambda x, c=c: c[1] * x[:, c[0]]) for c in candidates}
    best_single = max(on_training, key=on_training.get)
    single = _fact_f1(qa, held_out, lambda x: best_single[1] * x[:, best_single[0]])
    fitted = _fact_f1(qa, held_out, model.score_spans)
    assert fitted > single, (fitted, SPAN_FEATURES[best_single[0]], single)
