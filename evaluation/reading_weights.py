"""How much each training reading weighs where the probability that an answer is right is fitted.

A question is read as asked and as one or more near misses (evidence withheld, subject swapped). Left
unweighted, each new kind of near miss would lower the share of right readings the calibrated probability
is fitted to, and so every answerable question's confidence, though serving sees no more near misses than
before. So an answerable question's reading weighs 1 and its near misses weigh 1 between them: the prior
stays one answerable reading for one near miss, however many kinds of near miss are made.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np

ASKED = "asked"


def reading_weights(questions: Sequence[Hashable], variants: Sequence[str]) -> np.ndarray:
    """`questions[i]`: the question reading i belongs to; `variants[i]`: "asked" or a near-miss kind."""
    near_misses = Counter(q for q, v in zip(questions, variants) if v != ASKED)
    return np.array([1.0 if v == ASKED else 1.0 / near_misses[q] for q, v in zip(questions, variants)])
