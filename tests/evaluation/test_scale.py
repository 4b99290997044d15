"""evaluation.scale: the synthetic corpus and its vectors (the benchmark itself prints figures, untimed here)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from evaluation.scale import (README_END, README_START, SETTINGS, composed_vectors, exact_top, recall,
                              synthetic_corpus, update_readme)

unit = pytest.mark.unit

SENTENCES = [f"第{i}句话讲的是会议的第{i}项安排。" for i in range(50)]


@unit
def test_the_corpus_is_seeded_and_its_prefix_does_not_depend_on_its_size():
    documents, paragraphs, parts = synthetic_corpus(60, SENTENCES)
    _, again, again_parts = synthetic_corpus(60, SENTENCES)
    _, longer, _ = synthetic_corpus(90, SENTENCES)
    assert paragraphs == again and parts == again_parts and longer[:60] == paragraphs
    assert len(documents) == 3 and all(2 <= len(chosen) <= 4 for chosen in parts)
    assert all(p.text == "".join(SENTENCES[i] for i in chosen) for p, chosen in zip(paragraphs, parts))


@unit
def test_a_composed_vector_is_the_normalised_mean_of_its_sentences_vectors():
    rng = np.random.default_rng(0)
    sentence_vectors = rng.standard_normal((50, 8)).astype(np.float32)
    parts = [[0, 1], [2, 2, 3], [49, 0, 7, 8]]
    settings = dataclasses.replace(SETTINGS, synthetic_chunk=2)  # chunks meet inside the list
    vectors = composed_vectors(parts, sentence_vectors, settings)
    for vector, chosen in zip(vectors, parts):
        mean = sentence_vectors[chosen].mean(axis=0)
        assert np.allclose(vector, mean / np.linalg.norm(mean), atol=1e-6)


@unit
def test_exact_top_is_the_brute_force_ranking():
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    queries = rng.standard_normal((5, 8)).astype(np.float32)
    settings = dataclasses.replace(SETTINGS, exact_chunk=64)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    assert (exact_top(vectors, queries, 10, settings) == expected).all()


def _figures(n: int, search_p95: float) -> dict:
    return {"paragraphs": n, "real_vectors": 2000, "synthetic_kind": "composed", "tokenize_s": 1.0,
            "snapshot_write_s": 2.0, "build_peak_rss_mib": 600, "snapshot_mib": 37, "snapshot_load_s": 0.1,
            "server_start_s": 6.5, "loaded_rss_mib": 791, "loaded_pss_mib": 746, "rss_mib": 1015, "pss_mib": 971,
            "private_mib": 929, "search_p50_ms": 20.0, "search_p95_ms": search_p95, "ask_p50_ms": 100.0,
            "ask_p95_ms": 140.0, "recall_at_10": 0.99, "dense_search_ms_per_query": 0.5,
            "recall_at_10_efSearch_64": "0.939 (0.10 ms)"}


@unit
def test_the_readme_section_is_rendered_from_the_figures(tmp_path):
    figures = tmp_path / "scale.json"
    figures.write_text(json.dumps(
        {"dense_index": "faiss:HNSW32,Flat", "machine": "2 cores", "date": "2026-12-07",
         "results": [_figures(10_000, 31.5), _figures(1_000_000, 47.25)]}), encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{README_START}\nold figures\n{README_END}\nafter\n", encoding="utf-8")
    half = tmp_path / "scale-half.json"
    half.write_text(json.dumps({**json.loads(figures.read_text(encoding="utf-8")),
                                "keyword_index": "bm25s?scores=float16", "openmp": "GOMP_SPINCOUNT=300"}),
                    encoding="utf-8")
    update_readme([figures, half], readme)
    text = readme.read_text(encoding="utf-8")
    assert "--dense-index 'faiss:HNSW32,Flat'` (" in text  # the default keyword index is not named
    assert text.count(", OpenMP waits: GOMP_SPINCOUNT=300.") == 1  # only the run that recorded them says
    assert "--dense-index 'faiss:HNSW32,Flat' --keyword-index 'bm25s?scores=float16'` (" in text
    assert text.startswith("before\n") and text.endswith("\nafter\n") and "old figures" not in text
    assert "| figure | 10,000 | 1,000,000 | target at 1M |" in text
    assert "| `/v1/search` p50 / p95 over HTTP | 20.0 / 31.5 ms | 20.0 / 47.25 ms | p95 ≤ 50 ms |" in text
    assert "| recall@10, ε-recall@10 at efSearch 64 | 0.939 (0.10 ms) | 0.939 (0.10 ms) | |" in text
    assert "synthetic for all the others** (the normalised mean" in text
    assert text.count("| figure | 10,000 | 1,000,000 |") == 2  # a table per file


@unit
def test_epsilon_recall_counts_a_near_twin_that_plain_recall_does_not():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.6, 0.8], [0.6001, 0.79992]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = np.array([[0.0, 1.0]], dtype=np.float32)
    exact = np.array([[1, 3]])  # the 2nd: row 3, whose near-twin is row 4
    plain, near = recall(vectors, query, np.array([[1, 4]]), exact)
    assert plain == 0.5 and near == 1.0
    plain, near = recall(vectors, query, np.array([[1, 0]]), exact)  # row 0 is far: neither counts it
    assert plain == 0.5 and near == 0.5
