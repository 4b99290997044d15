"""index.builder: sources -> paragraphs -> vectors + keywords -> snapshot.

Most tests use a model-free hash embedder (fast, in-process); see test_snapshot.py and
test_embedders.py for builds with the real embedders.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import index.builder as builder_mod
from index.builder import SEARCHABLE_KINDS, BuildError, build_index, document_title
from index.embedders import EmbedderError
from index.models import Paragraph, SourceDocument
from index.snapshot import CURRENT, load_snapshot
from index.tokenization import tokenize

from .conftest import CORPUS, DOC_000, DOC_001, DOC_002, DOC_003, DOC_004, TINY_DOC_A

pytestmark = pytest.mark.unit


def _build(corpus, index_dir):
    return build_index(corpus, index_dir, "test-hash", show_progress=False)


@pytest.fixture(scope="module")
def real_corpus_build(tmp_path_factory):
    """The five real notes built once with the hash embedder."""
    from index import embedders

    from .conftest import HashEmbedder

    emb = HashEmbedder()
    embedders._LOADED["test-hash"] = emb
    try:
        index_dir = tmp_path_factory.mktemp("real-build") / "index"
        report = _build(CORPUS, index_dir)
        return report, load_snapshot(index_dir, expected_embedder=emb.name), emb
    finally:
        embedders._LOADED.pop("test-hash", None)


def test_real_corpus_build_counts(real_corpus_build, segmented):
    report, snap, _ = real_corpus_build
    expected_paragraphs = sum(len(s.paragraphs) for s in segmented.values())
    expected_searchable = sum(1 for s in segmented.values() for p in s.paragraphs if p.kind != "heading")
    assert (report.documents, report.paragraphs, report.searchable) == (5, expected_paragraphs, expected_searchable)
    assert report.skipped == []
    assert (report.embedded, report.cached) == (expected_searchable, 0)
    assert sorted(snap.documents) == [DOC_000, DOC_001, DOC_002, DOC_003, DOC_004]
    assert [p.paragraph_id for p in snap.paragraphs if p.doc_id == DOC_001] == [
        p.paragraph_id for p in segmented[DOC_001].paragraphs]
    assert {snap.paragraphs[i].kind for i in snap.searchable} <= SEARCHABLE_KINDS
    assert "heading" not in {snap.paragraphs[i].kind for i in snap.searchable}


def test_documents_json_merges_header_and_metadata_json(real_corpus_build):
    _, snap, _ = real_corpus_build
    doc = snap.documents[DOC_001]
    assert doc["title"] == "资产追回问题不限成员名额政府间工作组任务授权执行进展报告（秘书处的说明）"
    assert doc["source"] == f"{DOC_001}.txt"
    assert doc["metadata"]["date"] == "2018-04-04"
    assert doc["metadata"]["original_language"] == "en"  # from the note's own header
    assert doc["metadata"]["symbol"] is None  # from metadata.json
    assert doc["paragraphs"] == sum(1 for p in snap.paragraphs if p.doc_id == DOC_001)
    assert doc["chars"] == len((CORPUS / f"{DOC_001}.txt").read_text(encoding="utf-8"))


def test_embedded_text_is_title_context_and_paragraph(real_corpus_build):
    _, snap, emb = real_corpus_build
    embedded = [t for batch in emb.calls for t in batch]
    assert len(embedded) == len(snap.searchable)
    [text] = [t for t in embedded if "20. 法律图书馆" in t]
    title, rest = text.split("\n", 1)
    assert title == snap.documents[DOC_001]["title"]
    assert "A. 积累知识" in rest and "已采取的行动" in rest  # the section path situates the paragraph
    assert rest.endswith(next(p.text for p in snap.paragraphs if p.paragraph_number == "20"
                              and p.doc_id == DOC_001))
    # table rows are embedded with their column names
    [row] = [t for t in embedded if "专题讨论" in t and "6月7日" in t]
    assert "日期和时间 / 议程项目 / 标题或说明" in row


def test_keyword_index_finds_paragraph_20(real_corpus_build):
    _, snap, _ = real_corpus_build
    scores = np.asarray(snap.keyword.scores(tokenize("法律图书馆收录了多少个法域的法律")))
    assert len(scores) == len(snap.searchable)
    best = snap.paragraphs[int(snap.searchable[int(np.argmax(scores))])]
    assert (best.doc_id, best.paragraph_number) == (DOC_001, "20")


def test_dense_rows_are_the_embeddings_of_their_paragraphs(real_corpus_build):
    _, snap, emb = real_corpus_build
    embedded = [t for batch in emb.calls for t in batch]
    stored = snap.dense.vectors(range(snap.dense.size))
    assert np.allclose(stored, np.vstack([emb._vec(t) for t in embedded]), atol=1e-6)


# ---------------------------------------------------------------- skipped sources and failures

def test_bad_sources_are_reported_and_the_rest_is_built(tiny_corpus, tmp_path, hash_embedder):
    (tiny_corpus / "empty.txt").write_bytes(b"")
    (tiny_corpus / "binary.md").write_bytes(b"\x00\x01PK\x03\x04")
    (tiny_corpus / "header-only.txt").write_text(
        "联合国反腐败公约\n\nDistr.: General\n4 April 2018\nChinese\nOriginal: English\n", encoding="utf-8")
    (tiny_corpus / "bulk.jsonl").write_text(
        json.dumps({"doc_id": "a", "text": "与 a.txt 重复的编号。"}, ensure_ascii=False) + "\n"
        + json.dumps({"doc_id": "j", "title": "批量", "text": "1. 批量导入的一段说明。"}, ensure_ascii=False) + "\n"
        + "{oops\n", encoding="utf-8")
    report = _build(tiny_corpus, tmp_path / "index")
    reasons = {s.source.rsplit("/", 1)[-1]: s.reason for s in report.skipped}
    assert set(reasons) == {"empty.txt", "binary.md", "header-only.txt", "bulk.jsonl:1", "bulk.jsonl:3"}
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.md"]
    assert reasons["header-only.txt"] == "no text paragraphs found"
    assert "duplicate doc_id 'a'" in reasons["bulk.jsonl:1"]
    assert report.documents == 3
    snap = load_snapshot(tmp_path / "index")
    assert sorted(snap.documents) == ["a", "b", "j"]
    assert snap.documents["j"]["source"] == f"{tiny_corpus / 'bulk.jsonl'}:2"
    assert snap.documents["a"]["title"] == "资产追回工作组临时议程说明"  # a.txt won, not the jsonl record
    assert len(snap.manifest["skipped"]) == 5


def test_a_note_that_fails_to_segment_does_not_stop_the_build(tiny_corpus, tmp_path, hash_embedder, monkeypatch):
    real = builder_mod.segment_document

    def flaky(doc):
        if doc.doc_id == "b":
            raise ValueError("unexpected layout")
        return real(doc)

    monkeypatch.setattr(builder_mod, "segment_document", flaky)
    report = _build(tiny_corpus, tmp_path / "index")
    assert report.documents == 1
    [skip] = report.skipped
    assert skip.source.endswith("b.txt") and "could not be segmented: unexpected layout" in skip.reason


def test_nothing_to_index_raises_build_error_with_reasons(tmp_path, hash_embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "empty.txt").write_bytes(b"")
    with pytest.raises(BuildError, match="nothing to index.*empty.txt: .*empty"):
        _build(corpus, tmp_path / "index")
    assert not (tmp_path / "index" / CURRENT).exists()
    (corpus / "empty.txt").unlink()
    with pytest.raises(BuildError, match="no .txt/.md/.jsonl sources"):
        _build(corpus, tmp_path / "index")


def test_unknown_embedder_fails_before_writing_anything(tiny_corpus, tmp_path):
    with pytest.raises(EmbedderError, match="no-such-model"):
        build_index(tiny_corpus, tmp_path / "index", "no-such-model", show_progress=False)
    assert not (tmp_path / "index" / CURRENT).exists()


def test_rebuild_uses_the_cache_per_text(tiny_corpus, tmp_path, hash_embedder):
    first = _build(tiny_corpus, tmp_path / "index")
    assert (first.embedded, first.cached) == (5, 0)
    (tiny_corpus / "a.txt").write_text(TINY_DOC_A.replace("维也纳国际中心", "纽约总部"), encoding="utf-8")
    second = _build(tiny_corpus, tmp_path / "index")
    assert (second.embedded, second.cached) == (1, 4)
    assert [t.split("\n")[-1] for t in hash_embedder.calls[-1]] == [
        "1. 工作组会议将于 2018 年 6 月 6 日上午 10 时在纽约总部开幕。"]
    # a changed title changes every embedded text of that document
    meta = json.loads((tiny_corpus / "metadata.json").read_text(encoding="utf-8"))
    meta["documents"]["b.txt"]["title"] = "新标题"
    (tiny_corpus / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    third = _build(tiny_corpus, tmp_path / "index")
    assert (third.embedded, third.cached) == (2, 3)


# ---------------------------------------------------------------- document titles

def _p(kind: str, text: str) -> Paragraph:
    return Paragraph("p", "d", 0, kind, text, 0, len(text))


def test_document_title_fallbacks():
    doc = SourceDocument("doc-7", "  ", "", "doc-7.txt")
    assert document_title(SourceDocument("d", " 给定标题 ", "", "d.txt"), [_p("heading", "标题")]) == "给定标题"
    assert document_title(doc, [_p("paragraph", "正文"), _p("front_matter", "资产追回问题\n政府间工作组")]) \
        == "资产追回问题 政府间工作组"
    assert document_title(doc, [_p("paragraph", "甲" * 60)]) == "甲" * 40
    assert document_title(doc, []) == "doc-7"
