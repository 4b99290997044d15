"""retrieval.pipeline: what the NotesQA facade offers its callers besides ask and search."""
from __future__ import annotations

import dataclasses

import pytest

from retrieval.conversation import Turn, resolve
from retrieval.pipeline import NotesQA
from retrieval.validation import TextError

pytestmark = pytest.mark.slow  # over the real sample index (tests/conftest.py)


@pytest.fixture(scope="module")
def qa(sample_index) -> NotesQA:
    return NotesQA.load(sample_index)


def test_the_snapshot_is_described_without_reaching_into_it(qa):
    assert qa.snapshot_name == qa.snapshot.path.name
    assert qa.manifest["counts"]["documents"] == len(qa.documents()) == 5
    assert (qa.manifest["dense"]["spec"], qa.manifest["keyword"]["spec"]) == ("faiss-flat", "bm25s")
    doc_id = qa.documents()[0]["doc_id"]
    assert qa.document(doc_id)["title"] == qa.title(doc_id) == qa.titles()[doc_id]
    with pytest.raises(KeyError):
        qa.document("no-such-document")


def test_searchable_paragraphs_are_in_index_row_order(qa):
    rows = qa.searchable_paragraphs()
    assert len(rows) == qa.manifest["counts"]["searchable"] == qa.snapshot.dense.size
    assert all(p.kind != "heading" for p in rows)
    hit = qa.search("全球联络点举措", top_k=1, mode="keyword")[0]
    assert hit.paragraph in rows


def test_with_snapshot_keeps_embedder_settings_and_model(qa):
    other = qa.with_snapshot(dataclasses.replace(qa.snapshot))
    assert other.embedder is qa.embedder and other.reader.model is qa.reader.model
    assert (other.searcher.settings, other.reader.settings, other.ask_settings) == \
        (qa.searcher.settings, qa.reader.settings, qa.ask_settings)
    question = "资产追回工作组2018年的会议是哪天开幕的？"
    assert other.ask(question).to_dict() == qa.ask(question).to_dict()


def test_bad_text_is_refused_before_the_engines(qa):
    with pytest.raises(TextError) as raised:
        qa.ask("  ")
    assert raised.value.kind == "empty"


def test_a_follow_up_is_answered_by_the_reading_the_confidence_trusts_most(qa):
    history = [Turn("第九届会议在哪个城市举行？")]
    question = "12月18日下午的会议讨论了哪些议程项目？"
    readings = [question, *resolve(question, history).alternatives]
    assert len(readings) == 2
    confidences = {text: qa.ask(text).confidence for text in readings}
    answer = qa.ask(question, history=history)
    chosen = answer.resolved_question or question
    assert confidences[chosen] == max(confidences.values())
    assert answer.confidence == pytest.approx(confidences[chosen], abs=1e-4)
