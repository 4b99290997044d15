"""retrieval.answer.features.CorpusStats: documents' texts read from the store once for many, then cached."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from retrieval.answer.features import CorpusStats

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
