"""Regenerate README.md's evaluation section from the result files in evaluation/results/.

    python -m evaluation.readme_table [--readme README.md] [--results-dir evaluation/results] [--check]
    notesqa eval readme [...]

The text between `<!-- eval-table:start -->` and `<!-- eval-table:end -->` is replaced; the
table is never typed by hand. scripts/evaluate.sh refreshes the result files, then this.
Files read (each optional; a missing one leaves its part out):
    sample_dev.json        NotesQA on the sample dev set (and the robustness set)
    baselines_sample.json  the four systems on the sample dev set, sample corpus
    baselines_cmrc.json    the four systems on CMRC 2018 dev
    combined.json          NotesQA on the sample dev set, index = sample corpus + CMRC passages
    scoped_cmrc.json       NotesQA on CMRC 2018 dev, each question asked of its own passage (`--scoped`)
    sample_conversations.json  NotesQA on the sample conversations: follow-ups, the same asked in full
    backends_sample.json   NotesQA on the sample dev set, the corpus indexed by each index backend
    backends_cmrc.json     the same on CMRC 2018 dev
and the cross-validated figures `notesqa train answers` wrote into the shipped answer model's `report`.
A result whose dataset ends in " (evidence withheld)" (`--withhold-evidence`) goes to its own table.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evaluation.conversations import (FOLLOW_UPS_SUFFIX, conversation_parts, gap_verdict, is_follow_ups_result,
                                      part_name)
from evaluation.datasets import WITHHELD_SUFFIX
from evaluation.report import (METRIC_LABELS, METRIC_ROWS, RESULTS_KIND, Result, comparison_table, fmt, one_decimal,
                               where_worse)
from evaluation.runner import SYSTEM_LABELS
from retrieval.answer.model import DEFAULT_MODEL
from retrieval.answer.arbiter import DEFAULT_ARBITER
from retrieval.answer.span_reader import DEFAULT_READER

REPO_ROOT = Path(__file__).resolve().parent.parent
START = "<!-- eval-table:start -->"
END = "<!-- eval-table:end -->"
DEFAULT_RESULTS = REPO_ROOT / "evaluation" / "results"
DEFAULT_README = REPO_ROOT / "README.md"
COMBINED_TARGET = 0.02
BACKENDS_TARGET = 0.01  # the largest answer accuracy gap between index backends (#16)
BACKEND_LABELS = {"embedded": "embedded (FAISS + bm25s)", "milvus-lite": "Milvus (Milvus Lite, gRPC on loopback)"}
COMBINED_ROWS = ("recall@1", "recall@5", "mrr", "answer_accuracy", "citation_precision", "abstention",
                 "false_abstention", "ece", "answer_chars_p50", "latency_p50_ms")
CONVERSATION_ROWS = ("answer_accuracy", "recall@1", "recall@5", "mrr", "citation_precision", "abstention",
                     "false_abstention", "latency_p50_ms")


class ReadmeError(RuntimeError):
    pass


def _withheld(result: Result) -> bool:
    return result.dataset.endswith(WITHHELD_SUFFIX)


def load_results(path: Path) -> tuple[dict, list[Result]] | None:
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("kind") != RESULTS_KIND:
        raise ReadmeError(f"{path}: not a NotesQA result file (kind {data.get('kind')!r})")
    return data, [Result(e["dataset"], e["system"], e["metrics"]) for e in data["results"]]


def _scope(data: dict, result: Result) -> str:
    config = data.get("config", {})
    n = result.metrics["questions"]
    limit = config.get("limit")
    subset = f"the first {n} questions of the file (a fixed subset, --limit {limit})" if limit else f"all {n} questions"
    machine = f" on {config['machine']}" if config.get("machine") else ""
    return f"{subset}; generated {data.get('generated', '?')}{machine}"


def _labelled(results: list[Result]) -> list[Result]:
    return [Result(r.dataset, SYSTEM_LABELS.get(r.system, r.system), r.metrics) for r in results]


def _single_table(results: list[Result], columns: list[str] | None = None) -> str:
    """One column per result, headed by `columns` (default: the dataset and its size)."""
    columns = columns or [f"{r.dataset} ({r.metrics['questions']} q)" for r in results]
    lines = ["| metric | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(results)]
    for key, label, _ in METRIC_ROWS:
        if all(r.metrics.get(key) is None for r in results):
            continue
        lines.append(f"| {label} | " + " | ".join(fmt(key, r.metrics.get(key)) for r in results) + " |")
    return "\n".join(lines)


def _baselines_section(title: str, data: dict, results: list[Result]) -> list[str]:
    lines = [f"#### {title}", "", f"{results[0].dataset}: {_scope(data, results[0])}. "
             f"Index: {data.get('config', {}).get('index', '?')}.", ""]
    table = comparison_table(results)
    # system names -> labels in the header only
    head, *rest = table.splitlines()
    for name, label in SYSTEM_LABELS.items():
        head = head.replace(f"| {name} |", f"| {label} |")
    lines += [head, *rest, ""]
    worse = where_worse(results)
    if worse:
        lines += ["Where NotesQA does **not** beat the LangChain pipeline: " + "; ".join(worse) + ".", ""]
    elif any(r.system == "langchain" for r in results):
        lines += ["NotesQA beats the LangChain pipeline on every metric above.", ""]
    build = data.get("config", {}).get("langchain_build_seconds")
    if build is not None:
        lines += [f"LangChain index: {data['config'].get('langchain_chunks', '?')} chunks, built in {build:.0f} s "
                  "(embeddings cached between runs).", ""]
    return lines


def _backends_section(found: list[tuple[dict, list[Result]]]) -> list[str]:
    """Each dataset asked of the same corpus indexed by each index backend (`notesqa eval backends`)."""
    if not found:
        return []
    lines = ["#### Index backends side by side: embedded and Milvus", "",
             "`notesqa eval backends DATASET --corpus C --backend embedded --milvus-lite`: the corpus indexed by "
             "each backend from the same vectors, the same questions asked of each in-process.", ""]
    for data, results in found:
        lines += [f"{results[0].dataset}: {_scope(data, results[0])}.", "",
                  _single_table(results, [BACKEND_LABELS.get(r.system, r.system) for r in results]), ""]
        accuracies = [r.metrics.get("answer_accuracy") or 0.0 for r in results]
        gap = max(accuracies) - min(accuracies)
        verdict = "met" if gap <= BACKENDS_TARGET + 1e-9 else "**not met**"
        lines += [f"Answer accuracy gap between the backends: {gap:.3f} (target ≤ {BACKENDS_TARGET}: {verdict}).", ""]
    return lines


def _conversations_section(data: dict, results: list[Result]) -> list[str]:
    """Each conversation set's follow-ups beside the same questions asked in full and the first turns."""
    lines: list[str] = []
    config = data.get("config", {})
    machine = f" on {config['machine']}" if config.get("machine") else ""
    asked = f"over the API ({config['api']})" if config.get("api") else "in-process"
    for follow_ups in (r for r in results if is_follow_ups_result(r)):
        parts = conversation_parts(results, follow_ups)
        m = follow_ups.metrics
        lines += ["#### Conversations: follow-up questions", "",
                  f"{follow_ups.dataset.removesuffix(FOLLOW_UPS_SUFFIX)}: {m.get('conversations', '?')} "
                  f"conversations, {m['questions']} follow-ups, asked {asked}; generated {data.get('generated', '?')}"
                  f"{machine}. Each conversation is asked turn by turn with the history of NotesQA's own earlier "
                  "answers, as the chat sends it; each follow-up is also asked in full, on its own.", "",
                  "| metric | " + " | ".join(f"{part_name(r)} ({r.metrics['questions']} q)" for r in parts) + " |",
                  "|---|" + "---:|" * len(parts)]
        for key in CONVERSATION_ROWS:
            if any(r.metrics.get(key) is not None for r in parts):
                lines.append(f"| {METRIC_LABELS[key]} | " + " | ".join(fmt(key, r.metrics.get(key)) for r in parts)
                             + " |")
        verdict = gap_verdict(m).replace("not met", "**not met**")
        resolved = m.get("resolved_rate")
        count = f" ({round(resolved * m['questions'])} of {m['questions']})" if resolved is not None else ""
        lines += ["", f"{METRIC_LABELS['follow_up_accuracy_gap'].capitalize()}: {verdict}. "
                      f"{METRIC_LABELS['resolved_rate'].capitalize()}: {fmt('resolved_rate', resolved)}{count}.", ""]
    return lines


