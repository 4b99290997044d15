"""Query analysis: bring an English (or mixed) question closer to Chinese notes.

A domain glossary maps English terms to their Chinese equivalents, and English
dates ("6 June 2018") to the Chinese form, so the keyword side and the
sentence scorer can see what an English question asks about.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from index.tokenization import STOPWORDS

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


_ENGLISH_WORD = re.compile(r"[A-Za-z][A-Za-z\-]+")


def rendered_share(question: str, known: Callable[[str], bool] = lambda word: False) -> float:
    """Share of the question's English content words that reach the notes: rendered in Chinese by the
    glossary or a date, or `known` as they are (an acronym the notes spell in Latin letters).

    The words left out are what the Chinese rendering of an English question cannot check."""
    pattern, _ = _glossary()
    rendered: set[int] = set()
    for m in [*pattern.finditer(question), *_EN_DATE.finditer(question), *_EN_DATE_US.finditer(question)]:
        rendered.update(range(m.start(), m.end()))
    words = [m for m in _ENGLISH_WORD.finditer(question) if len(m.group(0)) > 2 and m.group(0).lower() not in STOPWORDS]
    if not words:
        return 1.0
    return sum(m.start() in rendered or known(m.group(0).lower()) for m in words) / len(words)


def with_equivalents(analysed: str, terms: list[str]) -> str:
    """An `expand_query` result with more terms the notes may use, on its line of equivalents."""
    added = " ".join(dict.fromkeys(terms))
    return f"{analysed} {added}" if "\n" in analysed else f"{analysed}\n{added}"


# "第一天下午", "最后一天", "on the last day": a day counted within a meeting's schedule.
# Not "开完会的第二天" (the day after it ended): that counts from outside the schedule.
_SCHEDULE_DAY = re.compile(r"(第一|头一|第二|第三|第四|第五|最后一|首)\s*[天日](?![内以后前])|\b(first|second|third|last) day\b",
                           re.I)
_DAY_INDEX = {"第一": 0, "头一": 0, "首": 0, "第二": 1, "第三": 2, "第四": 3, "第五": 4, "最后一": -1,
              "first": 0, "second": 1, "third": 2, "last": -1}
_AFTER_THE_END = re.compile(r"(?:完|结束|闭幕|之后|以后)\S{0,3}$")


def schedule_day(question: str) -> int | None:
    """Which day of a meeting the question means (0 = the first, -1 = the last), if it counts one."""
    m = _SCHEDULE_DAY.search(question)
    if m is None or _AFTER_THE_END.search(question[:m.start()]):
        return None
    return _DAY_INDEX[(m.group(1) or m.group(2)).lower()]
