"""index.paragraph_store: the SQLite store answers every lookup as the whole list would, from any thread or
forked process; a format-1 snapshot still loads."""
from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from index.models import Paragraph
from index.normalization import compact
from index.paragraph_store import (STORE_FILE, MemoryParagraphStore, SqliteParagraphStore, StoreSettings,
                                   open_store, write_store)

unit = pytest.mark.unit


def _paragraphs() -> list[Paragraph]:
    out = []
    for doc in ("会议甲", "report-b", "c"):
        for ordinal in range(4):
            kind = "table_row" if ordinal == 3 else "paragraph"
            out.append(Paragraph(f"p{ordinal}", doc, ordinal, kind, f"{doc}的第{ordinal}段：专家会议讨论司法协助。",
                                 10 * ordinal, 10 * ordinal + 9, str(ordinal + 1), "议程" if ordinal else None,
                                 "列：日期" if kind == "table_row" else ""))
    return out


@pytest.fixture
def stores(tmp_path: Path):
    paragraphs = _paragraphs()
    df = {"专家会议": 12, "司法协助": 12, "会议甲": 4}
    write_store(tmp_path / STORE_FILE, paragraphs, df)
    return paragraphs, df, SqliteParagraphStore(tmp_path / STORE_FILE), MemoryParagraphStore(paragraphs)


@unit
def test_sqlite_and_memory_stores_answer_alike(stores):
    paragraphs, _, sqlite_store, memory = stores
    for store in (sqlite_store, memory):
        assert len(store) == len(paragraphs)
        assert list(store) == paragraphs
        assert store.many([7, 0, 7]) == [paragraphs[7], paragraphs[0], paragraphs[7]]
        assert store[5] == paragraphs[5] and store[np.int64(5)] == paragraphs[5]
        assert store.compact_texts([6, 1]) == [compact(paragraphs[6].text), compact(paragraphs[1].text)]
        assert store.doc_ids([6, 1]) == ["report-b", "会议甲"]
        assert store.positions_of_document("report-b").tolist() == [4, 5, 6, 7]
        assert store.positions_of_document("nobody").tolist() == []
        assert store.document("c") == paragraphs[8:]
        assert store.find("report-b", "p2") == paragraphs[6] and store.find("report-b", "p9") is None
        assert store.document_of("p1") == "会议甲" and store.document_of("p9") is None
        assert store.compact_texts_of_documents(["c", "nobody", "report-b", "c"]) == {
            "c": [(i, compact(paragraphs[i].text)) for i in range(8, 12)], "nobody": [],
            "report-b": [(i, compact(paragraphs[i].text)) for i in range(4, 8)]}
        with pytest.raises(IndexError):
            store.many([len(paragraphs)])
        with pytest.raises(TypeError):
            store[1:3]


@unit
def test_documents_past_one_reads_chunk_are_read_in_chunks(stores, tmp_path: Path):
    paragraphs, _, _, _ = stores
    chunked = SqliteParagraphStore(tmp_path / STORE_FILE, StoreSettings(read_chunk=2))
    texts = chunked.compact_texts_of_documents(["c", "会议甲", "report-b"])
    assert [len(texts[d]) for d in ("c", "会议甲", "report-b")] == [4, 4, 4]
    assert texts["会议甲"][0] == (0, compact(paragraphs[0].text))


@unit
def test_term_frequencies_are_a_mapping(stores):
    _, df, sqlite_store, _ = stores
    frequencies = sqlite_store.term_frequencies()
    assert dict(frequencies) == df and len(frequencies) == 3
    assert frequencies["专家会议"] == 12 and frequencies.get("无此词", 0) == 0
    assert "司法协助" in frequencies and "无此词" not in frequencies


@unit
def test_threads_read_one_store_at_once(stores):
    paragraphs, _, sqlite_store, _ = stores
    with ThreadPoolExecutor(8) as pool:
        read = list(pool.map(lambda i: sqlite_store.many([i % len(paragraphs), 0]), range(200)))
    assert read == [[paragraphs[i % len(paragraphs)], paragraphs[0]] for i in range(200)]


def _read_in_child(store: SqliteParagraphStore, queue) -> None:
    queue.put([p.text for p in store.document("c")])


@unit
def test_a_forked_worker_opens_its_own_connection(stores):
    paragraphs, _, sqlite_store, _ = stores
    sqlite_store.many([0])  # the parent's connection exists before the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_read_in_child, args=(sqlite_store, queue))
    child.start()
    assert queue.get(timeout=30) == [p.text for p in paragraphs[8:]]
    child.join(timeout=30)
    assert child.exitcode == 0


@unit
def test_format_1_files_load_whole(tmp_path: Path):
    paragraphs = _paragraphs()
    with (tmp_path / "paragraphs.jsonl").open("w", encoding="utf-8") as fh:
        for p in paragraphs:
            fh.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
    (tmp_path / "keyword_df.json").write_text(json.dumps({"专家会议": 12}, ensure_ascii=False), encoding="utf-8")
    store, df = open_store(tmp_path)
    assert isinstance(store, MemoryParagraphStore) and list(store) == paragraphs and df == {"专家会议": 12}


@unit
def test_a_removed_file_still_serves_the_store_that_opened_it(tmp_path: Path):
    """A worker still serving a snapshot that later builds pruned keeps reading it, from new threads too."""
    paragraphs = _paragraphs()
    write_store(tmp_path / STORE_FILE, paragraphs, {})
    store = SqliteParagraphStore(tmp_path / STORE_FILE)
    (tmp_path / STORE_FILE).unlink()
    with ThreadPoolExecutor(2) as pool:
        assert pool.submit(store.document, "c").result() == paragraphs[8:]
