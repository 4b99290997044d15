"""retrieval.answer.fact: the span reader's proposals in and around the shown part of the paragraph."""
from __future__ import annotations

import pytest

from retrieval.answer.fact import FactSettings, propose, trim
from retrieval.answer.span_reader import load_reader

pytestmark = pytest.mark.unit

TEXT = ("范廷颂枢机，圣名保禄，是越南罗马天主教枢机。1963年被任命为主教；1990年被擢升为天主教河内总教区宗座署理；"
        "1994年被擢升为总主教，同年年底被擢升为枢机；2009年2月22日清晨在河内离世。")


def test_trim_drops_edge_spaces_and_punctuation_but_keeps_title_marks():
    text = " ，《联合国宪章》。"
    start, end = trim(text, 0, len(text))
    assert text[start:end] == "《联合国宪章》"
    assert trim("2009年。", 0, 6) == (0, 5)


@pytest.fixture(scope="module")
def reader():
    return load_reader()


def test_the_best_proposal_answers_and_is_marked_inside_the_shown_part(reader):
    shown = (TEXT.index("1994"), TEXT.index("离世") + 2)
    proposals = propose(reader, "范廷颂是什么时候被擢升为总主教的？", TEXT, shown, FactSettings())
    best = proposals[0]
    assert "1994" in TEXT[best.start:best.end] and len(TEXT[best.start:best.end]) <= 10
    assert best.inside
    assert 0.0 < best.probability <= 1.0 and 0.0 <= best.no_span < 1.0
    assert [p.probability for p in proposals] == sorted((p.probability for p in proposals), reverse=True)
    for p in proposals:
        assert p.inside == (shown[0] <= p.start and p.end <= shown[1])
        assert TEXT[p.start:p.end] == TEXT[p.start:p.end].strip("，；。 ")


def test_a_proposal_outside_the_shown_part_is_found_in_the_context_and_marked_so(reader):
    text = "会议于2024年3月4日在日内瓦开幕。会议由主席主持，秘书处编写了报告。"
    shown = (text.index("会议由"), len(text))
    proposals = propose(reader, "会议在哪一天开幕？", text, shown, FactSettings(candidates=3))
    best = proposals[0]
    assert text[best.start:best.end] in "2024年3月4日"  # a part of the date: the reader is no date parser
    assert not proposals[0].inside


def test_nothing_is_read_beyond_the_context_around_the_shown_part(reader):
    text = "会议于2024年3月4日在日内瓦开幕。" + "秘书处编写了报告，" * 30 + "主席致辞。"
    shown = (len(text) - 5, len(text))
    settings = FactSettings(context_chars=20)
    for p in propose(reader, "会议在哪一天开幕？", text, shown, settings):
        assert p.start >= shown[0] - settings.context_chars
