"""Run folders, comparisons and the README table from small fake records."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from evaluation.compare import compare_results, compare_runs, to_markdown
from evaluation.datasets import SCOPED_SUFFIX
from evaluation.readme_table import END, START, ReadmeError, render, update_readme
from evaluation.report import (Result, comparison_table, load_run, new_run_dir, save_results, where_worse,
                               write_run)
from evaluation.scoring import summarize
from tests.evaluation.fakes import GOOD, WORSE, records_for

pytestmark = pytest.mark.unit


def result(system: str, script: dict, latency: float = 10.0, dataset: str = "fake_dev") -> Result:
    records = records_for(script, latency)
    return Result(dataset, system, summarize(records, ks=(1, 3, 5, 10, 20)), records)


def test_write_run_writes_every_file_and_valid_pngs(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [result("notesqa", GOOD), result("langchain", WORSE, 2.0)],
                    {"index": "var/index"})
    names = {p.name for p in run.iterdir()}
    assert {"metrics.json", "per_question.jsonl", "report.md", "comparison.md", "recall_at_k-fake_dev.png",
            "accuracy_by_type-fake_dev.png", "latency-fake_dev.png"} <= names
    for png in run.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(png) as image:
            image.verify()
        with Image.open(png) as image:
            assert image.size[0] >= 400 and image.size[1] >= 300
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert [(r["dataset"], r["system"]) for r in metrics["results"]] == [("fake_dev", "notesqa"),
                                                                         ("fake_dev", "langchain")]
    assert metrics["config"] == {"index": "var/index"}
    lines = (run / "per_question.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6
    first = json.loads(lines[0])
    for key in ("dataset", "system", "question", "gold", "answer", "citations", "hits", "latency_ms"):
        assert key in first
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "## fake_dev" in report and "![recall@k](recall_at_k-fake_dev.png)" in report
    assert "| answer accuracy |" in report and "Questions notesqa got wrong" not in report  # all right
    comparison = (run / "comparison.md").read_text(encoding="utf-8")
    assert "notesqa − langchain" in comparison and "latency p50 (ms)" in comparison
    assert "NotesQA does not beat LangChain on: latency p50 (ms): 10.0 vs 2.0" in comparison


def test_a_single_system_report_lists_the_misses(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [result("notesqa", WORSE)])
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "Questions notesqa got wrong (2)" in report
    assert "| q1 | date |" in report and "| q3 | unanswerable |" in report and "(abstain)" in report
    assert not (run / "comparison.md").exists()


def test_load_run_round_trips(tmp_path: Path) -> None:
    original = [result("notesqa", GOOD), result("keyword", WORSE)]
    write_run(tmp_path / "run", original, {"top_k": 5})
    config, loaded = load_run(tmp_path / "run")
    assert config == {"top_k": 5}
    assert [(r.system, len(r.records)) for r in loaded] == [("notesqa", 3), ("keyword", 3)]
    assert loaded[0].metrics == json.loads(json.dumps(original[0].metrics))
    with pytest.raises(FileNotFoundError):
        load_run(tmp_path)


def test_new_run_dir_never_reuses_a_folder(tmp_path: Path) -> None:
    first, second = new_run_dir(tmp_path), new_run_dir(tmp_path)
    assert first != second and first.is_dir() and second.is_dir()


def test_comparison_table_and_where_worse() -> None:
    ours, theirs = result("notesqa", GOOD, 30.0), result("langchain", WORSE, 5.0)
    table = comparison_table([ours, theirs])
    row = next(line for line in table.splitlines() if line.startswith("| answer accuracy"))
    assert row.split("|")[2:6] == [" 1.000 ", " 0.500 ", " +0.500 ", " yes "]
    worse = where_worse([ours, theirs])
    assert worse == ["latency p50 (ms): 30.0 vs 5.0", "latency p95 (ms): 30.0 vs 5.0"]
    assert where_worse([ours]) == []


# --- compare --------------------------------------------------------------------------------

def test_compare_results_finds_deltas_regressions_and_improvements() -> None:
    comparison = compare_results([result("notesqa", GOOD)], [result("notesqa", WORSE, 20.0)])
    rows = {(key): (a, b, d) for _, _, key, _, a, b, d in comparison.rows}
    assert rows["answer_accuracy"] == (1.0, 0.5, -0.5)
    assert rows["abstention"] == (1.0, 0.0, -1.0)
    assert rows["latency_p50_ms"] == (10.0, 20.0, 10.0)
    assert [c.id for c in comparison.regressed] == ["q1", "q3"]
    assert comparison.improved == []
    back = compare_results([result("notesqa", WORSE)], [result("notesqa", GOOD)])
    assert [c.id for c in back.improved] == ["q1", "q3"] and back.regressed == []
    assert back.improved[1].answer_b == "(abstained)"


def test_compare_pairs_by_dataset_and_system() -> None:
    a = [result("notesqa", GOOD), result("keyword", GOOD), result("notesqa", GOOD, dataset="other")]
    b = [result("notesqa", WORSE), result("dense", GOOD)]
    comparison = compare_results(a, b)
    assert {system for _, system, *_ in comparison.rows} == {"notesqa"}
    assert sorted(comparison.unpaired) == ["A only: fake_dev/keyword", "A only: other/notesqa",
                                           "B only: fake_dev/dense"]
    # one result each: compared whatever their names
    single = compare_results([result("notesqa", GOOD)], [result("langchain", WORSE)])
    assert single.rows and single.rows[0][1] == "notesqa → langchain"


def test_compare_runs_and_markdown(tmp_path: Path) -> None:
    write_run(tmp_path / "a", [result("notesqa", GOOD)])
    write_run(tmp_path / "b", [result("notesqa", WORSE)])
    markdown = to_markdown(compare_runs(tmp_path / "a", tmp_path / "b"))
    assert "| fake_dev | notesqa | answer accuracy | 1.000 | 0.500 | -0.500 ✗ |" in markdown
    assert "## Regressed (2)" in markdown and "## Improved (0)" in markdown


def test_compare_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from service.cli.main import app

    write_run(tmp_path / "a", [result("notesqa", GOOD)])
    write_run(tmp_path / "b", [result("notesqa", WORSE)])
    outcome = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"),
                                       "--out", str(tmp_path / "cmp.md")])
    assert outcome.exit_code == 0, outcome.output
    assert "Regressed: 2" in outcome.output and "Improved: 0" in outcome.output
    assert "-0.500" in outcome.output
    assert (tmp_path / "cmp.md").read_text(encoding="utf-8").startswith("# ")
    missing = CliRunner().invoke(app, ["eval", "compare", str(tmp_path), str(tmp_path / "b")])
    assert missing.exit_code == 2 and "not a run folder" in missing.output


# --- README table ---------------------------------------------------------------------------

@pytest.fixture()
def results_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    ours = result("notesqa", GOOD, dataset="sample_dev")
    save_results(folder / "sample_dev.json", [ours], {"limit": None})
    save_results(folder / "baselines_sample.json",
                 [ours, result("keyword", WORSE, 1.0, "sample_dev"), result("langchain", WORSE, 2.0, "sample_dev")],
                 {"index": "var/index", "langchain_chunks": 184, "langchain_build_seconds": 20.0})
    save_results(folder / "baselines_cmrc.json", [result("notesqa", GOOD, dataset="cmrc2018")], {"limit": 3})
    save_results(folder / "combined.json", [result("notesqa", WORSE, dataset="sample_dev")],
                 {"corpora": "corpus, cmrc2018/corpus.jsonl"})
    save_results(folder / "scoped_cmrc.json",
                 [result("notesqa", GOOD, dataset="cmrc2018" + SCOPED_SUFFIX)], {"limit": 3, "scoped": True})
    return folder


def test_render_builds_every_section_from_the_files(results_dir: Path) -> None:
    text = render(results_dir)
    assert text.startswith(START) and text.endswith(END)
    assert "#### NotesQA on the sample dev sets" in text
    assert "#### Side by side: sample corpus" in text and "LangChain FAISS + text splitter" in text
    assert "Where NotesQA does **not** beat the LangChain pipeline: latency p50 (ms): 10.0 vs 2.0" in text
    assert "the first 3 questions of the file (a fixed subset, --limit 3)" in text
    assert "Answer accuracy drop: 0.500 (target ≤ 0.02: **not met**)" in text
    scoped = text.split("#### Reading alone: CMRC 2018 dev", 1)[1].split("####", 1)[0]
    assert "| metric | cmrc2018 (scoped to its documents) (" in scoped and "answer accuracy" in scoped.lower()


def test_render_sets_index_backends_side_by_side(results_dir: Path) -> None:
    save_results(results_dir / "backends_sample.json",
                 [result("embedded", GOOD, dataset="sample_dev"), result("milvus-lite", WORSE, dataset="sample_dev")],
                 {"limit": None})
    section = render(results_dir).split("#### Index backends side by side", 1)[1].split("####", 1)[0]
    assert "| metric | embedded (FAISS + bm25s) | Milvus (Milvus Lite, gRPC on loopback) |" in section
    assert "Answer accuracy gap between the backends: 0.500 (target ≤ 0.01: **not met**)" in section
    save_results(results_dir / "backends_sample.json",
                 [result("embedded", GOOD, dataset="sample_dev"), result("milvus-lite", GOOD, dataset="sample_dev")],
                 {"limit": None})
    assert "Answer accuracy gap between the backends: 0.000 (target ≤ 0.01: met)" in render(results_dir)


def test_render_without_results() -> None:
    assert "No result files" in render(Path("/nonexistent"))


def test_update_readme_replaces_only_the_marked_section(tmp_path: Path, results_dir: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nIntro.\n\n{START}\nold table\n{END}\n\n## After\n", encoding="utf-8")
    assert update_readme(readme, results_dir, check=True) is True
    assert "old table" in readme.read_text(encoding="utf-8")  # --check writes nothing
    assert update_readme(readme, results_dir) is True
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nIntro.\n\n" + START) and text.endswith(END + "\n\n## After\n")
    assert "old table" not in text and "| answer accuracy |" in text
    assert update_readme(readme, results_dir) is False  # idempotent
    assert update_readme(readme, results_dir, check=True) is False


def test_update_readme_without_markers(tmp_path: Path, results_dir: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n", encoding="utf-8")
    with pytest.raises(ReadmeError, match="markers"):
        update_readme(readme, results_dir)
    assert update_readme(readme, results_dir, append=True)
    assert readme.read_text(encoding="utf-8").startswith("# Title\n\n## Evaluation results\n\n" + START)


def test_readme_command(tmp_path: Path, results_dir: Path) -> None:
    from typer.testing import CliRunner

    from service.cli.main import app

    readme = tmp_path / "README.md"
    readme.write_text(f"{START}\n{END}\n", encoding="utf-8")
    args = ["eval", "readme", "--readme", str(readme), "--results-dir", str(results_dir)]
    assert CliRunner().invoke(app, [*args, "--check"]).exit_code == 1
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 0 and "updated" in outcome.output
    assert CliRunner().invoke(app, [*args, "--check"]).exit_code == 0


def test_render_puts_withheld_evidence_results_in_their_own_table(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    ours = result("notesqa", GOOD, dataset="sample_dev")
    near_misses = [{**r, "answerable": False, "correct": None} for r in ours.records]
    withheld = Result("sample_dev (evidence withheld)", "notesqa", summarize(near_misses), near_misses)
    save_results(folder / "sample_dev.json", [ours, withheld],
                 {"evidence_withheld": {"sample_dev": {"asked": 5, "no_evidence_found": 0,
                                                       "answered_from_elsewhere": 1}}})
    text = render(folder)
    assert "| sample_dev (evidence withheld)" not in text.split("#### Near misses")[0]  # not a column of the main table
    expected_abstention = f"{withheld.metrics['abstention']:.3f}"
    assert f"| sample_dev | 5 | 1 | {len(near_misses)} | {expected_abstention} |" in text
