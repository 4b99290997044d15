"""retrieval.answer.span_reader: windows, span decoding and the shipped reader file."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval.answer.encoder import E5Tokenizer, read_packed
from retrieval.answer.span_reader import (DEFAULT_READER, SpanReaderError, Window, WindowSettings, Windower,
                                          best_spans, load_reader)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def tokenizer():
    return E5Tokenizer(read_packed())


def test_windows_cover_a_long_passage_with_overlap_and_fit_the_budget(tokenizer):
    settings = WindowSettings(max_tokens=64, max_question_tokens=8, stride=16)
    windower = Windower(tokenizer, settings)
    passage = "。".join(f"第{i}条规定了会议的议程和程序" for i in range(40))
    windows = windower.windows(windower.question_ids("会议的议程由谁决定？" * 5), passage)
    assert len(windows) > 3
    assert all(len(w.ids) <= settings.max_tokens for w in windows)
    covered = set()
    for w in windows:
        covered |= {s for s, _ in w.offsets}
    _, offsets = tokenizer.encode(passage)
    assert covered == {s for s, _ in offsets}  # every token read in some window
    first_end = windows[0].offsets[-1][1]
    assert windows[1].offsets[0][0] < first_end  # neighbours share `stride` tokens


def test_best_spans_are_normalised_against_no_span_and_bounded_in_length():
    window = Window(0, list(range(10)), 3, [(i, i + 1) for i in range(6)])
    start = np.array([2.0, 0, 0, 0, 5, 0, 0, 0, 0, -np.inf])
    end = np.array([2.0, 0, 0, 0, 0, 0, 6, 0, 0, -np.inf])
    spans = best_spans(window, start, end, max_answer_tokens=4, top=50)
    assert spans[0][:2] == (1, 3)  # tokens 4..6 of the input are passage tokens 1..3
    assert all(j - i < 4 and i <= j for i, j, _, _ in spans)
    total = sum(p for _, _, p, _ in spans) + spans[0][3]
    assert total == pytest.approx(1.0)


def test_the_shipped_reader_reads_its_reference_questions_as_the_training_run_did():
    reader = load_reader()
    references = reader.report["references"]
    assert len(references) >= 5
    for ref in references:
        spans = reader.read(ref["question"], [ref["context"]], top=1)
        assert [spans[0].start, spans[0].end] == ref["span"]


def test_the_shipped_reader_reports_held_out_figures():
    held = load_reader().report["held_out"]
    assert held and all(0.0 <= figures["char_f1"] <= 1.0 for figures in held.values())


def test_a_damaged_reader_file_is_refused(tmp_path):
    damaged = tmp_path / "reader.safetensors"
    damaged.write_bytes(DEFAULT_READER.read_bytes()[:1000])
    with pytest.raises(SpanReaderError):
        load_reader(damaged)