def _withheld_section(found: list[tuple[dict, Result]]) -> list[str]:
    if not found:
        return []
    lines = ["#### Near misses: each answerable question asked with its evidence withheld", "",
             "Every answerable question is asked again of the index without the paragraphs holding its evidence "
             "or gold answer (`--withhold-evidence`): the notes still speak of its subject, but no longer of "
             "the fact, and the right answer is to abstain. Questions answered correctly all the same (the fact "
             "is elsewhere too) are left out. The LangChain pipeline never abstains (0.000 here).", "",
             "| dataset | asked | answered from elsewhere (left out) | scored | abstention |",
             "|---|---:|---:|---:|---:|"]
    for data, r in found:
        base = r.dataset.removesuffix(WITHHELD_SUFFIX)
        counts = data.get("config", {}).get("evidence_withheld", {}).get(base, {})
        lines.append(f"| {base} | {counts.get('asked', '?')} | {counts.get('answered_from_elsewhere', '?')} | "
                     f"{r.metrics['questions']} | {fmt('abstention', r.metrics.get('abstention'))} |")
    return lines + [""]


TRAINING_SET_LABELS = {"drcd": "DRCD test", "cmrc2018-trial": "CMRC 2018 trial", "sample_dev": "sample dev sets"}


def _training_report(path: Path) -> tuple[dict, dict]:
    """(report, its cross-validated figures by training set) stored in a fitted JSON file; empty without one."""
    if not path.is_file():
        return {}, {}
    report = json.loads(path.read_text(encoding="utf-8")).get("report", {})
    return report, report.get("cross_validated", {})


