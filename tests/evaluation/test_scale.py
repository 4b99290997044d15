"""evaluation.scale: the synthetic corpus and its vectors (the benchmark itself prints figures, untimed here)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from evaluation.scale import SETTINGS, composed_vectors, exact_top, synthetic_corpus

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
