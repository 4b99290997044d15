"""`notesqa eval backends`: one question set asked of a corpus indexed by the embedded backend and by a
Milvus Lite server the command starts on loopback, written as the result file the README table reads."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evaluation.readme_table import render
from service.cli.main import app
from tests.index.conftest import write_tiny_corpus

pytestmark = [pytest.mark.integration]

QUESTIONS = [
    {"id": "t1", "question": "资产追回工作组会议哪天开幕？", "answers": ["2018 年 6 月 6 日"],
     "evidence": ["工作组会议将于 2018 年 6 月 6 日上午 10 时在维也纳国际中心开幕"], "answerable": True},
    {"id": "t2", "question": "专家会议的报告草稿由谁编写？", "answers": ["秘书处"],
     "evidence": ["报告草稿将由秘书处编写"], "answerable": True},
    {"id": "t3", "question": "红烧肉怎么做？", "answers": [], "evidence": [], "answerable": False},
]


def test_eval_backends_sets_embedded_and_milvus_lite_side_by_side(tmp_path: Path) -> None:
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install 'notesqa[milvus]')")
    corpus = write_tiny_corpus(tmp_path / "corpus")
    dataset = tmp_path / "tiny.jsonl"
    dataset.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS), encoding="utf-8")
    results = tmp_path / "results" / "backends_sample.json"
    outcome = CliRunner().invoke(app, ["eval", "backends", str(dataset), "--corpus", str(corpus),
                                       "--backend", "embedded", "--milvus-lite", "--workdir", str(tmp_path / "run"),
                                       "--save-results", str(results)])
    assert outcome.exit_code == 0, outcome.output
    saved = json.loads(results.read_text(encoding="utf-8"))
    by_system = {r["system"]: r["metrics"] for r in saved["results"]}
    assert set(by_system) == {"embedded", "milvus-lite"}
    assert by_system["embedded"]["questions"] == by_system["milvus-lite"]["questions"] == 3
    for key in ("recall@1", "answer_accuracy", "abstention"):
        assert by_system["milvus-lite"][key] == by_system["embedded"][key], key
    assert by_system["embedded"]["recall@1"] == 1.0
    # the Milvus side's index folder names its collection; the embedded one keeps FAISS in the folder
    assert list((tmp_path / "run" / "indexes").glob("milvus*/snapshots/*/milvus.json"))
    assert "Answer accuracy gap between the backends: 0.000 (target ≤ 0.01: met)" in render(results.parent)


def test_eval_backends_refuses_an_unknown_backend(tmp_path: Path) -> None:
    dataset = tmp_path / "tiny.jsonl"
    dataset.write_text(json.dumps(QUESTIONS[0], ensure_ascii=False) + "\n", encoding="utf-8")
    outcome = CliRunner().invoke(app, ["eval", "backends", str(dataset), "--corpus",
                                       str(write_tiny_corpus(tmp_path / "corpus")), "--backend", "solr://x",
                                       "--workdir", str(tmp_path / "run")])
    assert outcome.exit_code != 0 and "unknown index backend 'solr://x'" in outcome.output
