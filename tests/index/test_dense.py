"""index.dense: the dense index interface, its FAISS flat backend and the factory."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.dense import (DEFAULT_DENSE_INDEX, DenseIndexError, FlatIPIndex, create_dense_index, dense_backend,
                         load_dense_index)

pytestmark = pytest.mark.unit


def _unit_rows(n: int, dimension: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dimension)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_the_default_is_faiss_flat() -> None:
    index = create_dense_index(dimension=8)
    assert DEFAULT_DENSE_INDEX == "faiss-flat" == index.spec
    assert isinstance(index, FlatIPIndex) and (index.dimension, index.size) == (8, 0)


def test_an_unknown_spec_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(DenseIndexError, match=r"unknown dense index 'hnsw-maybe'.*'faiss-flat'"):
        create_dense_index("hnsw-maybe", dimension=8)
    with pytest.raises(DenseIndexError):
        load_dense_index("hnsw-maybe", Path("."))
    with pytest.raises(DenseIndexError):
        dense_backend("")


def test_search_is_exact_inner_product_best_first() -> None:
    vectors = _unit_rows(20, 8)
    index = create_dense_index(dimension=8)
    index.add(vectors)
    index.add(np.zeros((0, 8), np.float32))  # adding nothing is allowed
    scores, rows = index.search(vectors[3], 5)
    expected = np.argsort(-(vectors @ vectors[3]))[:5]
    assert rows.shape == scores.shape == (1, 5)
    assert list(rows[0]) == list(expected) and rows[0][0] == 3
    assert np.allclose(scores[0], (vectors @ vectors[3])[expected], atol=1e-5)
    _, deep = index.search(vectors[:2], 30)  # deeper than the index: -1 fills
    assert deep.shape == (2, 30) and (deep[:, 20:] == -1).all()


def test_vectors_returns_the_stored_rows() -> None:
    vectors = _unit_rows(6, 4)
    index = create_dense_index(dimension=4)
    index.add(vectors)
    assert np.array_equal(index.vectors([5, 0]), vectors[[5, 0]])
    assert index.vectors([]).shape == (0, 4)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    vectors = _unit_rows(10, 4)
    index = create_dense_index(dimension=4)
    index.add(vectors)
    index.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["dense.faiss"]  # the file name snapshots have always had
    loaded = load_dense_index("faiss-flat", tmp_path)
    assert (loaded.spec, loaded.dimension, loaded.size) == ("faiss-flat", 4, 10)
    assert np.array_equal(loaded.vectors(range(10)), vectors)
    assert np.array_equal(loaded.search(vectors[7], 3)[1], index.search(vectors[7], 3)[1])
