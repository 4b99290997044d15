"""index.keyword: the keyword index interface, its bm25s backend, row views and the factory."""
from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import pytest

from index.keyword import (DEFAULT_KEYWORD_INDEX, Bm25sIndex, KeywordIndexError, KeywordRows, create_keyword_index,
                           keyword_backend, load_keyword_index)

pytestmark = pytest.mark.unit

ROWS = [["资产", "追回", "工作组"], ["工作组", "会议"], [], ["反腐败", "公约", "会议"]]


def _built() -> Bm25sIndex:
    index = create_keyword_index()
    index.build(ROWS)
    return index


def test_the_default_is_bm25s() -> None:
    assert DEFAULT_KEYWORD_INDEX == "bm25s" == create_keyword_index().spec
    assert isinstance(create_keyword_index("bm25s"), Bm25sIndex)


def test_an_unknown_spec_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(KeywordIndexError, match=r"unknown keyword index 'tantivy'.*'bm25s'"):
        create_keyword_index("tantivy")
    with pytest.raises(KeywordIndexError):
        load_keyword_index("tantivy", Path("."))
    with pytest.raises(KeywordIndexError):
        keyword_backend("BM25S")


def test_scores_every_row_as_bm25s_does() -> None:
    index = _built()
    reference = bm25s.BM25()
    reference.index([t or ["\x00"] for t in ROWS], show_progress=False)
    scores = index.scores(["工作组", "会议"])
    assert index.size == len(ROWS) and scores.shape == (len(ROWS),)
    assert np.array_equal(scores, reference.get_scores(["工作组", "会议"]))
    assert scores[2] == 0 and scores[1] == scores.max()  # a row without tokens is indexed, and never found


def test_an_empty_corpus_can_be_built() -> None:
    index = create_keyword_index()
    index.build([])
    assert index.scores(["会议"]).tolist() == [0.0]  # bm25s needs one document: a placeholder row


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    index = _built()
    index.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keyword"]  # the folder snapshots have always had
    loaded = load_keyword_index("bm25s", tmp_path)
    assert (loaded.spec, loaded.size) == ("bm25s", len(ROWS))
    assert np.array_equal(loaded.scores(["公约", "追回"]), index.scores(["公约", "追回"]))


def test_half_precision_scores_are_stored_halved_and_summed_in_float32(tmp_path: Path) -> None:
    exact = _built()
    half = create_keyword_index("bm25s?scores=float16")
    half.build(ROWS)
    half.save(tmp_path)
    stored = np.load(tmp_path / "keyword" / "data.csc.index.npy")
    assert stored.dtype == np.float16
    loaded = load_keyword_index("bm25s?scores=float16", tmp_path)
    assert loaded.spec == "bm25s?scores=float16"
    for query in (["工作组", "会议"], ["公约", "追回", "会议"], ["会议", "会议"]):
        scores = loaded.scores(query)
        assert scores.dtype == np.float32  # each stored score rounded, their sum not
        assert np.allclose(scores, exact.scores(query), rtol=1e-3, atol=0)
        assert np.array_equal(np.argsort(-scores, kind="stable"), np.argsort(-exact.scores(query), kind="stable"))
        summed = np.zeros(len(ROWS), dtype=np.float32)  # each token's rounded score, summed in float32
        for token in query:
            summed += exact.scores([token]).astype(np.float16).astype(np.float32)
        assert np.array_equal(scores, summed)


def test_a_bm25s_spec_takes_only_its_score_storage() -> None:
    assert Bm25sIndex.stored_dtype("bm25s") == "float32"
    assert Bm25sIndex.stored_dtype("bm25s?scores=float32") == "float32"
    for spec in ("bm25s?scores=int8", "bm25s?k1=2", "bm25s?scores"):
        with pytest.raises(KeywordIndexError, match="is not a bm25s parameter"):
            create_keyword_index(spec)


def test_a_row_view_renumbers_and_keeps_the_whole_index_statistics(tmp_path: Path) -> None:
    index = _built()
    view = index.restricted_to(np.array([3, 1]))
    assert isinstance(view, KeywordRows) and (view.spec, view.size) == ("bm25s", 2)
    assert np.array_equal(view.scores(["会议"]), index.scores(["会议"])[[3, 1]])
    with pytest.raises(TypeError, match="not stored"):
        view.save(tmp_path)
    with pytest.raises(TypeError, match="not built"):
        view.build(ROWS)
