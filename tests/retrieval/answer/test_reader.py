"""The answer component end to end on the real sample index, with the shipped model file."""
from __future__ import annotations

import re

import pytest

from index.normalization import compact
from retrieval.answer.model import DEFAULT_MODEL, load_model
from retrieval.pipeline import NotesQA

pytestmark = pytest.mark.slow

OPENING = "资产追回工作组2018年的会议是哪天开幕的？"


@pytest.fixture(scope="module")
def qa(sample_index) -> NotesQA:
    return NotesQA.load(sample_index)


def test_the_shipped_model_gives_the_answers_of_its_training_run(sample_index):
    reference = load_model(DEFAULT_MODEL).report["reference_answers"]
    assert reference
    qa = NotesQA.load(sample_index, span_reader_path=None)  # the training run's facts: the model's own spans
    for expected in reference:
        answer = qa.ask(expected["question"])
        assert answer.fact == expected["fact"], expected["question"]
        assert answer.abstained == expected["abstained"]
        assert answer.confidence == pytest.approx(expected["confidence"], abs=1e-6)


def test_fact_and_its_citation_point_into_the_cited_paragraph(qa):
    answer = qa.ask(OPENING)
    assert not answer.abstained
    assert answer.fact and compact("6月6日") in compact(answer.fact)
    assert answer.fact in answer.answer  # the answer is the clause that holds the fact
    cite = answer.fact_citation
    cited = next(c for c in answer.citations if c.marker == cite.marker)
    assert cited.text[cite.paragraph_start:cite.paragraph_end] == answer.fact
    assert cited.start <= cite.start <= cite.end <= cited.end
    assert set(map(int, re.findall(r"\[(\d+)\]", answer.answer))) == {c.marker for c in answer.citations}
    assert 0.0 <= answer.confidence <= 1.0


def test_answers_stay_within_the_length_budget(qa):
    budget = qa.ask_settings.answer_max_chars
    for question in (OPENING, "全球联络点举措是哪年哪月启动的？", "工作组为什么要重点关注培训？"):
        answer = qa.ask(question)
        shown = re.sub(r"\[\d+\]", "", answer.answer)
        assert len(shown) <= budget + 2  # the window's two ellipses at most


def test_doc_ids_restrict_what_is_read(qa):
    doc = "001_2e16e2347a6d47f4"
    assert {h.paragraph.doc_id for h in qa.search("会议", top_k=10, doc_ids=[doc])} == {doc}
    answer = qa.ask(OPENING, doc_ids=[doc])
    assert all(c.doc_id == doc for c in answer.citations)
    nothing = qa.ask(OPENING, doc_ids=["no-such-document"])
    assert nothing.abstained and not nothing.citations


def test_an_unrelated_question_is_less_sure_than_an_answered_one(qa):
    assert qa.ask("火星探测车的轮子是用什么材料做的？").confidence < qa.ask(OPENING).confidence
