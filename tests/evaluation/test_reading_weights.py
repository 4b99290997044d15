"""evaluation.reading_weights: a question's near misses weigh as much between them as its answerable reading."""
from __future__ import annotations

import numpy as np
import pytest

from evaluation.reading_weights import reading_weights

pytestmark = pytest.mark.unit


def test_near_misses_share_one_weight_per_question():
    weights = reading_weights(["a", "a", "a", "b", "b", "c"],
                              ["asked", "withheld", "swapped", "asked", "withheld", "withheld"])
    assert weights.tolist() == [1.0, 0.5, 0.5, 1.0, 1.0, 1.0]  # c: an unanswerable question, a near miss alone


def test_a_new_kind_of_near_miss_leaves_the_prior_as_it_was():
    one_kind = reading_weights(["a", "a", "b", "b"], ["asked", "withheld", "asked", "withheld"])
    two_kinds = reading_weights(["a", "a", "a", "b", "b", "b"],
                                ["asked", "withheld", "swapped", "asked", "withheld", "swapped"])
    asked_share = lambda w, n: w[[0, n]].sum() / w.sum()  # noqa: E731
    assert asked_share(one_kind, 2) == asked_share(two_kinds, 3) == 0.5
    assert np.isclose(two_kinds.sum(), one_kind.sum())
