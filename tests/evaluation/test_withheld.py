"""Evidence withheld: the snapshot without some paragraphs, and the near-miss questions asked of it."""
from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.datasets import EvalItem
from evaluation.withheld import WithheldEvidence, run_withheld, snapshot_without
from index.normalization import compact
from retrieval.pipeline import NotesQA

pytestmark = pytest.mark.slow

LAUNCH = EvalItem("s002", "全球联络点举措是哪年哪月启动的？", ["2009年1月"], ["全球联络点举措于 2009 年 1 月启动"],
                  ["001_2e16e2347a6d47f4"], type="date")


@pytest.fixture(scope="module")
def qa(sample_index: Path) -> NotesQA:
    return NotesQA.load(sample_index)


def test_the_rows_withheld_are_those_holding_the_evidence_or_a_gold_answer(qa):
    withheld = WithheldEvidence(qa)
    rows = withheld.rows_to_withhold(LAUNCH)
    texts = [text(qa, r) for r in rows]
    assert rows and all("2009 年 1 月" in t for t in texts)
    assert any(t.startswith("66.") for t in texts)
    # an item without evidence loses its whole gold document
    document = EvalItem("x", "问题？", [], [], ["004_571e32d49a4b0d9d"])
    in_document = {r for r, i in enumerate(qa.snapshot.searchable)
                   if qa.snapshot.paragraphs[int(i)].doc_id == "004_571e32d49a4b0d9d"}
    assert withheld.rows_to_withhold(document) == in_document
    # a short answer ("13") is in many paragraphs: only the evidence is withheld
    short = withheld.rows_to_withhold(EvalItem("y", "问题？", ["13"], LAUNCH.evidence, []))
    assert short and all("全球联络点举措于2009年1月启动" in compact(text(qa, r)) for r in short)


def text(qa: NotesQA, row: int) -> str:
    return qa.snapshot.paragraphs[int(qa.snapshot.searchable[row])].text


def test_a_withheld_paragraph_is_found_by_neither_side(qa):
    withheld = WithheldEvidence(qa)
    rows = withheld.rows_to_withhold(LAUNCH)
    ids = {qa.snapshot.paragraphs[int(qa.snapshot.searchable[r])].paragraph_id for r in rows}
    without = NotesQA(snapshot_without(qa.snapshot, rows, withheld._tokens_of), qa.embedder)
    for mode in ("hybrid", "keyword", "dense"):
        found = {h.paragraph.paragraph_id for h in without.search(LAUNCH.question, top_k=50, mode=mode)}
        assert found and not found & ids, mode
    assert ids & {h.paragraph.paragraph_id for h in qa.search(LAUNCH.question, top_k=5)}  # found with them
    assert len(without.snapshot.searchable) == len(qa.snapshot.searchable) - len(rows)
    assert without.snapshot.dense.size == len(without.snapshot.searchable)


def test_document_frequencies_are_recounted_without_the_rows(qa):
    withheld = WithheldEvidence(qa)
    rows = withheld.rows_to_withhold(LAUNCH)
    without = snapshot_without(qa.snapshot, rows, withheld._tokens_of)
    for token in {t for r in rows for t in withheld._tokens_of(r)}:
        holding = sum(token in withheld._tokens_of(r) for r in rows)
        assert without.keyword_df.get(token, 0) == qa.snapshot.keyword_df[token] - holding


def test_run_withheld_scores_each_question_as_unanswerable(qa):
    items = [LAUNCH, EvalItem("u", "红烧肉怎么做？", [], [], [], answerable=False)]
    records, counts = run_withheld(items, qa, show_progress=False)
    assert counts == {"asked": 1, "no_evidence_found": 0, "answered_from_elsewhere": 0}
    (record,) = records
    assert record["id"] == "s002" and record["answerable"] is False and record["type"] == "withheld"
    assert record["abstained"]  # the launch date is nowhere else in the notes
