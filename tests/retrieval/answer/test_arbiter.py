"""retrieval.answer.arbiter: its features on hand-made readings, its decisions, and its file's checks."""
from __future__ import annotations

import json

import numpy as np
import pytest

from index.models import Paragraph
from retrieval.answer.arbiter import (ARBITER_FEATURES, CONFIDENCE_FEATURES, Arbiter, ArbiterError, Logistic,
                                      ModelAnswer, features, file_digest, load_arbiter, overlap, reader_pick,
                                      with_reader_fact)
from retrieval.answer.candidates import split_units
from retrieval.answer.fact import Proposal
from retrieval.answer.render import compose
from retrieval.search import SearchHit

pytestmark = pytest.mark.unit

TEXT = "会议于2024年3月4日在日内瓦开幕。会议由主席主持，秘书处编写了报告。"



def test_features_of_an_agreeing_reading():
    date = (TEXT.index("2024"), TEXT.index("日在") + 1)
    proposals = [Proposal(*date, 0.8, 0.05, True), Proposal(date[0], date[0] + 5, 0.1, 0.05, True)]
    model = ModelAnswer(0.9, TEXT[date[0]:date[1]], "date", "date")
    row = dict(zip(ARBITER_FEATURES, features(model, TEXT, proposals)))
    assert row["model_logit"] == pytest.approx(np.log(0.9 / 0.1))
    assert row["model_has_fact"] == row["model_form_fact"] == row["question_typed"] == 1.0
    assert row["reader_probability"] == 0.8 and row["reader_no_span"] == 0.05
    assert row["reader_inside"] == 1.0 and row["reader_inside_probability"] == 0.8
    assert row["agreement"] == 1.0
    assert row["reader_chars"] == pytest.approx(np.log1p(len("2024年3月4日")))


def test_features_of_a_reading_without_a_model_fact_or_a_reader_span():
    model = ModelAnswer(0.2, None, "unit", None)
    row = dict(zip(ARBITER_FEATURES, features(model, TEXT, [])))
    assert row["model_has_fact"] == row["model_form_fact"] == row["question_typed"] == 0.0
    assert row["reader_probability"] == 0.0 and row["reader_no_span"] == 1.0
    assert row["agreement"] == 0.0 and row["reader_chars"] == 0.0 and row["model_fact_chars"] == 0.0
    # a fact found by position (a run of words) is no form fact
    row = dict(zip(ARBITER_FEATURES, features(ModelAnswer(0.5, "主席", "ngram", None), TEXT, [])))
    assert row["model_has_fact"] == 1.0 and row["model_form_fact"] == 0.0


def test_overlap_is_character_f1_on_compact_text():
    assert overlap("2024年3月4日", "2024 年 3 月 4 日") == 1.0
    assert overlap("主席", "秘书处") == 0.0
    assert 0.0 < overlap("2024年", "2024年3月4日") < 1.0


def _hit(text: str = TEXT) -> SearchHit:
    return SearchHit(Paragraph("p1", "doc", 0, "paragraph", text, 100, 100 + len(text)), 1.0, 0.5, 3.0)


def test_the_reader_fact_inside_the_shown_part_keeps_the_answer_and_outside_it_shows_its_unit():
    hit = _hit()
    second = split_units(TEXT, 80)[1]
    chair = (TEXT.index("主席"), TEXT.index("主席") + 2)
    rendered = compose(hit, second, chair, True, 0.7, 12, 80)
    assert rendered.fact == "主席"
    inside = Proposal(TEXT.index("秘书处"), TEXT.index("秘书处") + 3, 0.6, 0.1, True)
    same = with_reader_fact(rendered, inside, second, 12, 80)
    assert same.answer == rendered.answer and same.fact == "秘书处" and same.fact_offsets == (inside.start, inside.end)
    date = Proposal(TEXT.index("2024"), TEXT.index("日在") + 1, 0.6, 0.1, False)
    moved = with_reader_fact(rendered, date, split_units(TEXT, 80)[0], 12, 80)
    assert moved.fact == "2024年3月4日" and "2024年3月4日" in moved.answer and "主席" not in moved.answer
    assert moved.shown_offsets[0] <= date.start < date.end <= moved.shown_offsets[1]


