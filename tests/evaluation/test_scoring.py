"""Every metric on hand-made cases whose values are worked out by hand."""
from __future__ import annotations

import math

import pytest

from evaluation.scoring import (abstention_rate, accuracy_by, answer_correct, char_f1, citation_precision,
                                citation_recall, citation_supports, concise_answer, doc_hit_at_k, doc_ranks,
                                evidence_in, evidence_ranks, evidence_recall_at_k, exact_match, list_item_recall,
                                mrr_from_ranks, ndcg_at_k, normalize_span, percentile, question_ok, recall_at_k,
                                recall_curve, reciprocal_rank, strip_markers, summarize)

pytestmark = pytest.mark.unit


# --- retrieval ------------------------------------------------------------------------------

def test_evidence_in_sees_through_spaces_width_and_traditional_characters() -> None:
    assert evidence_in("2018年6月6日开幕", "会议将于 2018 年 6 月 6 日開幕。")
    assert evidence_in("ＡＢＣ 会议", "abc会议")  # NFKC + lower case
    assert not evidence_in("2018年6月7日", "会议将于 2018 年 6 月 6 日开幕")
    assert not evidence_in("   ", "anything")


def test_evidence_in_matches_a_table_row_cell_by_cell() -> None:
    assert evidence_in("下午 3 时至 6 时\t4\t民事诉讼", "下午3时至6时 | 4 | 民事诉讼和行政诉讼")
    assert not evidence_in("下午 3 时至 6 时\t5\t刑事", "下午3时至6时 | 4 | 民事诉讼")


def test_first_ranks_of_evidence_and_documents() -> None:
    ranked = ["无关段落", "会议将于 6 月 6 日开幕", "另一段 6月6日开幕"]
    assert evidence_ranks(["6月6日开幕", "闭幕式"], ranked) == [2, None]
    assert doc_ranks(["d2", "d9"], ["d1", "d2", "d2"]) == [2, None]


@pytest.mark.parametrize("ranks,k,expected", [
    ([1, None, 3], 1, 1 / 3), ([1, None, 3], 3, 2 / 3), ([1, None, 3], 20, 2 / 3), ([], 5, 0.0), ([None], 5, 0.0),
])
def test_recall_at_k(ranks, k, expected) -> None:
    assert recall_at_k(ranks, k) == pytest.approx(expected)


def test_legacy_recall_functions_agree_with_the_rank_based_ones() -> None:
    ranked = ["a b c", "gold one here", "x", "gold two"]
    evidence = ["gold one", "gold two", "gold three"]
    assert evidence_recall_at_k(evidence, ranked, 2) == pytest.approx(1 / 3)
    assert evidence_recall_at_k(evidence, ranked, 4) == pytest.approx(2 / 3)
    assert recall_at_k(evidence_ranks(evidence, ranked), 4) == pytest.approx(2 / 3)
    assert evidence_recall_at_k([], ranked, 4) == 0.0
    assert doc_hit_at_k(["d3"], ["d1", "d2", "d3"], 2) == 0.0
    assert doc_hit_at_k(["d3"], ["d1", "d2", "d3"], 3) == 1.0


