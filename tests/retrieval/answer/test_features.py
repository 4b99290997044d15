"""retrieval.answer.features: documents' texts read from the store once for many, then cached; what a cited
document says of the question."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from index.normalization import compact
from retrieval.answer.features import NOT_APPLICABLE, CorpusStats, QuestionContext
from retrieval.answer.question import analyse_question

pytestmark = pytest.mark.unit

TEXTS = {"a": ["甲段", "乙段"], "b": ["丙段"]}


def _stats(cached: int = 8) -> tuple[CorpusStats, list[list[str]]]:
    reads: list[list[str]] = []

    def document_texts(doc_ids):
        reads.append(list(doc_ids))
        return {d: TEXTS.get(d, []) for d in doc_ids}

    return CorpusStats({}, 3, {}, document_texts, cached), reads


def test_many_documents_are_read_in_one_go_and_then_served_from_the_cache():
    stats, reads = _stats()
    stats.read_documents(["a", "b", "a", "nobody"])
    assert reads == [["a", "b", "nobody"]]
    assert [stats.document_text(d) for d in ("a", "b", "nobody")] == ["甲段\x1f乙段", "丙段", ""]
    stats.read_documents(["b", "a"])
    assert reads == [["a", "b", "nobody"]]  # nothing read again


def test_a_document_pushed_out_of_the_cache_is_read_again_alone():
    stats, reads = _stats(cached=1)
    stats.read_documents(["a", "b"])  # "a" is pushed out by "b"
    assert stats.document_text("a") == "甲段\x1f乙段"
    assert reads == [["a", "b"], ["a"]]


def test_threads_share_one_cache():
    stats, _ = _stats()
    with ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(stats.document_text, ["a", "b"] * 50))
    assert texts == ["甲段\x1f乙段", "丙段"] * 50


def _context(question: str, documents: dict[str, list[str]], titles: dict[str, str]) -> QuestionContext:
    texts = {d: [compact(p) for p in ps] for d, ps in documents.items()}
    df: dict[str, int] = {}
    for paragraphs in texts.values():
        for term in set(analyse_question(question).terms):
            df[term] = df.get(term, 0) + any(term in p for p in paragraphs)
    stats = CorpusStats(df, len(texts), titles, lambda ids: {d: texts.get(d, []) for d in ids}, 8)
    return QuestionContext(analyse_question(question), stats)


def test_a_document_that_never_names_the_questions_subject_misses_its_rarest_term():
    ctx = _context("王小明现在效力于哪支足球队？",
                   {"wang": ["王小明是中国足球运动员。", "他现在效力于上海足球队。"],
                    "li": ["李大华是中国足球运动员，现在效力于北京足球队。"]},
                   {"wang": "王小明", "li": "李大华"})
    own_coverage, own_missing = ctx.document_terms("wang")
    other_coverage, other_missing = ctx.document_terms("li")
    assert own_missing == 0.0  # every term of the question is in its own document
    assert other_missing == 1.0  # the subject's name, the rarest term, is not in the other
    assert own_coverage > other_coverage > 0.0  # the generic words are in both


def test_a_term_no_paragraph_holds_is_the_rarest_and_missing_everywhere():
    ctx = _context("王小明的午餐菜单是什么？", {"wang": ["王小明是中国足球运动员。"]}, {"wang": "王小明"})
    assert ctx.document_terms("wang")[1] == 1.0  # 午餐菜单: the notes never mention one; 什么 is no term


def test_a_question_without_terms_has_no_document_terms():
    ctx = _context("？", {"a": ["甲段"]}, {})
    assert ctx.document_terms("a") == (NOT_APPLICABLE, NOT_APPLICABLE)
