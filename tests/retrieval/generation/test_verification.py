"""Citation verification on hand-made answers: kept, re-marked, dropped, with the reason."""
from __future__ import annotations

import pytest

from retrieval.generation.settings import VerificationSettings
from retrieval.generation.verification import required_terms, split_claims, verify

pytestmark = pytest.mark.unit
SETTINGS = VerificationSettings()
QUESTION = "资产追回工作组2018年的会议是哪天开幕的？"


def test_claims_are_sentences_with_the_markers_inside_or_after_them():
    claims = split_claims("会议于6月6日开幕[1]，地点在维也纳。[2]图书馆收录180多个法域。[2]")
    assert [(c.text, c.markers) for c in claims] == [("会议于6月6日开幕，地点在维也纳。", [1, 2]),
                                                      ("图书馆收录180多个法域。", [2])]
    assert split_claims("根据资料[1]，会议于6月6日开幕。")[0].markers == [1]
    assert split_claims("2009年1月[1]")[0].text == "2009年1月"


def test_a_supported_claim_keeps_its_marker(numbered, embed):
    checked = verify("会议于2018年6月6日上午10时开幕。[1]", numbered, embed, SETTINGS, QUESTION)
    assert checked.unsupported == []
    assert checked.answer == "会议于2018年6月6日上午10时开幕[1]。"
    assert checked.cited == [1] and not checked.kept[0].remarked


def test_a_claim_with_a_wrong_date_is_dropped_with_the_missing_date(numbered, embed):
    checked = verify("会议于2018年6月6日开幕。[1]会议于2018年6月9日闭幕。[1]", numbered, embed, SETTINGS, QUESTION)
    assert checked.answer == "会议于2018年6月6日开幕[1]。"
    [dropped] = checked.unsupported
    assert dropped.claim == "会议于2018年6月9日闭幕。" and dropped.cited == [1]
    assert "9" in dropped.reason and "6月9日" in dropped.reason


def test_a_claim_citing_the_wrong_paragraph_is_re_marked(numbered, embed):
    checked = verify("法律图书馆收录了180多个法域的法律。[1]", numbered, embed, SETTINGS, "法律图书馆收录了多少个法域的法律？")
    assert checked.unsupported == []
    assert checked.cited == [2] and checked.kept[0].remarked
    assert checked.answer == "法律图书馆收录了180多个法域的法律[2]。"


def test_a_claim_without_a_marker_is_marked_where_it_is_supported(numbered, embed):
    checked = verify("全球联络点举措于2009年1月启动。", numbered, embed, SETTINGS, "全球联络点举措是哪年启动的？")
    assert checked.cited == [3]


def test_a_name_the_paragraph_never_mentions_is_not_supported(numbered, embed):
    checked = verify("马克龙宣布会议于2018年6月6日开幕。[1]", numbered, embed, SETTINGS, "马克龙在会上说了什么？")
    assert checked.kept == []
    assert "does not state 马克" in checked.unsupported[0].reason  # the name as jieba cuts it


def test_restating_the_question_answers_nothing(numbered, embed):
    checked = verify("主席[1]", numbered, embed, SETTINGS, "2018年会议的主席是谁？")
    assert checked.kept == [] and "restates the question" in checked.unsupported[0].reason


def test_a_figure_matches_a_whole_figure_only(numbered, embed):
    # "18" is in "2018" and "180" but is no figure of either paragraph
    checked = verify("法律图书馆收录了18个法域的法律。[2]", numbered, embed, SETTINGS, "法律图书馆收录了多少个法域？")
    assert checked.kept == [] and "18" in checked.unsupported[0].reason


def test_required_terms_name_figures_dates_symbols_and_names():
    terms = required_terms("维也纳会议于2018年6月6日审议了CAC/COSP/WG.2/2018/5号文件。")
    assert {"2018年", "6月6日", "cac/cosp/wg.2/2018/5", "维也纳"} <= set(terms)


def test_a_bare_figure_stated_about_something_else_is_no_answer(numbered, embed):
    # 180 stands in paragraph 2, but its sentence is about the law library, not about staff
    checked = verify("180[2]", numbered, embed, SETTINGS, "秘书处一共有多少名工作人员？")
    assert checked.kept == [] and "not about what the question asks" in checked.unsupported[0].reason
    kept = verify("180[2]", numbered, embed, SETTINGS, "法律图书馆收录了多少个法域的法律？")
    assert kept.answer == "180[2]"
