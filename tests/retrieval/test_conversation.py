"""Follow-up questions completed from the earlier turns (retrieval/conversation.py)."""
from __future__ import annotations

import pytest

from retrieval.conversation import Turn, resolve

pytestmark = pytest.mark.unit


def test_a_question_without_history_is_answered_as_asked() -> None:
    resolved = resolve("第六届会议在哪里举行？", [])
    assert resolved.text == "第六届会议在哪里举行？" and not resolved.resolved and resolved.how is None


def test_a_bare_ordinal_replaces_the_earlier_ordinal() -> None:
    resolved = resolve("那第九届呢？", [Turn("缔约国会议第六届会议在哪里举行？", "圣彼得堡[1]", ("p1",))])
    assert resolved.text == "缔约国会议第九届会议在哪里举行？"
    assert resolved.how == "focus" and resolved.preferred_paragraph_ids == ("p1",)


def test_a_bare_half_day_replaces_the_earlier_one_in_english() -> None:
    resolved = resolve("what about the afternoon?", [Turn("What is on the agenda on the first day in the morning?")])
    assert resolved.text == "What is on the agenda on the first day in the afternoon?"


def test_a_bare_topic_replaces_the_thing_asked_about_and_keeps_the_verb() -> None:
    resolved = resolve("那预算审查呢？", [Turn("2019年工作组会议哪天讨论技术援助？")])
    assert resolved.text == "2019年工作组会议哪天讨论预算审查？"


def test_a_bare_subject_of_the_same_kind_replaces_the_subject() -> None:
    resolved = resolve("那预防腐败工作组呢？", [Turn("资产追回工作组一共开过几次会？")])
    assert resolved.text.startswith("预防腐败工作组") and "几次会" in resolved.text


def test_an_anaphor_stands_for_the_earlier_subject() -> None:
    resolved = resolve("它是哪天通过的？", [Turn("第7/1号决议设立了什么机构？")])
    assert resolved.how == "anaphor" and resolved.text.startswith("第7/1号决议")


def test_an_anaphor_stands_for_the_answer_when_the_earlier_question_asked_for_the_thing() -> None:
    resolved = resolve("它为什么提出主办？", [Turn("哪个国家提出主办第十届会议？", "卡塔尔提出主办第十届会议[1]。")])
    assert resolved.text == "卡塔尔为什么提出主办？"


def test_a_short_question_without_a_subject_gets_the_earlier_one() -> None:
    resolved = resolve("有多少名专家参加？", [Turn("华盛顿专家组会议是什么时候开的？")])
    assert resolved.how == "subject" and resolved.text == "华盛顿专家组会议，有多少名专家参加？"


def test_a_question_that_stands_alone_is_left_as_it_is() -> None:
    question = "全球联络点举措是哪年哪月启动的？"
    assert resolve(question, [Turn("第八届会议在哪个城市开？")]).text == question


def test_a_third_turn_reads_the_second_as_it_was_completed() -> None:
    history = [Turn("第七次专家会议哪天开？"), Turn("那第十二次呢？")]
    resolved = resolve("它在哪个会议室开幕？", history)
    assert resolved.antecedent == "第十二次专家会议哪天开？"
    assert resolved.text.startswith("第十二次专家会议")


def test_a_complete_looking_question_is_also_read_with_the_session_it_lacks() -> None:
    resolved = resolve("12月18日下午的会议讨论了哪些议程项目？", [Turn("第九届会议在哪个城市举行？")])
    assert resolved.how is None and resolved.text == "12月18日下午的会议讨论了哪些议程项目？"
    assert resolved.alternatives == ("第九届，12月18日下午的会议讨论了哪些议程项目？",)


def test_a_question_naming_its_own_session_gets_no_other_reading() -> None:
    resolved = resolve("第十届会议讨论了哪些议程项目？", [Turn("第九届会议在哪个城市举行？")])
    assert resolved.alternatives == ()
