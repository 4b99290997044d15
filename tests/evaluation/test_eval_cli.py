"""`notesqa eval` end to end: run folders, several datasets, baselines, a combined index, the API."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from service.cli.main import app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOTESQA = Path(sys.executable).parent / "notesqa"
DATASETS = Path(__file__).resolve().parents[2] / "evaluation" / "datasets"
SAMPLE_DEV = DATASETS / "sample_dev.jsonl"
ROBUSTNESS = DATASETS / "sample_dev_robustness.jsonl"
CONVERSATIONS = DATASETS / "sample_conversations.jsonl"

TINY_QUESTIONS = [
    {"id": "t1", "question": "三峡大坝位于哪里？", "answers": ["湖北省宜昌市"], "evidence": ["三峡大坝位于湖北省宜昌市三斗坪镇"],
     "doc_ids": ["changjiang"], "answerable": True, "type": "name", "lang": "zh"},
    {"id": "t2", "question": "黄河全长约多少公里？", "answers": ["5464公里"], "evidence": ["黄河全长约5464公里"],
     "doc_ids": ["huanghe"], "answerable": True, "type": "number", "lang": "zh"},
    {"id": "t3", "question": "2016年大熊猫的受威胁等级被下调为什么？", "answers": ["易危"], "evidence": ["从濒危下调为易危"],
     "doc_ids": ["panda"], "answerable": True, "type": "other", "lang": "zh"},
    {"id": "t4", "question": "长城有多长？", "answers": [], "evidence": [], "doc_ids": [], "answerable": False,
     "type": "unanswerable", "lang": "zh"},
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two corpora (a folder of notes and a .jsonl), the questions, and an index of the folder."""
    root = tmp_path_factory.mktemp("tiny")
    notes = root / "notes"
    notes.mkdir()
    (notes / "panda.md").write_text(
        "# 熊猫保护笔记\n\n大熊猫主要生活在四川、陕西和甘肃的山区竹林中。\n\n"
        "2016年，世界自然保护联盟将大熊猫的受威胁等级从濒危下调为易危。\n", encoding="utf-8")
    (notes / "changjiang.txt").write_text(
        "长江笔记\n\n长江全长约6300公里，是中国第一长河。\n\n三峡大坝位于湖北省宜昌市三斗坪镇，是世界上装机容量最大的水电站。\n",
        encoding="utf-8")
    extra = root / "extra.jsonl"
    extra.write_text(json.dumps({"doc_id": "huanghe", "title": "黄河笔记",
                                 "text": "黄河发源于青海省巴颜喀拉山脉北麓。\n\n黄河全长约5464公里，流域面积约75万平方公里。"},
                                ensure_ascii=False) + "\n", encoding="utf-8")
    questions = root / "tiny_dev.jsonl"
    questions.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in TINY_QUESTIONS), encoding="utf-8")
    both = root / "both"
    both.mkdir()
    for path in notes.iterdir():
        (both / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (both / "extra.jsonl").write_text(extra.read_text(encoding="utf-8"), encoding="utf-8")
    from index.builder import build_index

    build_index(both, root / "index", show_progress=False)
    return {"notes": notes, "extra": extra, "both": both, "questions": questions, "index": root / "index",
            "root": root}


def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_valid_png(path: Path) -> None:
    with Image.open(path) as image:
        image.verify()


def test_eval_dataset_writes_a_run_folder(sample_index: Path, tmp_path: Path) -> None:
    """The command's original form, as a user types it: prints the table, writes the run folder."""
    run = tmp_path / "run"
    result = subprocess.run([str(NOTESQA), "eval", str(SAMPLE_DEV), "--index", str(sample_index), "--limit", "10",
                             "--out-dir", str(run)], capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert result.returncode == 0, result.stderr
    for label in ("recall@5", "MRR", "nDCG@10", "answer accuracy", "exact match", "citation precision",
                  "latency p50", "latency p95"):
        assert label in result.stdout
    assert "evaluating" in result.stderr  # the progress bar
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    (entry,) = metrics["results"]
    assert (entry["dataset"], entry["system"]) == ("sample_dev", "notesqa")
    assert entry["metrics"]["questions"] == 10 and entry["metrics"]["answer_accuracy"] >= 0.5
    assert len(entry["metrics"]["recall_curve"]) == 20
    records = [json.loads(line) for line in (run / "per_question.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 10 and all(r["latency_ms"] > 0 for r in records)
    for name in ("recall_at_k-sample_dev.png", "accuracy_by_type-sample_dev.png", "latency-sample_dev.png"):
        assert_valid_png(run / name)
    assert "## sample_dev" in (run / "report.md").read_text(encoding="utf-8")


def test_eval_run_two_datasets_then_compare(sample_index: Path, tmp_path: Path) -> None:
    first = invoke("eval", "run", SAMPLE_DEV, ROBUSTNESS, "--index", sample_index, "--limit", "4",
                   "--out-dir", tmp_path / "a", "--save-results", tmp_path / "results.json",
                   "--out", tmp_path / "legacy.json")
    assert first.exit_code == 0, first.output
    saved = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert saved["kind"] == "notesqa-eval-results"
    assert [r["dataset"] for r in saved["results"]] == ["sample_dev", "sample_dev_robustness"]
    assert "records" not in saved["results"][0]
    assert len(json.loads((tmp_path / "legacy.json").read_text(encoding="utf-8"))["results"]) == 2
    second = invoke("eval", SAMPLE_DEV, "--index", sample_index, "--limit", "4", "--top-k", "3",
                    "--out-dir", tmp_path / "b")
    assert second.exit_code == 0, second.output
    compared = invoke("eval", "compare", tmp_path / "a", tmp_path / "b")
    assert compared.exit_code == 0, compared.output
    assert "answer accuracy" in compared.output and "Regressed:" in compared.output
    assert "A only: sample_dev_robustness/notesqa" in compared.output


def test_eval_baselines_runs_four_systems_on_the_same_questions(tiny: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = invoke("eval", "baselines", tiny["questions"], "--corpus", tiny["both"], "--index", tiny["index"],
                    "--out-dir", run, "--cache-dir", tmp_path / "cache")
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert [r["system"] for r in metrics["results"]] == ["notesqa", "keyword", "dense", "langchain"]
    assert metrics["config"]["langchain_chunks"] >= 3
    by_system = {r["system"]: r["metrics"] for r in metrics["results"]}
    assert all(m["questions"] == 4 for m in by_system.values())
    assert by_system["langchain"]["abstention"] == 0.0  # "top chunk as the answer" never abstains
    assert by_system["notesqa"]["answer_accuracy"] >= 2 / 3
    comparison = (run / "comparison.md").read_text(encoding="utf-8")
    assert "notesqa − langchain" in comparison
    records = [json.loads(line) for line in (run / "per_question.jsonl").read_text(encoding="utf-8").splitlines()]
    langchain = [r for r in records if r["system"] == "langchain"]
    assert len(langchain) == 4 and all(len(r["citations"]) <= 4 for r in langchain)
    assert (tmp_path / "cache" / "langchain_embeddings.sqlite").is_file()


def test_eval_combined_index_from_several_corpora(tiny: dict[str, Path], tmp_path: Path) -> None:
    run, index = tmp_path / "run", tmp_path / "combined-index"
    result = invoke("eval", "run", tiny["questions"], "--corpus", tiny["notes"], "--corpus", tiny["extra"],
                    "--index", index, "--seed-index", tiny["index"], "--out-dir", run)
    assert result.exit_code == 0, result.output
    combined = [json.loads(line) for line in (run / "combined_corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(d["doc_id"] for d in combined) == ["changjiang", "huanghe", "panda"]
    assert "embedded 0 paragraphs" in result.output  # every vector came from the seeded cache
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert "3 documents" in metrics["config"]["index"]
    assert metrics["results"][0]["metrics"]["recall@5"] == 1.0


def test_eval_against_the_api_with_concurrency(api_server: str, tmp_path: Path) -> None:
    result = invoke("eval", "run", SAMPLE_DEV, "--api", api_server, "--concurrency", "3", "--limit", "6",
                    "--out-dir", tmp_path / "run")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["config"]["api"] == api_server and metrics["config"]["concurrency"] == 3
    records = (tmp_path / "run" / "per_question.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in records] == ["s001", "s002", "s003", "s004", "s005", "s006"]


@pytest.mark.parametrize("args,message", [
    (["--concurrency", "2"], "--concurrency needs --api"),
    (["--systems", "notesqa,bogus"], "unknown system"),
    (["--api", "http://127.0.0.1:9", "--systems", "keyword"], "baselines run in-process"),
])
def test_eval_run_rejects_bad_options(args: list[str], message: str, tmp_path: Path) -> None:
    result = invoke("eval", "run", SAMPLE_DEV, *args, "--out-dir", tmp_path / "run")
    assert result.exit_code == 2
    assert message in result.output


def test_eval_engine_llm_runs_the_llm_engine_beside_the_extractive_one_and_needs_a_model(
        sample_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTESQA_LLM_BASE_URL", raising=False)
    result = invoke("eval", "run", SAMPLE_DEV, "--index", sample_index, "--engine", "llm", "--limit", "1",
                    "--out-dir", tmp_path / "run")
    assert result.exit_code == 2
    assert "the notesqa-llm system needs a language model: set NOTESQA_LLM_BASE_URL" in result.output


def test_eval_run_with_the_evidence_withheld(tiny: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = invoke("eval", "run", tiny["questions"], "--index", tiny["index"], "--withhold-evidence",
                    "--out-dir", run, "--save-results", tmp_path / "results.json")
    assert result.exit_code == 0, result.output
    assert "tiny_dev (evidence withheld)" in result.output
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert [r["dataset"] for r in metrics["results"]] == ["tiny_dev", "tiny_dev (evidence withheld)"]
    counts = metrics["config"]["evidence_withheld"]["tiny_dev"]
    assert counts["asked"] == 3 and counts["no_evidence_found"] == 0  # the three answerable questions
    withheld = metrics["results"][1]["metrics"]
    assert withheld["questions"] == 3 - counts["answered_from_elsewhere"]
    assert withheld["unanswerable"] == withheld["questions"] and withheld["abstention"] is not None
    assert withheld["answer_accuracy"] is None and withheld["recall@5"] is None
    records = [json.loads(line) for line in (run / "per_question.jsonl").read_text(encoding="utf-8").splitlines()]
    from index.snapshot import load_snapshot

    paragraphs = load_snapshot(tiny["index"]).paragraphs
    evidence = {q["id"]: {p.paragraph_id for p in paragraphs if q["evidence"][0] in p.text}
                for q in TINY_QUESTIONS if q["answerable"]}
    assert all(evidence.values())
    for record in (r for r in records if r["dataset"].endswith("(evidence withheld)")):
        assert not {c["paragraph_id"] for c in record["citations"]} & evidence[record["id"]]
    saved = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert saved["results"][1]["dataset"] == "tiny_dev (evidence withheld)"


def test_eval_withheld_evidence_needs_the_index_in_process(tmp_path: Path) -> None:
    result = invoke("eval", "run", SAMPLE_DEV, "--api", "http://127.0.0.1:9", "--withhold-evidence",
                    "--out-dir", tmp_path / "run")
    assert result.exit_code == 2
    assert "--withhold-evidence asks NotesQA in-process" in result.output


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "per_question.jsonl").read_text(encoding="utf-8").splitlines()]


def test_eval_scoped_asks_every_system_of_the_questions_own_documents(tiny: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = invoke("eval", "baselines", tiny["questions"], "--corpus", tiny["both"], "--index", tiny["index"],
                    "--scoped", "--out-dir", run, "--cache-dir", tmp_path / "cache")
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["config"]["scoped"] is True
    assert {r["dataset"] for r in metrics["results"]} == {"tiny_dev (scoped to its documents)"}
    own = {q["id"]: q["doc_ids"] for q in TINY_QUESTIONS}
    records = _records(run)
    assert {r["system"] for r in records} == {"notesqa", "keyword", "dense", "langchain"}
    for record in records:
        if own[record["id"]]:  # answerable: nothing from another document is ranked or cited
            assert {c["doc_id"] for c in record["citations"]} <= set(own[record["id"]]), record
            assert record["doc_hit"]["1"] == 1.0, record


def test_eval_scoped_over_the_api(api_server: str, tmp_path: Path) -> None:
    result = invoke("eval", "run", SAMPLE_DEV, "--api", api_server, "--scoped", "--limit", "4",
                    "--out-dir", tmp_path / "run")
    assert result.exit_code == 0, result.output
    own = {q["id"]: q["doc_ids"] for q in map(json.loads, SAMPLE_DEV.read_text(encoding="utf-8").splitlines()[:4])}
    for record in _records(tmp_path / "run"):
        if own[record["id"]]:
            assert {c["doc_id"] for c in record["citations"]} <= set(own[record["id"]]), record


def test_eval_scoped_and_withheld_do_not_mix(tmp_path: Path) -> None:
    result = invoke("eval", "run", SAMPLE_DEV, "--scoped", "--withhold-evidence", "--out-dir", tmp_path / "run")
    assert result.exit_code == 2 and "run --scoped separately" in result.output


def test_eval_run_a_conversation_set_prints_the_gap(sample_index: Path, tmp_path: Path) -> None:
    """A set with `turns` is detected and asked turn by turn; its table lands in the README block."""
    run, results = tmp_path / "run", tmp_path / "results"
    result = invoke("eval", "run", CONVERSATIONS, "--index", sample_index, "--limit", "5", "--out-dir", run,
                    "--save-results", results / "sample_conversations.json")
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # rich wraps long lines at the terminal's width
    assert "sample_conversations: 5 conversations, 6 follow-ups" in output  # c01..c05: one follow-up each, c03 two
    assert "follow-up accuracy gap (in full − follow-up): " in output and "(target ≤ 0.05: " in output
    for label in ("answer accuracy, the follow-ups asked in full", "answer accuracy, first turns",
                  "follow-ups resolved from the history", "recall@5", "citation precision"):
        assert label in output
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert [r["dataset"] for r in metrics["results"]] == [
        "sample_conversations (follow-ups)", "sample_conversations (follow-ups asked in full)",
        "sample_conversations (first turns)"]
    assert [r["metrics"]["questions"] for r in metrics["results"]] == [6, 6, 5]
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- eval-table:start -->\n<!-- eval-table:end -->\n", encoding="utf-8")
    updated = invoke("eval", "readme", "--readme", readme, "--results-dir", results)
    assert updated.exit_code == 0, updated.output
    table = readme.read_text(encoding="utf-8")
    assert "| metric | follow-ups (6 q) | asked in full (6 q) | first turns (5 q) |" in table


def test_eval_a_conversation_set_over_the_api(api_server: str, tmp_path: Path) -> None:
    result = invoke("eval", "run", CONVERSATIONS, "--api", api_server, "--concurrency", "2", "--limit", "3",
                    "--out-dir", tmp_path / "run")
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "3 conversations, 4 follow-ups" in output and "follow-up accuracy gap" in output
    follow_ups = [r for r in _records(tmp_path / "run") if r["dataset"].endswith("(follow-ups)")]
    assert [r["id"] for r in follow_ups] == ["c01.2", "c02.2", "c03.2", "c03.3"]
    assert "第一届" in follow_ups[0]["resolved_question"]  # the service read the history it was sent


@pytest.mark.parametrize("args,message", [
    (["baselines", CONVERSATIONS], "asked of NotesQA only"),
    (["run", CONVERSATIONS, "--scoped"], "do not apply to a conversation set"),
])
def test_eval_a_conversation_set_refuses_what_does_not_apply(args: list, message: str, tmp_path: Path) -> None:
    result = invoke("eval", *args, "--out-dir", tmp_path / "run")
    assert result.exit_code == 2 and message in result.output
