"""Candidate generators: units of a paragraph and the spans inside them."""
from __future__ import annotations

import pytest

from retrieval.answer.candidates import UnitView, sentences_with_offsets, span_candidates, split_units
from retrieval.answer.question import analyse_question

pytestmark = pytest.mark.unit


def spans_of(unit: str, question: str, with_ngrams: bool = True) -> dict[str, str]:
    view = UnitView(unit, analyse_question(question).wh_context, 12)
    return {unit[s.start:s.end]: s.kind for s in span_candidates(view, max_words=4, max_chars=30, min_anchor=2,
                                                                  with_ngrams=with_ngrams, max_clause_chars=40)}


def test_sentences_keep_list_items_together():
    text = "5. 工作组重点关注三大主题：(a)积累知识；(b)建立信任；(c)技术援助。工作组强调培训。"
    sentences = [s for _, s in sentences_with_offsets(text)]
    assert sentences == ["5. 工作组重点关注三大主题：(a)积累知识；(b)建立信任；(c)技术援助。", "工作组强调培训。"]


def test_a_long_sentence_is_cut_into_runs_of_clauses_within_the_budget():
    clause = "被告人张某于二〇一九年三月在某市某区实施盗窃，"
    judgment = clause * 8 + "判处有期徒刑一年。"
    units = split_units(judgment, 80)
    assert len(units) > 1
    assert all(len(u.text) <= 80 for u in units)
    assert "".join(u.text for u in units) == judgment  # nothing lost, nothing doubled
    for u in units:
        assert judgment[u.start:u.start + len(u.text)] == u.text
        assert u.sentence == judgment


def test_short_sentences_are_their_own_units():
    units = split_units("会议于6月6日开幕。会议在维也纳举行。", 80)
    assert [u.text for u in units] == ["会议于6月6日开幕。", "会议在维也纳举行。"]


def test_gap_span_stands_where_the_question_word_stands():
    spans = spans_of("《战国无双3》（）是由光荣和ω-force开发的战国无双系列的正统第三续作。",
                     "《战国无双3》是由哪两个公司开发的？", with_ngrams=False)
    assert spans.get("光荣和ω-force") == "gap"


def test_typed_spans_of_every_fact_pattern():
    spans = spans_of("准则草案（CAC/COSP/WG.2/2018/3）已于 2018 年 6 月 6 日提交，汇总 64 个国家的经验。", "什么时候提交的？")
    assert spans.get("CAC/COSP/WG.2/2018/3") == "symbol"
    assert spans.get("2018 年 6 月 6 日") == "date"
    assert spans.get("64 个国家") == "number"


def test_titles_names_and_the_unit_itself_are_candidates():
    unit = "他主演了电影《大红灯笼高高挂》，由张艺谋导演。"
    spans = spans_of(unit, "他主演了哪部电影？")
    assert spans.get("《大红灯笼高高挂》") == "title" and spans.get("大红灯笼高高挂") == "title"
    assert spans.get(unit) == "unit"
    assert "张艺谋" in spans


def test_word_runs_never_cross_a_clause_and_never_start_with_punctuation():
    spans = spans_of("会议于6月6日开幕，由主席主持。", "会议由谁主持？")
    for text in spans:
        assert text[0] not in "，。" and text[-1] not in "，"
        if spans[text] == "ngram":
            assert "，" not in text


def test_unit_view_matches_context_across_spaces():
    view = UnitView("会议 将于 2018 年 6 月 6 日开幕", ("会议将于", "开幕"), 12)
    start = view.text.index("2018")
    end = view.text.index("开幕")
    assert view.left_at[start] == 4
    assert view.right_at[end] == 2


def test_each_clause_of_a_longer_unit_is_a_span():
    unit = "由于河道淤积严重，当地政府于次年开始疏浚工程，工程历时三年。"
    spans = spans_of(unit, "当地政府为什么开始疏浚工程？", with_ngrams=False)
    assert spans.get("由于河道淤积严重") == "clause"
    assert spans.get("工程历时三年") == "clause"
    assert spans.get(unit) == "unit"
    # a one-clause unit has no clause span besides itself
    assert "clause" not in spans_of("会议在维也纳举行。", "会议在哪里举行？").values()
