"""`notesqa train arbiter` on the sample dev set: held out, its confidence must rank answers better than the
answer model's own, and its file must give the decisions its fit gave."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from evaluation.arbiter_training import ArbiterTrainingSettings, cross_validate, read_example, train_arbiter
from evaluation.datasets import load_dataset
from evaluation.training import QueryVectorCache, TrainingSettings, collect, train
from retrieval.answer.arbiter import load_arbiter
from retrieval.answer.fact import FactSettings
from retrieval.answer.span_reader import load_reader
from retrieval.answer.reader import ReaderSettings
from retrieval.pipeline import AskSettings, NotesQA
from tests.conftest import SAMPLE_DEV

pytestmark = pytest.mark.slow
BUDGETS = (AskSettings().answer_max_chars, ReaderSettings().unit_max_chars)


@pytest.fixture(scope="module")
def held_out_answers(sample_index, tmp_path_factory):
    """The answer model's out-of-fold answers to the sample dev set, as `notesqa train answers` writes them."""
    qa = NotesQA.load(sample_index, model_path=None)
    cfg = TrainingSettings(folds=3, rounds=60)
    cache = QueryVectorCache(tmp_path_factory.mktemp("vectors") / "vectors.npz")
    examples = collect(qa, "sample_dev", load_dataset(SAMPLE_DEV), cfg, cache, 30)
    model, _, records = train({"sample_dev": qa}, examples, cfg)
    return model, records


def test_the_arbiter_ranks_held_out_answers_better_than_the_answer_model_alone(held_out_answers):
    model, records = held_out_answers
    assert {r["variant"] for r in records} == {"asked", "withheld"}
    assert all(0.0 <= r["confidence"] <= 1.0 for r in records)
    reader = load_reader()
    examples = [read_example(r, reader, FactSettings(), *BUDGETS) for r in records]
    take, prob = cross_validate(examples, ArbiterTrainingSettings(folds=3))
    arbitrated = np.array([e.given(t)[0] for e, t in zip(examples, take)])
    alone = np.array([e.model_right for e in examples])
    auc_arbiter = roc_auc_score(arbitrated, prob)
    auc_alone = roc_auc_score(alone, [e.record["confidence"] for e in examples])
    assert auc_arbiter > auc_alone, (auc_arbiter, auc_alone)
    assert take.any() and not take.all()


def test_the_written_arbiter_decides_as_its_fit(held_out_answers, tmp_path):
    model, records = held_out_answers
    reader = load_reader()
    arbiter, report = train_arbiter(records, reader, model.abstain_below, ArbiterTrainingSettings(folds=3))
    assert 0.0 <= report["abstain_below"] <= 1.0
    assert set(report["cross_validated"]["sample_dev"]) == {"answer_model_alone", "with_arbiter"}
    answer_model, reader_file = tmp_path / "answer_model.json", tmp_path / "reader.safetensors"
    answer_model.write_text("{}")
    reader_file.write_bytes(b"reader")
    from retrieval.answer.arbiter import file_digest

    arbiter.fitted_with = {"answer_model": file_digest(answer_model), "span_reader": file_digest(reader_file)}
    arbiter.save(tmp_path / "arbiter.json")
    loaded = load_arbiter(tmp_path / "arbiter.json", answer_model, reader_file)
    example = read_example(records[0], reader, FactSettings(), *BUDGETS)
    assert loaded.decide(example.row, True) == arbiter.decide(example.row, True)
