"""Scoring one answer, and running several systems side by side (fake clients, no model)."""
from __future__ import annotations

import pytest

from evaluation.runner import KS, evaluate, run_systems, score_item
from tests.evaluation.fakes import GOOD, ITEMS, WORSE, FakeClient

pytestmark = pytest.mark.unit


def test_score_item_for_a_fact_answer() -> None:
    answer, ranked, latency = FakeClient(GOOD).ask(ITEMS[0].question, 5)
    record = score_item(ITEMS[0], answer, ranked, latency)
    assert record["correct"] is True and record["abstained"] is False
    assert record["concise_answer"] == "6月6日"
    assert record["exact_match"] == 1.0 and record["f1"] == 1.0
    assert record["evidence_ranks"] == [1] and record["doc_ranks"] == [1]
    assert record["hits"] == [True, False]
    assert record["reciprocal_rank"] == 1.0 and record["ndcg@10"] == 1.0 and record["recall@5"] == 1.0
    assert record["citations"] == [{"marker": 1, "doc_id": "d1", "paragraph_id": "p-d1", "paragraph_number": None,
                                    "supports": True}]
    assert record["citation_precision"] == 1.0 and record["citation_recall"] == 1.0
    assert record["latency_ms"] == 10.0
    assert set(record["evidence_recall"]) == {str(k) for k in KS}


def test_score_item_for_a_wrong_answer_and_an_unanswerable_question() -> None:
    answer, ranked, latency = FakeClient(WORSE).ask(ITEMS[0].question, 5)
    wrong = score_item(ITEMS[0], answer, ranked, latency)
    assert wrong["correct"] is False and wrong["evidence_ranks"] == [2] and wrong["reciprocal_rank"] == 0.5
    assert wrong["citation_precision"] == 0.0 and wrong["exact_match"] == 0.0
    answer, ranked, latency = FakeClient(GOOD).ask(ITEMS[2].question, 5)
    abstained = score_item(ITEMS[2], answer, ranked, latency)
    assert abstained["correct"] is None and abstained["abstained"] is True
    assert "exact_match" not in abstained and "citation_precision" not in abstained
    assert abstained["concise_answer"] == ""


def test_run_systems_takes_turns_and_keeps_dataset_order() -> None:
    a, b = FakeClient(GOOD, 5.0), FakeClient(WORSE, 50.0)
    out = run_systems(ITEMS, {"a": a, "b": b}, show_progress=False)
    assert list(out) == ["a", "b"]
    assert [r["id"] for r in out["a"]] == ["q1", "q2", "q3"]
    assert [r["correct"] for r in out["b"]] == [False, True, None]
    # one warm-up call each, then every question once per system
    assert len(a.calls) == len(b.calls) == 1 + len(ITEMS)


def test_a_scoped_run_asks_each_question_of_its_own_documents() -> None:
    client = FakeClient(WORSE)
    records = run_systems(ITEMS, {"a": client}, show_progress=False, scoped=True)["a"]
    # warm-up, then q1 and q2 of their documents; q3 (unanswerable, no documents) of everything
    assert client.scopes == [["d1"], ["d1"], ["d2"], None]
    assert records[0]["hits"][0] is True  # q1's evidence (d1) was rank 2 unscoped, rank 1 scoped
    unscoped = run_systems(ITEMS, {"a": FakeClient(WORSE)}, show_progress=False)["a"]
    assert unscoped[0]["hits"][0] is False


def test_run_systems_with_concurrency_gives_the_same_records() -> None:
    serial = run_systems(ITEMS, {"a": FakeClient(GOOD)}, show_progress=False)["a"]
    parallel = run_systems(ITEMS, {"a": FakeClient(GOOD)}, show_progress=False, concurrency=3)["a"]
    assert serial == parallel


def test_evaluate_returns_metrics_and_records() -> None:
    metrics, records = evaluate(ITEMS, FakeClient(GOOD), show_progress=False)
    assert len(records) == 3
    assert metrics["answer_accuracy"] == 1.0 and metrics["abstention"] == 1.0 and metrics["recall@1"] == 1.0
    assert metrics["exact_match"] == 0.5  # q2's concise answer is its whole sentence
    assert metrics["latency_p50_ms"] == 10.0