def test_reciprocal_rank_and_mrr() -> None:
    assert reciprocal_rank(["gold"], ["x", "y", "the gold"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(["gold"], ["x"]) == 0.0
    assert mrr_from_ranks([None, 3, 4]) == pytest.approx(1 / 3)
    assert mrr_from_ranks([None]) == 0.0
    assert mrr_from_ranks([]) == 0.0


@pytest.mark.parametrize("ranks,expected", [
    ([1], 1.0),
    ([3], 1 / math.log2(4)),  # 0.5
    ([1, 2], 1.0),
    ([2, 1], 1.0),  # order of the units does not matter
    ([2, None], (1 / math.log2(3)) / (1 + 1 / math.log2(3))),
    ([None], 0.0),
    ([11], 0.0),  # beyond the cut-off
    ([], 0.0),
])
def test_ndcg_at_10(ranks, expected) -> None:
    assert ndcg_at_k(ranks, 10) == pytest.approx(expected)


def test_ndcg_counts_a_paragraph_holding_two_units_once() -> None:
    # both units first found at rank 1: one gain of 1 against an ideal of two relevant results
    assert ndcg_at_k([1, 1], 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))


# --- answers --------------------------------------------------------------------------------

def test_answer_correct_normalises_spaces_width_case_and_traditional_characters() -> None:
    assert answer_correct("會議於 2018 年 6 月 6 日開幕", ["2018年6月6日"])
    assert answer_correct("网址是 WWW.Track.org", ["www.track.org"])
    assert not answer_correct("2018年6月7日", ["2018年6月6日", "6月6日"])
    assert not answer_correct("anything", [""])  # an empty gold never matches


def test_answer_correct_for_lists_needs_every_item() -> None:
    items = ["尼日利亚", "斯里兰卡"]
    assert answer_correct("尼日利亚、斯里兰卡", ["斯里兰卡"], items)
    assert not answer_correct("斯里兰卡", ["斯里兰卡"], items)


def test_list_item_recall() -> None:
    items = ["尼日利亚", "斯里兰卡", "突尼斯", "乌克兰"]
    assert list_item_recall("尼日利亚和斯里兰卡", items) == 0.5
    assert list_item_recall("尼日利亚、斯里兰卡、突尼斯和烏克蘭", items) == 1.0
    assert list_item_recall("", items) == 0.0
    assert list_item_recall("x", []) == 0.0


def test_strip_markers() -> None:
    assert strip_markers("甲。[1]乙。[2]") == "甲。乙。"
    assert strip_markers("no markers") == "no markers"


@pytest.mark.parametrize("answer,quote,expected", [
    # a fact was isolated: "{fact}。{sentence}[1]"
    ("2018 年 6 月 6 日。会议将于 2018 年 6 月 6 日开幕。[1]", "会议将于 2018 年 6 月 6 日开幕。", "2018 年 6 月 6 日"),
    ("2018 年 6 月 6 日。会议将于 2018 年 6 月 6 日开幕。[1]", None, "2018 年 6 月 6 日"),
    # English question: "{fact}. {sentence}[1]"
    ("234 个. 代表 133 个国家的 234 个特设联络点正在参与。[1]", "代表 133 个国家的 234 个特设联络点正在参与。", "234 个"),
    # the sentence starts with a printed paragraph number: the quote tells it from the fact
    ("2009 年 1 月。66. 全球联络点举措于 2009 年 1 月启动。[1]", "66. 全球联络点举措于 2009 年 1 月启动。", "2009 年 1 月"),
    # two sentences of one paragraph share the marker; the quote holds both
    ("4 日至 6 日。论坛已于 4 日至 6 日举办。[1]另一句。[1]", "论坛已于 4 日至 6 日举办。另一句。", "4 日至 6 日"),
    # no fact: the first sentence
    ("会议将于6月6日开幕。[1]另一句。[2]", "会议将于6月6日开幕。", "会议将于6月6日开幕。"),
    ("会议将于6月6日开幕。[1]另一句。[2]", None, "会议将于6月6日开幕。"),
    # a baseline's passage has no markers: all of it
    ("整段文字。第二句。", None, "整段文字。第二句。"),
])
def test_concise_answer(answer: str, quote: str | None, expected: str) -> None:
    assert concise_answer(answer, quote) == expected


def test_normalize_span_drops_punctuation_and_spaces() -> None:
    assert normalize_span("「战史演武」& 6 月。") == "战史演武6月"  # "&" is punctuation too
    assert normalize_span("16.4 %") == "164"
    assert normalize_span("東京，") == "东京"


@pytest.mark.parametrize("prediction,golds,expected", [
    ("2018 年 6 月 6 日", ["2018年6月6日"], 1.0),
    ("6月6日。", ["2018年6月6日", "6月6日"], 1.0),
    ("東京", ["东京"], 1.0),
    ("6月6日开幕", ["6月6日"], 0.0),
    ("", ["6月6日"], 0.0),
])
def test_exact_match(prediction, golds, expected) -> None:
    assert exact_match(prediction, golds) == expected


@pytest.mark.parametrize("prediction,golds,expected", [
    ("6月6日", ["6月6日"], 1.0),
    # 6 predicted characters, 4 gold, 4 shared: P = 4/6, R = 1 -> F1 = 0.8
    ("6月6日开幕", ["6月6日"], 0.8),
    # best over the golds
    ("6月6日开幕", ["完全无关", "6月6日"], 0.8),
    # repeated characters count as often as they occur: "aab" vs "ab": common 2, P 2/3, R 1 -> 0.8
    ("aab", ["ab"], 0.8),
    ("abc", ["xyz"], 0.0),
    ("", ["abc"], 0.0),
])
def test_char_f1(prediction, golds, expected) -> None:
    assert char_f1(prediction, golds) == pytest.approx(expected)


# --- citations ------------------------------------------------------------------------------

def test_citation_supports_by_evidence_or_by_document() -> None:
    assert citation_supports("会议于 6 月 6 日开幕", "d1", ["6月6日开幕"], ["d2"])
    assert not citation_supports("别的段落", "d2", ["6月6日开幕"], ["d2"])  # evidence decides when there is some
    assert citation_supports("别的段落", "d2", [], ["d2"])
    assert not citation_supports("别的段落", "d3", [], ["d2"])


def test_citation_precision() -> None:
    assert citation_precision([True, False, False, True]) == 0.5
    assert citation_precision([True]) == 1.0
    assert citation_precision([]) is None


def test_citation_recall() -> None:
    evidence = ["甲乙丙丁", "戊己庚辛"]
    assert citation_recall(evidence, ["d1"], ["前文 甲乙丙丁 后文"], ["d1"]) == 0.5
    assert citation_recall(evidence, ["d1"], ["甲乙丙丁", "戊己庚辛。"], ["d1", "d1"]) == 1.0
    assert citation_recall(evidence, ["d1"], [], []) == 0.0
    assert citation_recall([], ["d1", "d2"], ["x"], ["d2"]) == 0.5
    assert citation_recall([], [], ["x"], ["d2"]) == 0.0


# --- aggregation ----------------------------------------------------------------------------

def test_percentile_interpolates_linearly() -> None:
    assert percentile([10, 20, 30, 40], 50) == 25.0
    assert percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)
    assert percentile([], 50) == 0.0


