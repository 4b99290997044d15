"""Hybrid search on the real sample-corpus index."""
from __future__ import annotations

import numpy as np
import pytest

from index.normalization import compact
from retrieval.pipeline import NotesQA
from retrieval.search import _near_duplicate, _trigrams

slow = pytest.mark.slow  # over the real sample index (tests/conftest.py)
unit = pytest.mark.unit


@pytest.fixture(scope="module")
def qa(sample_index) -> NotesQA:
    return NotesQA.load(sample_index)


@slow
@pytest.mark.parametrize("query, needle", [
    ("CAC/COSP/WG.2/2018/5", "CAC/COSP/WG.2/2018/5"),
    ("cac/cosp/wg.2/2018/3 是什么文件", "CAC/COSP/WG.2/2018/3"),
    ("第 6/2 号决议", "第6/2号决议"),
    ("CAC/COSP/EG.1/2019/4", "CAC/COSP/EG.1/2019/4"),
])
def test_exact_lookups_are_not_drowned_by_the_dense_side(qa, query, needle):
    top = qa.search(query, top_k=3)
    assert compact(needle) in compact(top[0].paragraph.text)


@slow
def test_a_year_every_schedule_row_carries_does_not_outrank_the_paragraph_that_answers(qa):
    """All of 2023's schedule rows hold "2023年"; the agenda note that answers does not repeat the year."""
    hits = qa.search("2023年专家会议的议程项目3要和哪些机构的会议合并讨论？", top_k=5)
    assert any("议程项目3将与实施情况审议组" in compact(h.paragraph.text) for h in hits)
    rarity = qa.searcher._rarity
    assert rarity("cac/cosp/eg.1/2023/2") > 0.8  # a symbol: two paragraphs hold it
    assert rarity("2023年") < 0.5


@slow
def test_spacing_and_width_do_not_matter(qa):
    plain = qa.search("2018年6月6日星期三上午10时开幕", top_k=1)[0]
    fullwidth = qa.search("２０１８年６月６日 星期三 上午１０时 开幕", top_k=1)[0]
    assert plain.paragraph.paragraph_id == fullwidth.paragraph.paragraph_id
    assert "2018 年 6 月 6 日" in plain.paragraph.text


@slow
def test_traditional_characters_find_simplified_text(qa):
    hit = qa.search("法律圖書館收錄了多少個法域的法律", top_k=3)
    assert any("法律图书馆" in h.paragraph.text and "180" in h.paragraph.text for h in hit)


@slow
def test_repeated_paragraphs_collapse(qa):
    # 004 lists the same secretariat note under three agenda items
    results = qa.search("秘书处关于增进《联合国反腐败公约》下国际合作不限成员名额政府间专家会议任务授权执行进展的说明", top_k=10)
    texts = [compact(h.paragraph.text) for h in results]
    assert len(texts) == len(set(texts))


@slow
def test_search_modes_rank_differently_but_all_work(qa):
    query = "法律图书馆收录了多少个法域的法律？"
    for mode in ("hybrid", "dense", "keyword"):
        hits = qa.search(query, top_k=5, mode=mode)
        assert hits and any("180" in h.paragraph.text for h in hits), mode
    assert all(h.dense == 0.0 for h in qa.search(query, top_k=3, mode="keyword"))


@slow
def test_headings_are_not_search_results(qa):
    assert all(h.paragraph.kind != "heading" for h in qa.search("已采取的行动", top_k=20))


@unit
def test_near_duplicate_is_trigram_jaccard():
    text = compact("秘书处关于增进国际合作不限成员名额政府间专家会议任务授权执行进展的说明")
    same, edited = _trigrams(text), _trigrams(text[:-1] + "书")
    assert _near_duplicate(same, same, 0.9)
    assert _near_duplicate(same, edited, 0.9) == (len(same & edited) / len(same | edited) >= 0.9)
    assert not _near_duplicate(same, _trigrams(text[:len(text) // 2]), 0.9)  # half the text is no duplicate


@unit
@pytest.mark.parametrize("shared, extra, duplicate", [(9, 0, True), (8, 0, False), (9, 1, False), (0, 0, False)])
def test_near_duplicate_counts_the_union_at_the_threshold(shared, extra, duplicate):
    ten = frozenset(f"g{i:02d}" for i in range(10))
    other = frozenset(sorted(ten)[:shared]) | frozenset(f"x{i}" for i in range(extra))
    assert _near_duplicate(ten, other, 0.9) is duplicate  # 9 of 10 shared: Jaccard 0.9; 9 of 11: 0.82
    assert _near_duplicate(frozenset(), frozenset(), 0.9) is False


@slow
def test_session_ordinal_picks_the_meeting_asked_about(qa):
    """Many paragraphs speak of expert meetings and dates; only one of the sixth meeting's date."""
    hits = qa.search("第六次国际合作专家会议是什么时候在维也纳开的？", top_k=5)
    assert any("2017年11月6日和7日" in compact(h.paragraph.text) for h in hits)


@slow
@pytest.mark.parametrize("question, date", [
    ("第八届会议最后一天下午安排了什么议程？", "12月20日"),
    ("2018年资产追回工作组会议第一天下午那场会开到几点？", "6月6日"),
])
def test_a_day_of_the_schedule_is_read_off_the_document_found(qa, question, date):
    """No paragraph says "最后一天": the schedule's own dates tell which day that is."""
    rows = [h for h in qa.search(question, top_k=5) if h.paragraph.kind == "table_row"]
    assert rows and compact(rows[0].paragraph.text).startswith(date)


@slow
def test_a_long_question_embeds_its_head_only(qa):
    # bounded cost per question: the embedder every question shares reads at most query_embed_max_chars
    limit = qa.searcher.settings.query_embed_max_chars
    question = "资产追回工作组的会议是哪天开幕的？" + "附言：天气晴朗，交通顺畅。" * 150  # under the API's limit
    assert len(question) > 4 * limit
    head = qa.embedder.encode_query([question[:limit]])[0]
    whole = qa.embedder.encode_query([question])[0]
    assert np.allclose(qa.searcher.embed_query(question), head)
    assert not np.allclose(head, whole, atol=1e-4)  # the cap is what made them equal
    assert qa.search(question, top_k=3)


@slow
def test_a_documents_texts_are_its_searchable_paragraphs_in_order_read_at_once(qa):
    doc_ids = list(qa.snapshot.documents)
    texts = qa.searcher.searchable_document_texts([*doc_ids, "nobody"])
    assert texts["nobody"] == []
    for doc_id in doc_ids:
        rows = qa.searcher.rows_of_document(doc_id)
        assert texts[doc_id] == qa.searcher.row_texts(rows)  # what search finds of it, in document order
    # the sample has headings, which search does not find: the filter is what made the texts above equal
    assert any(len(qa.searcher.rows_of_document(d)) < len(qa.snapshot.paragraphs.document(d)) for d in doc_ids)
