"""Query analysis: bring an English (or mixed) question closer to Chinese notes.

A domain glossary maps English terms to their Chinese equivalents, and English
dates ("6 June 2018") to the Chinese form, so the keyword side and the
sentence scorer can see what an English question asks about.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from index.normalization import mostly_latin

GLOSSARY = Path(__file__).parent / "resources" / "glossary_en_zh.tsv"
_MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december".split(), 1)}
_EN_DATE = re.compile(r"\b(\d{1,2})\s+(" + "|".join(_MONTHS) + r")\s+(\d{4})\b", re.I)
_EN_DATE_US = re.compile(r"\b(" + "|".join(_MONTHS) + r")\s+(\d{1,2}),?\s+(\d{4})\b", re.I)


@lru_cache(maxsize=1)
def _glossary() -> tuple[re.Pattern, dict[str, str]]:
    mapping: dict[str, str] = {}
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            english, chinese = line.split("\t", 1)
            mapping[english.strip().lower()] = chinese.strip()
    terms = sorted(mapping, key=len, reverse=True)  # longest phrase wins
    pattern = re.compile(r"(?<![a-z])(" + "|".join(re.escape(t) for t in terms) + r")(?![a-z])", re.I)
    return pattern, mapping


def _chinese_dates(question: str) -> list[str]:
    dates = [f"{y}年{_MONTHS[m.lower()]}月{int(d)}日" for d, m, y in _EN_DATE.findall(question)]
    dates += [f"{y}年{_MONTHS[m.lower()]}月{int(d)}日" for m, d, y in _EN_DATE_US.findall(question)]
    return dates


def expand_query(question: str) -> str:
    """The question plus the Chinese equivalents of its English terms (unchanged if it has none)."""
    if not re.search(r"[A-Za-z]{3,}", question):
        return question
    pattern, mapping = _glossary()
    dates = _chinese_dates(question)
    scrubbed = _EN_DATE_US.sub(" ", _EN_DATE.sub(" ", question))
    added = dates + [mapping[m.group(1).lower()] for m in pattern.finditer(scrubbed)]
    if not added:
        return question
    return f"{question}\n{' '.join(dict.fromkeys(added))}"


def is_english(question: str) -> bool:
    return mostly_latin(question)