def test_abstention_rate() -> None:
    assert abstention_rate([{"abstained": True}, {"abstained": False}, {"abstained": False},
                            {"abstained": True}]) == 0.5
    assert abstention_rate([]) is None


def _record(**overrides) -> dict:
    record = {"id": "q", "type": "date", "tags": [], "answerable": True, "correct": True, "abstained": False,
              "has_evidence": True, "evidence_ranks": [1], "doc_ranks": [1],
              "evidence_recall": {"1": 1.0, "3": 1.0, "5": 1.0, "10": 1.0, "20": 1.0},
              "doc_hit": {"1": 1.0, "3": 1.0, "5": 1.0, "10": 1.0, "20": 1.0},
              "reciprocal_rank": 1.0, "ndcg@10": 1.0, "list_recall": None, "exact_match": 1.0, "f1": 1.0,
              "citation_precision": 1.0, "citation_recall": 1.0, "latency_ms": 10.0}
    record.update(overrides)
    return record


def test_summarize_on_hand_made_records() -> None:
    records = [
        _record(id="a", latency_ms=10.0),
        _record(id="b", correct=False, evidence_ranks=[3], doc_ranks=[2],
                evidence_recall={"1": 0.0, "3": 1.0, "5": 1.0, "10": 1.0, "20": 1.0},
                doc_hit={"1": 0.0, "3": 1.0, "5": 1.0, "10": 1.0, "20": 1.0}, reciprocal_rank=1 / 3,
                exact_match=0.0, f1=0.5, citation_precision=0.0, citation_recall=0.0, latency_ms=30.0,
                type="number", **{"ndcg@10": 0.5}),
        _record(id="c", answerable=False, correct=None, abstained=True, has_evidence=False, evidence_ranks=[],
                doc_ranks=[], type="unanswerable", latency_ms=20.0, citation_precision=None),
        _record(id="d", answerable=False, correct=None, abstained=False, has_evidence=False, evidence_ranks=[],
                doc_ranks=[], type="unanswerable", latency_ms=40.0),
    ]
    m = summarize(records, ks=(1, 3))
    assert (m["questions"], m["answerable"], m["unanswerable"]) == (4, 2, 2)
    assert m["recall@1"] == 0.5 and m["recall@3"] == 1.0
    assert m["evidence_recall@1"] == 0.5 and m["doc_hit@1"] == 0.5
    assert m["mrr"] == pytest.approx((1 + 1 / 3) / 2, abs=1e-4)
    assert m["ndcg@10"] == 0.75
    assert m["answer_accuracy"] == 0.5
    assert m["exact_match"] == 0.5 and m["f1"] == 0.75
    assert m["citation_precision"] == 0.5 and m["citation_recall"] == 0.5
    assert m["abstention"] == 0.5 and m["false_abstention"] == 0.0
    assert m["latency_p50_ms"] == 25.0 and m["latency_p95_ms"] == pytest.approx(38.5)
    assert m["list_item_recall"] is None
    assert m["recall_curve"]["1"] == 0.5 and m["recall_curve"]["3"] == 1.0 and len(m["recall_curve"]) == 20
    assert m["accuracy_by_type"] == {"date": {"n": 1, "accuracy": 1.0}, "number": {"n": 1, "accuracy": 0.0},
                                     "unanswerable": {"n": 2, "accuracy": 0.5}}


