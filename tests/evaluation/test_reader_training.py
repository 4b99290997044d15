"""evaluation.reader_training: fine-tuning the span reader on a slice of the training sets."""
from __future__ import annotations

import pytest
import torch

from evaluation.reader_training import (SHARED, ReaderTrainingSettings, fit_reader, held_out_report, load_reader_file,
                                        native_bf16, reader_questions, write_report)
from retrieval.answer.encoder import read_packed
from retrieval.answer.span_reader import SpanReader, SpanReaderNet, WindowSettings

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (SHARED / "cmrc2018-trial").exists(),
                                                   reason="the shared training sets are not here")]


def test_fine_tuning_a_slice_learns_to_point_at_answers_and_the_file_reads_the_same(tmp_path):
    cfg = ReaderTrainingSettings(frozen_layers=9, epochs=3, batch_size=8, learning_rate=5e-4, held_out=0.25)
    windows = WindowSettings(max_tokens=160)
    train, held = reader_questions(SHARED, cfg, limit=240, sets=["cmrc2018-trial"])
    assert train and held and not {q.article for q in train} & {q.article for q in held}
    net, fit = fit_reader(train, cfg, windows)
    assert fit["bf16"] is native_bf16()  # unset: bfloat16 only where this CPU has it natively
    torch.manual_seed(cfg.seed)
    untrained = SpanReaderNet(read_packed(), cfg.frozen_layers)  # the same encoder, a head never fitted
    fitted = held_out_report(SpanReader(net, windows), held)
    before = held_out_report(SpanReader(untrained, windows), held)
    assert fitted["char_f1"] > before["char_f1"] + 0.1  # learnt on other articles, scored on these

    path = tmp_path / "reader.safetensors"
    SpanReader(net, windows).save(path)
    report = write_report(path, held, fit, cfg, references=3)
    reread = load_reader_file(path)
    assert reread.report["held_out"] == report["held_out"]
    for ref in reread.report["references"]:
        span = reread.read(ref["question"], [ref["context"]], top=1)[0]
        assert [span.start, span.end] == ref["span"]