SWAPPED_NOTE = ("*Near misses*: the question asked without the paragraphs that answer it; *subject swapped*: the "
                "question with the rarest name it gives replaced by a name the index never holds.")


def _share(value: float | None) -> str:
    """A share for a table cell; a report from before a figure existed has none."""
    return "n/a" if value is None else f"{value:.3f}"


def _cross_validated_section(model_path: Path) -> list[str]:
    report, sets = _training_report(model_path)
    if not sets:
        return []
    lines = ["#### Cross-validated on the training sets", "",
             f"From the shipped answer model's report (`notesqa train answers`, {report.get('folds', '?')}-fold, "
             "grouped by article): every figure is of questions the fitted parts had not seen. The sample dev sets "
             "are part of the training data, so their rows in the tables below are in-sample; these are the "
             "figures that count for them.", "",
             "| training set | questions | recall@5 | answer accuracy | fact EM / F1 | exact span among candidates "
             "| false abstention | near misses abstained | subject swapped, abstained | ECE |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in sets.items():
        lines.append(f"| {TRAINING_SET_LABELS.get(name, name)} | {m['questions']} | {m['recall@5']:.3f} | "
                     f"{m['answer_accuracy']:.3f} | {m['fact_em']:.3f} / {m['fact_f1']:.3f} | "
                     f"{m.get('exact_span_among_candidates', float('nan')):.3f} | {m['false_abstention']:.3f} | "
                     f"{m['near_miss_abstention']:.3f} | {_share(m.get('swapped_abstention'))} | {m['ece']:.3f} |")
    lines += ["", f"Abstention threshold {report.get('abstain_below')}, picked for a false-abstention rate of "
                  f"{report.get('false_abstention_target')} on the held-out folds. {SWAPPED_NOTE}", ""]
    return lines


def _span_reader_section(reader_path: Path) -> list[str]:
    if not reader_path.is_file():
        return []
    from safetensors import safe_open

    with safe_open(str(reader_path), framework="numpy") as f:
        report = json.loads((f.metadata() or {}).get("report", "{}"))
        tuned_layers = len({k.split(".")[1] for k in f.keys() if k.startswith("layer.")})
    held = report.get("held_out", {})
    if not held:
        return []
    fit, cfg = report.get("fit", {}), report.get("settings", {})
    lines = ["#### The span reader on held-out articles", "",
             f"From the shipped span reader's report (`notesqa train reader`): the top "
             f"{tuned_layers} encoder layers and the head fine-tuned for {cfg.get('epochs')} "
             f"epochs{' under bfloat16 autocast' if fit.get('bf16', cfg.get('bf16')) else ''} on {fit.get('questions')} questions "
             f"({fit.get('windows')} windows) in "
             f"{round((fit.get('frozen_layers_seconds', 0) + fit.get('fine_tuning_seconds', 0)) / 60)} min on "
             f"2 cores; scored on the {cfg.get('held_out', 0):.0%} of each set's articles it never saw. The best "
             "span of the question's own passage; the AUC says how well its probability tells that passage from "
             "another paragraph of the same article.", "",
             "| training set | held-out questions | exact match | char F1 | own passage vs near miss (AUC) |",
             "|---|---:|---:|---:|---:|"]
    for name, m in held.items():
        auc = m.get("own_vs_near_miss_auc")
        lines.append(f"| {TRAINING_SET_LABELS.get(name, name)} | {m['questions']} | {m['exact_match']:.3f} | "
                     f"{m['char_f1']:.3f} | {_share(auc)} |")
    return lines + [""]


def _arbiter_section(arbiter_path: Path) -> list[str]:
    report, sets = _training_report(arbiter_path)
    if not sets:
        return []
    lines = ["#### The arbiter between the answer model and the span reader, cross-validated", "",
             f"From the shipped arbiter's report (`notesqa train arbiter`, {report.get('folds', '?')}-fold, grouped "
             "by article) on the questions neither model trained on: the sample dev sets and the articles the span "
             "reader's training held out, each asked as it is and with its evidence withheld. *Alone*: the answer "
             "model's held-out answers as served without the arbiter (its fact, else the reader's inside the shown "
             "part; its confidence and threshold). *Arbiter*: the same answers after the held-out arbiter chose "
             "the fact and gave the confidence.", "",
             "| training set | questions | answer accuracy | fact EM / F1 | false abstention "
             "| near misses abstained | subject swapped, abstained | ECE | reader's fact taken |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, both in sets.items():
        for label, key in (("alone", "answer_model_alone"), ("arbiter", "with_arbiter")):
            m = both[key]
            taken = m.get("reader_fact_taken")
            lines.append(f"| {TRAINING_SET_LABELS.get(name, name)}, {label} | {m['questions']} | "
                         f"{m['answer_accuracy']:.3f} | {m['fact_em']:.3f} / {m['fact_f1']:.3f} | "
                         f"{m['false_abstention']:.3f} | {m['near_miss_abstention']:.3f} | "
                         f"{_share(m.get('swapped_abstention'))} | {m['ece']:.3f} | "
                         f"{'—' if taken is None else f'{taken:.3f}'} |")
    lines += ["", f"Abstention threshold {report.get('abstain_below')}, picked for a false-abstention rate of "
                  f"{report.get('settings', {}).get('false_abstention_target')} on the held-out folds.", ""]
    return lines


def render(results_dir: str | Path = DEFAULT_RESULTS, model_path: Path = DEFAULT_MODEL,
           reader_path: Path = DEFAULT_READER, arbiter_path: Path = DEFAULT_ARBITER) -> str:
    results_dir = Path(results_dir)
    lines = [START, "<!-- Generated by `notesqa eval readme` from evaluation/results/*.json: do not edit by hand; "
                    "refresh with scripts/evaluate.sh. -->", ""]
    lines += _cross_validated_section(model_path)
    lines += _span_reader_section(reader_path)
    lines += _arbiter_section(arbiter_path)
    found = False
    sample = load_results(results_dir / "sample_dev.json")
    if sample:
        found = True
        data, results = sample
        ours = [r for r in results if r.system == "notesqa" and not _withheld(r)] or results
        lines += ["#### NotesQA on the sample dev sets", "",
                  "; ".join(f"{r.dataset}: {_scope(data, r)}" for r in ours) + ".", "", _single_table(ours), ""]
    for name, title in (("baselines_sample.json", "Side by side: sample corpus"),
                        ("baselines_cmrc.json", "Side by side: CMRC 2018 dev")):
        loaded = load_results(results_dir / name)
        if loaded:
            found = True
            lines += _baselines_section(title, loaded[0], [r for r in loaded[1] if not _withheld(r)])
    scoped = load_results(results_dir / "scoped_cmrc.json")
    if scoped:
        found = True
        data, results = scoped
        lines += ["#### Reading alone: CMRC 2018 dev, each question asked of its own passage", "",
                  "Every question is asked with `doc_ids` = its gold passage (`notesqa eval run --scoped`), so "
                  "retrieval cannot miss and the figures are those of the reader and its abstention; "
                  + "; ".join(f"{r.dataset}: {_scope(data, r)}" for r in results) + ".", "",
                  _single_table(results), ""]
    conversations = load_results(results_dir / "sample_conversations.json")
    if conversations:
        found = True
        lines += _conversations_section(*conversations)
    combined = load_results(results_dir / "combined.json")
    if combined:
        found = True
        data, results = combined
        alone = {r.dataset: r for r in (sample[1] if sample else []) if r.system == "notesqa"}
        lines += ["#### Combined index: sample corpus + CMRC 2018 passages", "",
                  f"Index: {data.get('config', {}).get('corpora', '?')}.", ""]
        for r in results:
            base = alone.get(r.dataset)
            if base is None or base.metrics["questions"] != r.metrics["questions"]:
                lines += [f"{r.dataset}: no matching sample-corpus-alone result in sample_dev.json.", ""]
                continue
            lines += [f"| {r.dataset} ({r.metrics['questions']} q) | sample corpus alone | combined index | change |",
                      "|---|---:|---:|---:|"]
            for key in COMBINED_ROWS:
                label = next(lbl for k, lbl, _ in METRIC_ROWS if k == key)
                a, b = base.metrics.get(key), r.metrics.get(key)
                if a is None and b is None:  # e.g. calibration in result files from before the confidence
                    continue
                delta = "n/a" if a is None or b is None else (
                    f"{b - a:+.1f}" if one_decimal(key) else f"{b - a:+.3f}")
                lines.append(f"| {label} | {fmt(key, a)} | {fmt(key, b)} | {delta} |")
            drop = base.metrics["answer_accuracy"] - r.metrics["answer_accuracy"]
            verdict = "met" if drop <= COMBINED_TARGET + 1e-9 else "**not met**"
            lines += ["", f"Answer accuracy drop: {drop:.3f} (target ≤ {COMBINED_TARGET}: {verdict}).", ""]
    backends = [loaded for name in ("backends_sample.json", "backends_cmrc.json")
                if (loaded := load_results(results_dir / name))]
    found = found or bool(backends)
    lines += _backends_section(backends)
    lines += _withheld_section([(data, r) for name in ("sample_dev.json", "baselines_cmrc.json")
                                if (loaded := load_results(results_dir / name))
                                for data in [loaded[0]] for r in loaded[1] if _withheld(r)])
    if not found:
        lines += [f"No result files in {results_dir} yet: run scripts/evaluate.sh.", ""]
    lines += ["Latencies are per question on the machine named above, with the systems taking turns question "
              "by question; they move with the machine's load, the comparison between systems less so. "
              "Metrics: see [evaluation/README.md](evaluation/README.md).", "", END]
    return "\n".join(lines)


def replace_marked(text: str, start: str, end: str, section: str) -> str | None:
    """`text` with its part from `start` to `end` (markers included) replaced by `section`, which carries
    the markers itself; None when `text` has not both markers in that order."""
    if start in text and end in text and text.index(start) < text.index(end):
        before, rest = text.split(start, 1)
        return before + section + rest.split(end, 1)[1]
    return None


def write_marked(readme: Path, start: str, end: str, lines: list[str]) -> None:
    """Rewrite `readme`'s section between `start` and `end` (both in `lines`); ReadmeError without them."""
    text = readme.read_text(encoding="utf-8")
    new = replace_marked(text, start, end, "\n".join(lines))
    if new is None:
        raise ReadmeError(f"{readme}: no {start} ... {end} markers; put them where the section goes")
    readme.write_text(new, encoding="utf-8")


def update_readme(readme: str | Path = DEFAULT_README, results_dir: str | Path = DEFAULT_RESULTS, *,
                  check: bool = False, append: bool = False) -> bool:
    """Rewrite the marked section; -> True when the file changed (with check: would change)."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    section = render(results_dir)
    new = replace_marked(text, START, END, section)
    if new is None and append:
        new = text.rstrip("\n") + ("\n\n" if text.strip() else "") + "## Evaluation results\n\n" + section + "\n"
    elif new is None:
        raise ReadmeError(f"{readme}: no {START} ... {END} markers; put them where the table goes "
                          "(or pass --append to add a section at the end)")
    if new == text:
        return False
    if not check:
        readme.write_text(new, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.readme_table", description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, default=DEFAULT_README)
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is out of date; write nothing")
    parser.add_argument("--append", action="store_true", help="add the section at the end if the markers are missing")
    args = parser.parse_args(argv)
    try:
        changed = update_readme(args.readme, args.results_dir, check=args.check, append=args.append)
    except (ReadmeError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.readme}: {'out of date' if changed else 'up to date'}")
        return 1 if changed else 0
    print(f"{args.readme}: {'updated' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