def test_summarize_still_reads_records_without_the_new_fields() -> None:
    """Records as the first runner wrote them (no ranks, EM, citations) still summarise."""
    old = {"answerable": True, "correct": True, "abstained": False, "has_evidence": True,
           "evidence_recall": {"1": 1.0, "5": 1.0}, "doc_hit": {"1": 1.0, "5": 1.0}, "reciprocal_rank": 1.0,
           "latency_ms": 5.0, "type": "date"}
    m = summarize([old], ks=(1, 5))
    assert m["answer_accuracy"] == 1.0 and m["recall@5"] == 1.0 and m["evidence_recall@5"] == 1.0
    assert "exact_match" not in m and "citation_precision" not in m


def test_question_ok_and_accuracy_by_tag() -> None:
    records = [_record(tags=["traditional"]), _record(tags=["traditional", "typo"], correct=False),
               _record(answerable=False, correct=None, abstained=True, tags=["typo"])]
    assert [question_ok(r) for r in records] == [True, False, True]
    assert accuracy_by(records, "tags") == {"traditional": {"n": 2, "accuracy": 0.5},
                                            "typo": {"n": 2, "accuracy": 0.5}}


def test_recall_curve_falls_back_to_documents_without_evidence() -> None:
    records = [_record(has_evidence=False, evidence_ranks=[], doc_ranks=[2]), _record(evidence_ranks=[None])]
    curve = recall_curve(records, depth=3)
    assert curve == {"1": 0.0, "2": 0.5, "3": 0.5}


def test_evidence_in_ignores_a_footnote_mark() -> None:
    # the same sentence printed as a body paragraph and as a table note ("^a ...") is the same evidence
    assert evidence_in("<sup>a</sup> 对于议程项目 5，将在工作组", "对于议程项目 5，将在工作组和实施情况审议组的联席会议上")
    assert evidence_in("¹ 参见 www.track.unodc.org", "¹ 参见 www.track.unodc.org/assetrecovery")
    assert not evidence_in("^a 对于议程项目 6", "对于议程项目 5，将在工作组")
