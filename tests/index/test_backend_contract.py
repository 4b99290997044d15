"""The contract every index backend keeps (index/dense.py, index/keyword.py, index/milvus.py), on snapshots
of the real sample corpus built with a model-free embedder: the same queries find the same top rows as
exact search and bm25s (within each backend's tolerance), a rebuild (a document deleted) is what the
next load serves, and a document scope is enforced. The Milvus backend runs against a real Milvus Lite
gRPC server on loopback (the `milvus_server` fixture)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from index.builder import build_index
from index.keyword import Bm25sIndex, bm25_weights
from index.milvus import MILVUS_FILE, MILVUS_SETTINGS, collection_name
from index.models import Scope
from index.snapshot import MANIFEST, load_snapshot
from index.tokenization import keyword_tokens
from retrieval.search import HybridSearcher
from tests.index.conftest import CORPUS, DOC_000, DOC_003, HashEmbedder, milvus_collections

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = [json.loads(line)["question"]
             for line in (REPO / "evaluation/datasets/sample_dev.jsonl").read_text(encoding="utf-8").splitlines()[:30]]
REFERENCE = "faiss-flat"  # exact inner product + bm25s: what every backend is measured against
MILVUS = "milvus"
# backend -> least share of exact search's top 10 its dense side returns
RECALL = {"faiss-flat": 1.0, "faiss:HNSW32,Flat": 0.97, MILVUS: 0.97}
BACKENDS = [pytest.param("faiss-flat", marks=pytest.mark.unit),
            pytest.param("faiss:HNSW32,Flat", marks=pytest.mark.unit),
            pytest.param(MILVUS, marks=pytest.mark.integration)]
HALF_BM25 = "bm25s?scores=float16"  # exact dense, bm25s's scores stored in half precision
KEYWORD_BACKENDS = [pytest.param("faiss-flat", id="bm25s", marks=pytest.mark.unit),
                    pytest.param(HALF_BM25, marks=pytest.mark.unit),
                    pytest.param(MILVUS, marks=pytest.mark.integration)]
# backend -> relative error its keyword scores may have against bm25s in float32
KEYWORD_RTOL = {"faiss-flat": 1e-4, HALF_BM25: 1e-3, MILVUS: 1e-4}


def _specs(backend: str, request: pytest.FixtureRequest) -> tuple[str, str]:
    if backend == MILVUS:
        spec = request.getfixturevalue("milvus_server")  # started only when a Milvus case runs
        return spec, spec
    if backend == HALF_BM25:
        return REFERENCE, HALF_BM25
    return backend, "bm25s"


def _build(corpus: Path, index_dir: Path, dense: str, keyword: str) -> Path:
    build_index(corpus, index_dir, embedder=HashEmbedder(), dense_index=dense, keyword_index=keyword,
                show_progress=False)
    return index_dir


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """backend -> the index folder of the sample corpus built with it (once per module)."""
    folders: dict[str, Path] = {}

    def get(backend: str) -> Path:
        if backend not in folders:
            dense, keyword = _specs(backend, request)
            folders[backend] = _build(CORPUS, tmp_path_factory.mktemp("contract"), dense, keyword)
        return folders[backend]
    return get


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return HashEmbedder().encode_query(QUESTIONS)


def _top(scores: np.ndarray, k: int) -> list[int]:
    return [int(r) for r in np.argsort(-scores, kind="stable")[:k]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_snapshot_holds_the_same_rows_and_names_its_backends(backend: str, built, request) -> None:
    snapshot, reference = load_snapshot(built(backend)), load_snapshot(built(REFERENCE))
    dense, keyword = _specs(backend, request)
    assert (snapshot.manifest["dense"]["spec"], snapshot.manifest["keyword"]["spec"]) == (dense, keyword)
    assert snapshot.dense.size == len(snapshot.searchable) == len(reference.searchable) > 300
    assert [p.paragraph_id for p in snapshot.paragraphs] == [p.paragraph_id for p in reference.paragraphs]
    if backend == MILVUS:
        description = json.loads((snapshot.path / MILVUS_FILE).read_text(encoding="utf-8"))
        # the collection is named after the snapshot's own folder, and the manifest checksums what names it
        assert description["collection"] == collection_name(snapshot.path.name)
        assert description["collection"] in milvus_collections(dense)
        assert {MILVUS_FILE, "keyword_vocabulary.json"} <= set(snapshot.manifest["files"])
        assert not (snapshot.path / "dense.faiss").exists() and not (snapshot.path / "keyword").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_dense_side_finds_what_exact_search_finds(backend: str, built, queries) -> None:
    snapshot = load_snapshot(built(backend))
    vectors = load_snapshot(built(REFERENCE)).dense.vectors(range(len(snapshot.searchable)))
    exact = [_top(row, 10) for row in queries @ vectors.T]
    scores, rows = snapshot.dense.search(queries, 10)
    recall = np.mean([len(set(r) & set(e)) / 10 for r, e in zip(rows.tolist(), exact)])
    assert recall >= RECALL[backend]
    found = rows[:, 0]
    np.testing.assert_allclose(scores[:, 0], np.einsum("ij,ij->i", queries, vectors[found]), atol=1e-4)
    np.testing.assert_allclose(snapshot.dense.vectors(found.tolist()), vectors[found], atol=1e-6)


@pytest.mark.parametrize("backend", KEYWORD_BACKENDS)
def test_the_keyword_side_scores_as_bm25s(backend: str, built) -> None:
    snapshot, reference = load_snapshot(built(backend)), load_snapshot(built(REFERENCE))
    for question in QUESTIONS:
        tokens = keyword_tokens(question)
        expected, got = reference.keyword.scores(tokens), snapshot.keyword.scores(tokens)
        assert got.shape == expected.shape
        best = [r for r in _top(expected, 50) if expected[r] > 0]
        np.testing.assert_allclose(got[best], expected[best], rtol=KEYWORD_RTOL[backend])
        assert set(_top(got, 10)) == set(_top(expected, 10))


def test_bm25_weights_by_query_counts_are_the_bm25s_score() -> None:
    """The sparse rows the Milvus side stores: their inner product with a query's token counts is bm25s's
    score, a repeated query token and an empty row included."""
    rows = [["资产", "追回", "资产", "会议"], [], ["会议", "维也纳"], ["追回"] * 5 + ["工作组"]]
    bm25 = Bm25sIndex()
    bm25.build(rows)
    vocabulary, weights = bm25_weights(rows)
    for query in (["资产"], ["追回", "会议", "会议"], ["维也纳", "不存在"], ["工作组", "资产", "追回"]):
        counts = {vocabulary[t]: query.count(t) for t in query if t in vocabulary}
        mine = [sum(w.get(d, 0.0) * c for d, c in counts.items()) for w in weights]
        np.testing.assert_allclose(mine, bm25.scores(query), rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_fused_search_gives_the_same_top_results(backend: str, built) -> None:
    searcher = HybridSearcher(load_snapshot(built(backend)), HashEmbedder())
    reference = HybridSearcher(load_snapshot(built(REFERENCE)), HashEmbedder())
    first, overlap = [], []
    for question in QUESTIONS:
        got = [h.paragraph.paragraph_id for h in searcher.search(question, top_k=5)]
        expected = [h.paragraph.paragraph_id for h in reference.search(question, top_k=5)]
        first.append(got[0] == expected[0])
        overlap.append(len(set(got) & set(expected)) / len(expected))
    assert np.mean(first) >= 0.95 and np.mean(overlap) >= 0.9


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_document_scope_is_enforced(backend: str, built, queries) -> None:
    snapshot, reference = load_snapshot(built(backend)), load_snapshot(built(REFERENCE))
    searcher, exact = HybridSearcher(snapshot, HashEmbedder()), HybridSearcher(reference, HashEmbedder())
    doc_of_row = [snapshot.paragraphs[int(p)].doc_id for p in snapshot.searchable]
    vectors = reference.dense.vectors(range(len(doc_of_row)))
    for doc in (DOC_000, DOC_003):
        rows = tuple(r for r, d in enumerate(doc_of_row) if d == doc)
        scope = Scope((doc,), rows)
        scores, found = snapshot.dense.search(queries[:5], 10, scope=scope)
        for q, hit_rows in zip(queries[:5], found):
            assert set(hit_rows.tolist()) <= set(rows)
            in_scope = np.asarray(rows)[_top(vectors[list(rows)] @ q, 10)]
            assert len(set(hit_rows.tolist()) & set(in_scope.tolist())) >= 9
        for question in QUESTIONS[:10]:
            tokens = keyword_tokens(question)
            got = snapshot.keyword.scores(tokens, scope=scope)
            assert not np.any(np.delete(got, rows))
            expected = reference.keyword.scores(tokens)
            best = [r for r in rows if expected[r] > 0]
            np.testing.assert_allclose(got[best], expected[best], rtol=KEYWORD_RTOL.get(backend, 1e-4))
            hits = searcher.search(question, top_k=5, doc_ids=[doc])
            assert hits and {h.paragraph.doc_id for h in hits} == {doc}
            assert hits[0].paragraph.paragraph_id == exact.search(question, top_k=5, doc_ids=[doc])[0].paragraph.paragraph_id
    assert searcher.search(QUESTIONS[0], doc_ids=["no-such-document"]) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rebuild_is_served_at_once_and_old_snapshots_go(backend: str, request, tmp_path: Path) -> None:
    dense, keyword = _specs(backend, request)
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    index_dir = _build(corpus, tmp_path / "index", dense, keyword)
    first = load_snapshot(index_dir)
    question = QUESTIONS[0]  # asked of DOC_000 (资产追回工作组2018年的会议是哪天开幕的？)
    assert DOC_000 in {h.paragraph.doc_id for h in HybridSearcher(first, HashEmbedder()).search(question)}

    (corpus / f"{DOC_000}.txt").unlink()  # the document is deleted, and the index rebuilt
    _build(corpus, index_dir, dense, keyword)
    second = load_snapshot(index_dir)
    assert second.path != first.path and DOC_000 not in second.documents
    searcher = HybridSearcher(second, HashEmbedder())
    assert DOC_000 not in {h.paragraph.doc_id for h in searcher.search(question, top_k=20)}
    assert searcher.search(question, doc_ids=[DOC_000]) == []
    rows = searcher.search(question, top_k=50, mode="keyword") + searcher.search(question, top_k=50, mode="dense")
    assert rows and DOC_000 not in {h.paragraph.doc_id for h in rows}

    _build(corpus, index_dir, dense, keyword)  # a third build: the first snapshot is pruned
    assert not first.path.exists() and second.path.exists()
    if backend == MILVUS:
        names = milvus_collections(dense)
        assert collection_name(first.path.name) not in names
        assert {collection_name(second.path.name), collection_name(load_snapshot(index_dir).path.name)} <= set(names)


@pytest.mark.integration
def test_milvus_keyword_scores_only_the_engines_best_rows(built) -> None:
    snapshot = load_snapshot(built(MILVUS))
    scores = snapshot.keyword.scores(keyword_tokens("会议 工作组 缔约国 资产 追回 公约"))
    assert 0 < np.count_nonzero(scores) <= MILVUS_SETTINGS.keyword_depth
    assert snapshot.keyword.scores(["一个索引里没有的词"]).sum() == 0


@pytest.mark.parametrize("backend", KEYWORD_BACKENDS)
def test_row_scores_are_exact_beyond_the_engines_depth(backend: str, built) -> None:
    """What the fused search asks for a dense-only candidate: its exact BM25 score, however low it ranks."""
    snapshot, reference = load_snapshot(built(backend)), load_snapshot(built(REFERENCE))
    for question in QUESTIONS[:10]:
        tokens = keyword_tokens(question)
        expected = reference.keyword.scores(tokens)
        lowest = [r for r in np.argsort(-expected, kind="stable") if expected[r] > 0][-20:]
        rows = [*lowest, int(np.argmin(expected))]
        np.testing.assert_allclose(snapshot.keyword.row_scores(tokens, rows), expected[rows],
                                   rtol=KEYWORD_RTOL[backend], atol=1e-6)


@pytest.mark.integration
def test_a_milvus_snapshot_whose_collection_is_gone_refuses_to_load(built, tmp_path: Path) -> None:
    from index.milvus import client, parse_milvus_spec
    from index.snapshot import SnapshotError

    source = load_snapshot(built(MILVUS))
    index_dir = tmp_path / "index"
    shutil.copytree(built(MILVUS), index_dir)
    description = json.loads((source.path / MILVUS_FILE).read_text(encoding="utf-8"))
    spec = source.manifest["dense"]["spec"]
    copy = index_dir / "snapshots" / source.path.name
    # point the copy at a collection of its own, then drop it
    description["collection"] = collection_name("gone-" + source.path.name)
    (copy / MILVUS_FILE).write_text(json.dumps(description), encoding="utf-8")
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"].pop(MILVUS_FILE)
    (copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert description["collection"] not in client(parse_milvus_spec(spec)).list_collections()
    with pytest.raises(SnapshotError, match="no collection"):
        load_snapshot(index_dir)