def test_a_reader_span_across_two_units_is_not_picked():
    across = Proposal(TEXT.index("开幕"), TEXT.index("主席"), 0.9, 0.0, False)
    assert reader_pick(TEXT, [across], 80) is None
    assert reader_pick(TEXT, [], 80) is None
    within = Proposal(TEXT.index("主席"), TEXT.index("主席") + 2, 0.9, 0.0, True)
    assert reader_pick(TEXT, [within, across], 80) == (within, split_units(TEXT, 80)[1])


def _logistic(coef: list[float], intercept: float) -> Logistic:
    n = len(coef)
    return Logistic(np.zeros(n), np.ones(n), np.array(coef), intercept)


def test_decide_takes_the_reader_fact_only_where_the_fit_prefers_it_and_one_is_available():
    n = len(ARBITER_FEATURES)
    reader_weight = [0.0] * n
    reader_weight[ARBITER_FEATURES.index("reader_probability")] = 10.0
    arbiter = Arbiter(_logistic(reader_weight, -5.0), _logistic([0.0] * (n + 1), 0.0), 0.5, 0.3, {}, {})
    row = np.zeros(n)
    row[ARBITER_FEATURES.index("reader_probability")] = 0.9
    assert arbiter.decide(row, True) == (True, pytest.approx(0.5))
    assert arbiter.decide(row, False)[0] is False
    row[ARBITER_FEATURES.index("reader_probability")] = 0.1
    assert arbiter.decide(row, True)[0] is False


def test_the_file_round_trips_and_is_refused_beside_other_models(tmp_path):
    model, reader = tmp_path / "answer_model.json", tmp_path / "reader.safetensors"
    model.write_text("{}")
    reader.write_bytes(b"weights")
    n = len(ARBITER_FEATURES)
    arbiter = Arbiter(_logistic([0.5] * n, 0.1), _logistic([0.2] * len(CONFIDENCE_FEATURES), -0.3), 0.5, 0.25,
                      {"answer_model": file_digest(model), "span_reader": file_digest(reader)}, {"folds": 5})
    path = tmp_path / "arbiter.json"
    arbiter.save(path)
    loaded = load_arbiter(path, model, reader)
    row = np.linspace(0, 1, n)
    assert loaded.decide(row, True) == arbiter.decide(row, True)
    assert loaded.abstain_below == 0.25 and loaded.report == {"folds": 5}

    model.write_text('{"refitted": true}')
    with pytest.raises(ArbiterError, match="answer_model"):
        load_arbiter(path, model, reader)
    data = json.loads(path.read_text())
    data["features"]["confidence"] = data["features"]["confidence"][:-1]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    with pytest.raises(ArbiterError, match="other features"):
        load_arbiter(other, model, reader)
    with pytest.raises(ArbiterError, match="cannot read"):
        load_arbiter(tmp_path / "missing.json", model, reader)


@pytest.mark.slow
def test_the_pipeline_answers_as_the_shipped_arbiter_decides(sample_index):
    from evaluation.datasets import load_dataset
    from retrieval.answer.render import ABSTAIN_MESSAGE
    from retrieval.pipeline import NotesQA
    from tests.conftest import SAMPLE_DEV

    alone = NotesQA.load(sample_index, arbiter_path=None)
    assert alone.arbiter is None and alone.span_reader is None
    qa = NotesQA.load(sample_index)
    assert qa.arbiter is not None
    threshold = qa.arbiter.abstain_below
    reader_facts = answered = abstained = 0
    for item in load_dataset(SAMPLE_DEV)[:50]:
        before, after = alone.ask(item.question), qa.ask(item.question)
        assert after.abstained == (after.confidence < threshold)
        if after.abstained:
            assert after.answer == ABSTAIN_MESSAGE and not after.citations and after.closest
            abstained += 1
            continue
        answered += 1
        if after.fact is not None:
            cite = after.fact_citation
            cited = next(c for c in after.citations if c.marker == cite.marker)
            assert cited.text[cite.paragraph_start:cite.paragraph_end] == after.fact
            assert after.fact in after.answer  # the fact stands in the part of the paragraph shown
        reader_facts += after.fact != before.fact
    assert answered and abstained  # the dev set holds unanswerable questions
    assert reader_facts  # the reader's fact is taken somewhere, not everywhere
    assert reader_facts < answered
