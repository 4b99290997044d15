"""Question analysis: types, counted nouns, asked kinds, English rendering and the question word's context."""
from __future__ import annotations

import pytest

from retrieval.answer.patterns import asked_kind, counted_noun, question_type
from retrieval.answer.question import analyse_question
from retrieval.query_analysis import rendered_share

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("question, expected", [
    ("会议是哪天开幕的？", "date"),
    ("会议什么时候开？", "date"),
    ("收录了多少个法域？", "number"),
    ("是第 几 次专家会议？", "ordinal"),
    ("准则草案的文号是什么？", "symbol"),
    ("在哪里举行？", "place"),
    ("第八届会议是哪一个城市主办的？", "place"),
    ("会议在哪个国家举行？", "place"),
    ("哈代空间主要应用在哪些领域？", "list"),  # a which-phrase after 在 is a place only when its noun is one
    ("这个方法应用在哪个方面？", None),
    ("克什米尔马鹿分布在哪些地方？", "place"),
    ("网址是什么？", "url"),
    ("四个重点国家是哪几个？", "list"),
    ("工作组为什么这样安排？", "reason"),
    ("工作组的主要任务是什么？", None),
    ("资产追回工作组一年的预算有多少？", "money"),
    ("漠河机场的投资金额是多少？", "money"),
    ("What is the budget of the working group?", "money"),
    ("When was it launched?", "date"),
    ("How many countries received assistance?", "number"),
])
def test_question_type(question, expected):
    assert question_type(question) == expected



@pytest.mark.parametrize("question, noun", [
    ("2018年会议一共有多少个代表团出席？", "代表团"),
    ("反腐败法律图书馆每年有多少访问量？", "访问量"),
    ("那天的资源够开几场有口译的全体会议？", "全体会议"),  # the head after 的, not its modifier
    ("线上参会者能分到多少分钟远程发言？", "分钟"),
    ("预防腐败工作组开了几次会？", None),  # 会 alone is too vague to check
    ("第几次会议在维也纳举行？", None),
    ("前肛鳗生活在水深为多少的水域？", None),  # asks a measure, counts nothing
])
def test_counted_noun(question, noun):
    assert counted_noun(question) == noun


@pytest.mark.parametrize("question, kind", [
    ("缔约国会议第八届会议在阿布扎比哪个酒店举行？", "酒店"),
    ("2023年专家会议的议程项目3要和哪些机构的会议合并讨论？", "机构"),
    ("颊鳞雀鲷属于哪个科目？", "科目"),
    ("缔约国会议第八届会议在哪里举行？", None),
    ("会议是哪天开幕的？", None),
    ("缔约国会议第八届会议是在哪一个城市举行的？", None),  # a type of answer: the notes name the city
    ("这个议题放在哪个时段讨论？", None),
])
def test_asked_kind(question, kind):
    assert asked_kind(question) == kind


@pytest.mark.parametrize("question, share", [
    ("What was the total value of assets returned to requesting States in 2017?", 1.0),
    ("How many ad hoc focal points were taking part in the Global Focal Point platform as of 21 March 2018?", 0.6),
    ("When did the working group hold its frobnication workshop?", 0.8),  # 4 of its 5 content words
    ("哪天开幕？", 1.0),
])
def test_rendered_share(question, share):
    assert rendered_share(question) == pytest.approx(share)


@pytest.mark.parametrize("question, left, right", [
    ("《战国无双3》是由哪两个公司合作开发的？", "《战国无双3》是由", "合作开发的"),  # not the noun asked about
    ("会议是哪天开幕的？", "会议是", "开幕的"),
    ("谁担任会议主席？", "", "担任会议主席"),
    ("蒙古地区在清朝时是以什么制度来实施行政规划的？", "蒙古地区在清朝时是以", "来实施行政规划的"),
])
def test_wh_context_is_what_surrounds_the_question_word(question, left, right):
    assert analyse_question(question).wh_context == (left, right)


def test_question_is_analysed_once_into_terms_and_specifics():
    q = analyse_question("2018年第七届会议在哪里举行？")
    assert q.qtype == "place"
    assert "第七届" in q.specifics and "2018年" in q.specifics
    assert "举行" in q.terms
    english = analyse_question("When did the working group meet?")
    assert english.english and english.qtype == "date" and "工作组" in english.matchable
