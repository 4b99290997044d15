"""retrieval.query_analysis: English questions expanded with the glossary, relative schedule days."""
from __future__ import annotations

import pytest

from retrieval.query_analysis import expand_query, schedule_day

pytestmark = pytest.mark.unit


def test_english_question_gets_chinese_terms():
    expanded = expand_query("When was the Global Focal Point Initiative launched?")
    assert "全球联络点举措" in expanded and "启动" in expanded
    assert expand_query("资产追回工作组何时开会？") == "资产追回工作组何时开会？"
    assert "2018年3月21日" in expand_query("as of 21 March 2018")


@pytest.mark.parametrize("question, day", [
    ("会议第一天下午那场会开到几点？", 0),
    ("首日上午讨论什么？", 0),
    ("第八届会议最后一天下午安排了什么议程？", -1),
    ("What is on the agenda on the last day?", -1),
    ("会议第二天上午讨论哪个议程项目？", 1),
    ("工作组开完会的第二天，维也纳接着开的是什么会？", None),  # the day after the meeting, not of it
    ("报告须在第一天内提交吗？", None),
    ("会议在哪里举行？", None),
])
def test_schedule_day(question, day):
    assert schedule_day(question) == day
