"""Shared fixtures for the index/ tests: the five real sample notes, segmented once."""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from index.embedders import Embedder
from index.loading import load_sources
from index.segmentation import segment_document

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "corpus"

DOC_000 = "000_eb96d92128743acc"
DOC_001 = "001_2e16e2347a6d47f4"
DOC_002 = "002_9b7261b858c1689a"
DOC_003 = "003_06028432a52c8909"
DOC_004 = "004_571e32d49a4b0d9d"


@pytest.fixture(scope="session")
def corpus_result():
    return load_sources(CORPUS)


@pytest.fixture(scope="session")
def corpus_docs(corpus_result):
    return {d.doc_id: d for d in corpus_result.documents}


@pytest.fixture(scope="session")
def segmented(corpus_docs):
    """doc_id -> SegmentedDocument for the real sample notes (treat as read-only)."""
    return {doc_id: segment_document(doc) for doc_id, doc in corpus_docs.items()}


class HashEmbedder(Embedder):
    """Deterministic, model-free embedder for fast in-process builder/snapshot tests.

    Character-bigram hashing: texts sharing wording get similar vectors.
    `calls` records every batch so tests can see what was (re-)embedded.
    """

    def __init__(self, name: str = "test:hash-64", dimension: int = 64) -> None:
        self.name = name
        self.dimension = dimension
        self.calls: list[list[str]] = []

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimension, dtype=np.float32)
        for i in range(max(len(text) - 1, 1)):
            v[zlib.crc32(text[i:i + 2].encode()) % self.dimension] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def encode_document(self, texts):
        self.calls.append(list(texts))
        return np.vstack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def encode_query(self, texts):
        return self.encode_document(texts)


@pytest.fixture
def hash_embedder(monkeypatch):
    """Registers a HashEmbedder under the spec "test-hash" (create_embedder returns it)."""
    from index import embedders

    emb = HashEmbedder()
    monkeypatch.setitem(embedders._LOADED, "test-hash", emb)
    return emb


TINY_DOC_A = """# 资产追回工作组说明

1. 工作组会议将于 2018 年 6 月 6 日上午 10 时在维也纳国际中心开幕。

2. 缔约国会议在第 7/1 号决议中请秘书处继续收集资产追回方面的良好做法。

3. 秘书处编写了关于管理所冻结、扣押和没收资产的不具约束力的准则草案。
"""

TINY_DOC_B = """# 国际合作专家会议说明

1. 专家会议将讨论各国在提出和响应司法协助请求时面临的共同挑战。

2. 专家会议将通过一份载有结论和建议的报告，报告草稿将由秘书处编写。
"""

TINY_TITLES = {"a.txt": "资产追回工作组临时议程说明", "b.txt": "国际合作专家会议临时议程说明"}


def write_tiny_corpus(folder: Path, doc_a: str = TINY_DOC_A, doc_b: str = TINY_DOC_B) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.txt").write_text(doc_a, encoding="utf-8")
    (folder / "b.txt").write_text(doc_b, encoding="utf-8")
    meta = {"documents": {name: {"title": title, "date": "2018-06-06"} for name, title in TINY_TITLES.items()}}
    (folder / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture
def tiny_corpus(tmp_path):
    return write_tiny_corpus(tmp_path / "corpus")


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """`milvus://127.0.0.1:<port>`: a real Milvus Lite gRPC server (its own process, data in a temporary
    folder) on loopback, reached as a Milvus Standalone would be."""
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install 'notesqa[milvus]')")
    pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install 'notesqa[milvus]')")
    from index.milvus import milvus_lite_server

    with milvus_lite_server(tmp_path_factory.mktemp("milvus-lite")) as spec:
        yield spec


def milvus_collections(spec: str) -> list[str]:
    """The collections the Milvus server of `spec` holds now."""
    from index.milvus import client, parse_milvus_spec

    return sorted(client(parse_milvus_spec(spec)).list_collections())
