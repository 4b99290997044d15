"""Text normalisation shared by indexing and querying.

The PDF conversion puts spaces around numbers inside Chinese text
("2018 年 6 月 6 日") and mixes full- and half-width forms; matching must see
through both, while the displayed text keeps the original.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

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


def _t2s_triggers() -> tuple[frozenset[str], tuple[str, ...]] | None:
    """What t2s can change: the characters it maps to others, and the phrases it changes that hold none of
    those ("反覆" -> "反复"). A text with neither comes back from OpenCC as it went in, and OpenCC (pure
    Python) costs a quarter of a question's time on text it leaves unchanged. None: convert everything."""
    if _T2S is None:
        return None
    folder = Path(opencc.__file__).parent / "dictionary"

    def entries(name: str) -> dict[str, str]:
        lines = (folder / name).read_text(encoding="utf-8").splitlines()
        return {key: value.split(" ")[0] for key, _, value in (line.partition("\t") for line in lines) if key}

    try:
        characters, phrases = entries("TSCharacters.txt"), entries("TSPhrases.txt")
    except OSError:
        return None
    changed = frozenset(key for key, value in characters.items() if value != key)
    return changed, tuple(k for k, v in phrases.items() if v != k and not any(ch in changed for ch in k))


_TRIGGERS = _t2s_triggers()


def to_simplified(text: str) -> str:
    if _T2S is None:
        return text
    if _TRIGGERS is not None:
        changed, phrases = _TRIGGERS
        if changed.isdisjoint(text) and not any(phrase in text for phrase in phrases):
            return text
    return _T2S.convert(text)


# paragraph and sentence texts recur across queries (bounded: a large index would fill any size)
@lru_cache(maxsize=16384)
def normalize(text: str) -> str:
    """Canonical form for matching: NFKC, lower case, simplified, no spaces next to CJK."""
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text).lower()
    text = _SPACE_NEAR_CJK.sub("", text)
    return _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=16384)
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
