"""Text normalisation shared by indexing and querying.

The PDF conversion puts spaces around numbers inside Chinese text
("2018 年 6 月 6 日") and mixes full- and half-width forms; matching must see
through both, while the displayed text keeps the original.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_PUNCT = r"\u3000-\u303f\uff00-\uffef"
# A run of spaces with a CJK character (or CJK punctuation) on at least one side.
_SPACE_NEAR_CJK = re.compile(
    rf"(?<=[{_CJK}{_CJK_PUNCT}])[ \t\u00a0]+|[ \t\u00a0]+(?=[{_CJK}{_CJK_PUNCT}])"
)
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")

try:  # traditional -> simplified, for matching only
    import opencc  # type: ignore

    _T2S = opencc.OpenCC("t2s")
except Exception:  # pragma: no cover - optional dependency
    _T2S = None


def to_simplified(text: str) -> str:
    return _T2S.convert(text) if _T2S is not None else text


@lru_cache(maxsize=65536)  # paragraph and sentence texts recur across queries
def normalize(text: str) -> str:
    """Canonical form for matching: NFKC, lower case, simplified, no spaces next to CJK."""
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text).lower()
    text = _SPACE_NEAR_CJK.sub("", text)
    return _SPACES.sub(" ", text).strip()


def compact(text: str) -> str:
    """`normalize` with every space removed: for containment checks."""
    return re.sub(r"\s+", "", normalize(text))


def is_cjk_char(ch: str) -> bool:
    return bool(re.match(rf"[{_CJK}]", ch))


def mostly_latin(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    latin = sum(1 for c in letters if c.isascii())
    return latin / len(letters) > 0.6
