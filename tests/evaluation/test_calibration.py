"""Calibration metrics, the fact/confidence fields of an answer, and their place in reports and the README."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from evaluation.scoring import (CALIBRATION_BINS, CONFIDENCE_BANDS, abstention_tradeoff, accuracy_by_confidence,
                                calibration_outcome, calibration_pairs, expected_calibration_error,
                                median_answer_chars, reliability_table, summarize, tradeoff_thresholds)
from evaluation.readme_table import DEFAULT_RESULTS, render
from evaluation.report import Result, comparison_table, fmt, metrics_table, save_results, where_worse, write_run
from evaluation.runner import score_item
from tests.evaluation.fakes import GOOD, ITEMS, PARAGRAPHS, WORSE, FakeClient, records_for

pytestmark = pytest.mark.unit


# --- expected calibration error -------------------------------------------------------------

def test_ece_of_a_perfectly_calibrated_system_is_zero() -> None:
    # a quarter of the 0.25 answers right, three quarters of the 0.75 ones
    probs = [0.25] * 4 + [0.75] * 4
    outcomes = [1, 0, 0, 0] + [1, 1, 1, 0]
    assert expected_calibration_error(probs, outcomes) == 0.0


def test_ece_of_full_confidence_half_wrong_is_one_half() -> None:
    assert expected_calibration_error([1.0] * 4, [1, 0, 1, 0]) == 0.5


def test_ece_weights_each_bin_by_its_share() -> None:
    # bin [0.1, 0.2): |1 - 0.1| = 0.9; bin [0.9, 1.0]: |1 - 0.9| = 0.1; each half the answers
    assert expected_calibration_error([0.1, 0.9], [1, 1]) == pytest.approx(0.5)
    # three answers at 0.8, all wrong, one at 0.3, right: 3/4 * 0.8 + 1/4 * 0.7
    assert expected_calibration_error([0.8, 0.8, 0.8, 0.3], [0, 0, 0, 1]) == pytest.approx(0.775)


def test_ece_without_answers_is_none_and_lengths_must_agree() -> None:
    assert expected_calibration_error([], []) is None
    with pytest.raises(ValueError):
        expected_calibration_error([0.5], [])


def test_reliability_table_rows() -> None:
    rows = reliability_table([0.05, 0.15, 0.18, 1.0], [0, 1, 0, 1])
    assert len(rows) == CALIBRATION_BINS
    assert [(r["low"], r["high"]) for r in rows[:2]] == [(0.0, 0.1), (0.1, 0.2)]
    assert rows[0] == {"low": 0.0, "high": 0.1, "count": 1, "mean_confidence": 0.05, "accuracy": 0.0}
    assert rows[1]["count"] == 2 and rows[1]["mean_confidence"] == 0.165 and rows[1]["accuracy"] == 0.5
    assert rows[9]["count"] == 1 and rows[9]["accuracy"] == 1.0  # 1.0 falls in the last bin
    assert rows[5] == {"low": 0.5, "high": 0.6, "count": 0, "mean_confidence": None, "accuracy": None}


def test_reliability_table_agrees_with_scikit_learn() -> None:
    calibration = pytest.importorskip("sklearn.calibration")
    probs = [0.03, 0.12, 0.17, 0.33, 0.36, 0.58, 0.61, 0.64, 0.88, 0.97, 0.99]  # none on a bin edge
    outcomes = [0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1]
    want_accuracy, want_confidence = calibration.calibration_curve(outcomes, probs, n_bins=CALIBRATION_BINS,
                                                                   strategy="uniform")
    filled = [r for r in reliability_table(probs, outcomes) if r["count"]]
    assert [r["accuracy"] for r in filled] == pytest.approx(list(want_accuracy), abs=1e-4)
    assert [r["mean_confidence"] for r in filled] == pytest.approx(list(want_confidence), abs=1e-4)


def test_accuracy_by_confidence_bands() -> None:
    rows = accuracy_by_confidence([0.1, 0.2, 0.25, 0.9, 1.0], [0, 1, 0, 1, 0])
    assert [(r["low"], r["high"]) for r in rows] == list(zip(CONFIDENCE_BANDS, CONFIDENCE_BANDS[1:]))
    assert rows[0] == {"low": 0.0, "high": 0.2, "count": 1, "accuracy": 0.0}
    assert rows[1] == {"low": 0.2, "high": 0.4, "count": 2, "accuracy": 0.5}  # 0.2 opens its band
    assert rows[2]["count"] == 0 and rows[2]["accuracy"] is None
    assert rows[4] == {"low": 0.8, "high": 1.0, "count": 2, "accuracy": 0.5}  # 1.0 closes the last


# --- which records calibration is computed over ---------------------------------------------

def _rec(answerable: bool, abstained: bool, correct: bool | None, confidence: float | None) -> dict:
    return {"answerable": answerable, "abstained": abstained, "correct": correct if answerable else None,
            "correct_any": bool(correct) and not abstained, "confidence": confidence}


def test_calibration_outcomes() -> None:
    assert calibration_outcome(_rec(True, False, True, 0.9)) == 1.0
    assert calibration_outcome(_rec(True, False, False, 0.9)) == 0.0
    assert calibration_outcome(_rec(True, True, False, 0.2)) is None  # suppressed answer: unknown
    assert calibration_outcome(_rec(False, True, None, 0.2)) == 0.0  # answering it would be wrong
    assert calibration_outcome(_rec(False, False, None, 0.7)) == 0.0
    assert calibration_outcome(_rec(True, False, True, None)) is None  # a baseline
    old = {"answerable": True, "abstained": False, "correct": True, "confidence": 0.5}  # no correct_any
    assert calibration_outcome(old) == 1.0
    records = [_rec(True, False, True, 0.9), _rec(True, True, False, 0.2), _rec(False, True, None, 0.1),
               _rec(True, False, True, None)]
    assert calibration_pairs(records) == ([0.9, 0.1], [1.0, 0.0])


# --- the accuracy / abstention trade-off ----------------------------------------------------

TRADEOFF_RECORDS = [
    _rec(True, False, True, 0.9),
    _rec(True, False, False, 0.6),
    _rec(True, False, True, 0.4),
    _rec(True, True, False, 0.3),  # the system abstained itself: stays abstained at every threshold
    _rec(False, False, None, 0.5),
    _rec(False, True, None, 0.1),
]


def test_tradeoff_thresholds_grid() -> None:
    grid = tradeoff_thresholds()
    assert len(grid) == 21 and grid[0] == 0.0 and grid[1] == 0.05 and grid[-1] == 1.0


def test_abstention_tradeoff_by_hand() -> None:
    rows = {r["threshold"]: r for r in abstention_tradeoff(TRADEOFF_RECORDS, [0.0, 0.45, 0.55, 0.95])}
    assert rows[0.0] == {"threshold": 0.0, "answered": 4, "coverage": round(4 / 6, 4), "accuracy": 0.5,
                         "abstention": 0.5, "false_abstention": 0.25}
    assert rows[0.45] == {"threshold": 0.45, "answered": 3, "coverage": 0.5, "accuracy": round(1 / 3, 4),
                          "abstention": 0.5, "false_abstention": 0.5}
    assert rows[0.55] == {"threshold": 0.55, "answered": 2, "coverage": round(2 / 6, 4), "accuracy": 0.5,
                          "abstention": 1.0, "false_abstention": 0.5}
    assert rows[0.95] == {"threshold": 0.95, "answered": 0, "coverage": 0.0, "accuracy": None,
                          "abstention": 1.0, "false_abstention": 1.0}


def test_abstention_tradeoff_on_the_default_grid_and_without_confidences() -> None:
    rows = abstention_tradeoff(TRADEOFF_RECORDS)
    assert [r["threshold"] for r in rows] == tradeoff_thresholds()
    assert [r["coverage"] for r in rows] == sorted((r["coverage"] for r in rows), reverse=True)
    assert abstention_tradeoff([_rec(True, False, True, None)]) == []
    only_answerable = abstention_tradeoff([_rec(True, False, True, 0.5)], [0.0])
    assert only_answerable[0]["abstention"] is None and only_answerable[0]["false_abstention"] == 0.0


def test_median_answer_chars() -> None:
    records = [{"abstained": False, "answer_chars": 10}, {"abstained": False, "answer_chars": 30},
               {"abstained": True, "answer_chars": None}, {"abstained": False}]
    assert median_answer_chars(records) == 20.0
    assert median_answer_chars([{"abstained": True, "answer_chars": None}]) is None


# --- score_item: fact, confidence, answer length ----------------------------------------------

class CalibratedClient(FakeClient):
    """FakeClient's answers with NotesQA's "fact", "fact_citation" and "confidence" added."""

    def __init__(self, script: dict, facts: dict[str, str | None], confidences: dict[str, float],
                 latency: float = 10.0) -> None:
        super().__init__(script, latency)
        self.facts = facts
        self.confidences = confidences

    def ask(self, question: str, top_k: int, doc_ids: list[str] | None = None) -> tuple[dict, list[dict], float]:
        answer, ranked, latency = super().ask(question, top_k, doc_ids)
        qid = next(i.id for i in ITEMS if i.question == question)
        fact = None if answer["abstained"] else self.facts.get(qid)
        citation = None if fact is None else {"marker": 1, "doc_id": ranked[0]["doc_id"], "paragraph_id": "p",
                                               "start": 0, "end": len(fact), "paragraph_start": 0,
                                               "paragraph_end": len(PARAGRAPHS[ranked[0]["doc_id"]])}
        return ({**answer, "fact": fact, "fact_citation": citation, "confidence": self.confidences[qid]},
                ranked, latency)


FACTS = {"q1": "6月6日", "q2": "13个国家"}
CONFIDENCES = {"q1": 0.9, "q2": 0.8, "q3": 0.2}


def calibrated_records(script: dict = GOOD, facts: dict = FACTS, confidences: dict = CONFIDENCES) -> list[dict]:
    client = CalibratedClient(script, facts, confidences)
    return [score_item(item, *client.ask(item.question, 5)) for item in ITEMS]


def test_score_item_uses_the_fact_for_exact_match_and_f1() -> None:
    q1, q2, q3 = calibrated_records()
    # q2's answer has no fact before its sentence: cut from the text, the concise answer would be
    # the whole sentence (EM 0); the fact the system gave is the gold answer itself
    assert q2["concise_answer"] == "13个国家" and q2["exact_match"] == 1.0 and q2["f1"] == 1.0
    assert q2["fact"] == "13个国家" and q2["confidence"] == 0.8
    assert q1["fact"] == "6月6日" and q1["exact_match"] == 1.0
    assert q2["answer_chars"] == len("网络由13个国家组成。") and q2["correct_any"] is True
    assert q3["abstained"] and q3["fact"] is None and q3["confidence"] == 0.2
    assert q3["answer_chars"] is None and q3["correct"] is None and q3["correct_any"] is False


def test_score_item_falls_back_to_the_answer_text_when_the_fact_is_none() -> None:
    _, q2, _ = calibrated_records(facts={})
    assert q2["fact"] is None
    assert q2["concise_answer"] == "网络由13个国家组成。" and q2["exact_match"] == 0.0 and q2["f1"] > 0.5


def test_score_item_for_a_baseline_without_the_new_fields() -> None:
    for record in records_for(GOOD):
        assert record["fact"] is None and record["confidence"] is None
    wrong = records_for(WORSE)
    assert wrong[2]["correct"] is None and wrong[2]["correct_any"] is False  # answered an unanswerable one
    assert wrong[2]["answer_chars"] == len("无关的段落。")


# --- summarize --------------------------------------------------------------------------------

def test_summarize_adds_calibration_when_records_carry_confidence() -> None:
    m = summarize(calibrated_records(WORSE, confidences={"q1": 0.9, "q2": 0.8, "q3": 0.4}))
    # q1 wrong at 0.9, q2 right at 0.8, q3 (unanswerable, answered) wrong at 0.4
    assert m["calibration_n"] == 3
    assert m["ece"] == pytest.approx((0.9 + 0.2 + 0.4) / 3, abs=1e-4)
    assert len(m["reliability"]) == CALIBRATION_BINS and len(m["accuracy_by_confidence"]) == 5
    assert m["abstention_tradeoff"][0]["threshold"] == 0.0 and m["abstention_tradeoff"][0]["coverage"] == 1.0
    assert m["answer_chars_p50"] == float(len("无关的段落。"))  # the middle of 5, 6 and 11 characters
    assert m["answer_accuracy"] == 0.5 and m["abstention"] == 0.0  # the old keys are all still there


def test_summarize_without_confidences_reports_none_not_zero() -> None:
    m = summarize(records_for(GOOD))
    assert m["ece"] is None
    assert not {"reliability", "accuracy_by_confidence", "abstention_tradeoff", "calibration_n"} & set(m)
    assert m["answer_chars_p50"] is not None  # a baseline's answers have a length too
    old = {"answerable": True, "correct": True, "abstained": False, "has_evidence": True,
           "evidence_recall": {"1": 1.0}, "doc_hit": {"1": 1.0}, "reciprocal_rank": 1.0, "latency_ms": 5.0}
    assert summarize([old], ks=(1,))["answer_chars_p50"] is None


# --- reports and the README table -------------------------------------------------------------

def _result(system: str, records: list[dict], dataset: str = "fake_dev") -> Result:
    return Result(dataset, system, summarize(records, ks=(1, 3, 5, 10, 20)), records)


def test_write_run_adds_calibration_plots_and_the_band_table(tmp_path: Path) -> None:
    ours = _result("notesqa", calibrated_records())
    run = write_run(tmp_path / "run", [ours, _result("langchain", records_for(WORSE, 2.0))])
    for name in ("reliability-fake_dev.png", "abstention_tradeoff-fake_dev.png"):
        with Image.open(run / name) as image:
            image.verify()
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "![reliability](reliability-fake_dev.png)" in report and "### Calibration" in report
    assert "| confidence | notesqa n | notesqa accuracy |" in report  # the baseline has no column
    assert "| [0.8, 1.0] | 2 | 1.000 |" in report
    assert "| expected calibration error |" in report and "| median answer length (chars) |" in report
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["results"]
    assert metrics[0]["metrics"]["ece"] is not None and metrics[1]["metrics"]["ece"] is None
    line = json.loads((run / "per_question.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert {"fact", "confidence", "answer_chars", "correct_any"} <= set(line)


def test_a_run_without_confidences_has_no_calibration_section(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [_result("notesqa", records_for(GOOD))])
    assert not list(run.glob("reliability-*.png")) and not list(run.glob("abstention_tradeoff-*.png"))
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "### Calibration" not in report and "expected calibration error" not in report


def test_tables_show_n_a_for_a_system_without_confidence() -> None:
    results = [_result("notesqa", calibrated_records()), _result("langchain", records_for(WORSE))]
    row = next(line for line in comparison_table(results).splitlines() if "expected calibration error" in line)
    assert row.count("n/a") == 3  # langchain's cell, the difference and the verdict
    length = next(line for line in comparison_table(results).splitlines() if "median answer length" in line)
    assert length.endswith("| — |")  # described, not judged
    assert not any("median answer length" in w for w in where_worse(results))
    assert fmt("answer_chars_p50", 13.5) == "13.5" and fmt("ece", None) == "n/a"
    old = [Result("d", "notesqa", {k: v for k, v in results[0].metrics.items() if k != "ece"})]
    assert "expected calibration error" not in metrics_table(old)


def test_readme_table_reads_result_files_without_the_new_keys(tmp_path: Path) -> None:
    text = render(DEFAULT_RESULTS)  # the committed files, written before the confidence existed
    assert "#### NotesQA on the sample dev sets" in text or "No result files" in text
    folder = tmp_path / "results"
    ours = _result("notesqa", calibrated_records(), "sample_dev")
    older = _result("notesqa", records_for(GOOD), "sample_dev")
    for key in ("ece", "answer_chars_p50"):
        older.metrics.pop(key)
    save_results(folder / "sample_dev.json", [older], {})
    save_results(folder / "combined.json", [older], {"corpora": "corpus"})
    text = render(folder)
    assert "expected calibration error" not in text and "median answer length" not in text
    save_results(folder / "baselines_sample.json", [ours, _result("langchain", records_for(WORSE), "sample_dev")],
                 {"index": "var/index"})
    save_results(folder / "combined.json", [ours], {"corpora": "corpus"})
    text = render(folder)
    ece_rows = [line for line in text.splitlines() if line.startswith("| expected calibration error |")]
    assert len(ece_rows) == 2  # side by side, and the combined index against the sample corpus alone
    assert "n/a" in ece_rows[0] and "n/a" in ece_rows[1]
