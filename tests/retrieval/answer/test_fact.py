"""retrieval.answer.fact: the span reader's fact, inside the shown part of the paragraph."""
from __future__ import annotations

import pytest

from retrieval.answer.fact import FactSettings, read_fact, trim
from retrieval.answer.span_reader import load_reader

pytestmark = pytest.mark.unit


def test_trim_drops_edge_spaces_and_punctuation_but_keeps_title_marks():
    text = " ，《联合国宪章》。"
    start, end = trim(text, 0, len(text))
    assert text[start:end] == "《联合国宪章》"
    assert trim("2009年。", 0, 6) == (0, 5)


@pytest.fixture(scope="module")
def reader():
    return load_reader()


def test_the_fact_answers_and_stays_inside_the_shown_part(reader):
    text = ("范廷颂枢机，圣名保禄，是越南罗马天主教枢机。1963年被任命为主教；1990年被擢升为天主教河内总教区宗座署理；"
            "1994年被擢升为总主教，同年年底被擢升为枢机；2009年2月22日清晨在河内离世。")
    shown = (text.index("1994"), text.index("离世") + 2)
    found = read_fact(reader, "范廷颂是什么时候被擢升为总主教的？", text, shown, FactSettings())
    assert found is not None
    start, end = found
    assert shown[0] <= start < end <= shown[1]
    assert "1994" in text[start:end] and len(text[start:end]) <= 10


def test_no_fact_when_the_shown_part_is_not_where_the_reader_reads_the_answer(reader):
    text = "会议于2024年3月4日在日内瓦开幕。会议由主席主持，秘书处编写了报告。"
    shown = (text.index("会议由"), len(text))
    found = read_fact(reader, "会议在哪一天开幕？", text, shown, FactSettings(candidates=1))
    assert found is None  # its one best span is the date, before the shown part


@pytest.mark.slow
def test_the_reader_names_the_fact_only_where_the_answer_model_names_none(sample_index):
    from evaluation.datasets import load_dataset
    from retrieval.pipeline import NotesQA
    from tests.conftest import SAMPLE_DEV

    plain = NotesQA.load(sample_index, span_reader_path=None)
    with_reader = NotesQA.load(sample_index)
    filled = kept = 0
    for item in load_dataset(SAMPLE_DEV)[:60]:
        before, after = plain.ask(item.question), with_reader.ask(item.question)
        assert (after.answer, after.abstained, after.confidence) == (before.answer, before.abstained,
                                                                     before.confidence)
        if before.abstained:
            continue
        if before.fact is not None:
            assert after.fact == before.fact
            kept += 1
        elif after.fact is not None:
            cite = after.fact_citation
            cited = next(c for c in after.citations if c.marker == cite.marker)
            assert cited.text[cite.paragraph_start:cite.paragraph_end] == after.fact
            assert after.fact in after.answer  # inside the shown part
            filled += 1
    assert kept and filled
