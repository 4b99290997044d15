"""The run folder: metrics.json, per_question.jsonl, report.md (+ comparison.md) and PNG plots.

    runs/<timestamp>/
        metrics.json          {"created", "config", "results": [{"dataset", "system", "metrics"}]}
        per_question.jsonl    one scored record per question and system ("dataset", "system" added)
        report.md             metric tables, plots, questions answered wrongly
        comparison.md         systems side by side (when a run has more than one system)
        recall_at_k-<dataset>.png, accuracy_by_type-<dataset>.png, latency-<dataset>.png
        reliability-<dataset>.png, abstention_tradeoff-<dataset>.png   (systems with a confidence)
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from evaluation.scoring import percentile, question_ok

RESULTS_KIND = "notesqa-eval-results"

# The one home of the metric labels: every metric a table shows, in display order (the full set is in
# metrics.json). The terminal summary of `eval run` shows them all; reports, comparisons and the README
# table leave out TERMINAL_ONLY.
METRIC_LABELS: dict[str, str] = {
    "recall@1": "recall@1",
    "recall@3": "recall@3",
    "recall@5": "recall@5",
    "recall@10": "recall@10",
    "recall@20": "recall@20",
    "evidence_recall@5": "evidence recall@5",
    "doc_hit@5": "doc hit@5",
    "mrr": "MRR",
    "ndcg@10": "nDCG@10",
    "answer_accuracy": "answer accuracy",
    # conversations (evaluation/conversations.py): on the follow-ups' result, beside its usual metrics
    "in_full_accuracy": "answer accuracy, the follow-ups asked in full",
    "follow_up_accuracy_gap": "follow-up accuracy gap (in full − follow-up)",
    "first_turn_accuracy": "answer accuracy, first turns",
    "resolved_rate": "follow-ups resolved from the history",
    "list_item_recall": "list item recall",
    "exact_match": "exact match (concise answer)",
    "f1": "char F1 (concise answer)",
    "citation_precision": "citation precision",
    "citation_recall": "citation recall",
    "abstention": "abstention (unanswerable)",
    "false_abstention": "false abstention (answerable)",
    "ece": "expected calibration error",
    "answer_chars_p50": "median answer length (chars)",
    "latency_p50_ms": "latency p50 (ms)",
    "latency_p95_ms": "latency p95 (ms)",
}
TERMINAL_ONLY = frozenset({"recall@3", "evidence_recall@5", "doc_hit@5"})
# shorter is better for the answer length: the answer a user reads (a baseline's is its whole passage)
LOWER_IS_BETTER = frozenset({"false_abstention", "ece", "answer_chars_p50", "latency_p50_ms", "latency_p95_ms",
                             "follow_up_accuracy_gap"})
# (metrics key, label, higher is better): the rows of reports, comparisons and the README table
METRIC_ROWS: list[tuple[str, str, bool]] = [(key, label, key not in LOWER_IS_BETTER)
                                            for key, label in METRIC_LABELS.items() if key not in TERMINAL_ONLY]
MAX_LISTED_MISSES = 40
# Described, not judged: a shorter answer is not a better one by itself (an empty one is shortest),
# so no "better?" verdict and no place in where_worse. (Lower still counts as the good direction
# in `eval compare`, via LOWER_IS_BETTER.)
# The resolved rate likewise: a follow-up that stands on its own is rightly left as it is.
DESCRIPTIVE_KEYS = frozenset({"answer_chars_p50", "resolved_rate"})
# metrics in physical units (milliseconds, characters) are shown with one decimal, rates with three
ONE_DECIMAL_PREFIXES = ("latency", "answer_chars")


@dataclass
class Result:
    dataset: str
    system: str
    metrics: dict
    records: list[dict] = field(default_factory=list)


def new_run_dir(base: str | Path = "runs") -> Path:
    """runs/<timestamp>/ (suffixed when two runs start in the same second)."""
    base = Path(base)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path, n = base / stamp, 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "dataset"


def one_decimal(key: str) -> bool:
    return key.startswith(ONE_DECIMAL_PREFIXES)


def fmt(key: str, value) -> str:
    if value is None:
        return "n/a"
    if one_decimal(key):
        return f"{value:.1f}"
    if isinstance(value, (int, float)):
        return f"{value:.3f}"
    return str(value)


def by_dataset(results: list[Result]) -> dict[str, list[Result]]:
    grouped: dict[str, list[Result]] = {}
    for result in results:
        grouped.setdefault(result.dataset, []).append(result)
    return grouped


# --- tables ---------------------------------------------------------------------------------

def metrics_table(results: list[Result], labels: dict[str, str] | None = None) -> str:
    """Markdown: one row per metric, one column per system."""
    labels = labels or {}
    header = "| metric | " + " | ".join(labels.get(r.system, r.system) for r in results) + " |"
    lines = [header, "|---|" + "---:|" * len(results)]
    for key, label, _ in METRIC_ROWS:
        if all(r.metrics.get(key) is None for r in results):
            continue
        lines.append(f"| {label} | " + " | ".join(fmt(key, r.metrics.get(key)) for r in results) + " |")
    return "\n".join(lines)


def comparison_table(results: list[Result], ours: str = "notesqa", reference: str = "langchain") -> str:
    """Systems side by side, plus ours minus the reference and whether ours is better."""
    table = metrics_table(results)
    by_system = {r.system: r for r in results}
    if ours not in by_system or reference not in by_system:
        return table
    a, b = by_system[ours].metrics, by_system[reference].metrics
    lines = table.splitlines()
    lines[0] += f" {ours} − {reference} | {ours} better? |"
    lines[1] += "---:|:---:|"
    row = 2
    for key, _, higher in METRIC_ROWS:
        if all(r.metrics.get(key) is None for r in results):
            continue
        if a.get(key) is None or b.get(key) is None:
            lines[row] += " n/a | n/a |"
        else:
            delta = a[key] - b[key]
            better = delta > 0 if higher else delta < 0
            mark = "yes" if better else ("tie" if abs(delta) < 1e-9 else "**no**")
            if key in DESCRIPTIVE_KEYS:
                mark = "—"
            lines[row] += f" {delta:+.1f} | {mark} |" if one_decimal(key) else f" {delta:+.3f} | {mark} |"
        row += 1
    return "\n".join(lines)


def where_worse(results: list[Result], ours: str = "notesqa", reference: str = "langchain") -> list[str]:
    """The metrics on which `ours` is worse than `reference` (ties, e.g. both 0.000, are not listed)."""
    by_system = {r.system: r.metrics for r in results}
    if ours not in by_system or reference not in by_system:
        return []
    a, b = by_system[ours], by_system[reference]
    worse = []
    for key, label, higher in METRIC_ROWS:
        if a.get(key) is None or b.get(key) is None or key in DESCRIPTIVE_KEYS:
            continue
        if (a[key] < b[key]) if higher else (a[key] > b[key]):
            worse.append(f"{label}: {fmt(key, a[key])} vs {fmt(key, b[key])}")
    return worse


def type_table(results: list[Result], field_name: str = "accuracy_by_type") -> str:
    groups = sorted({g for r in results for g in (r.metrics.get(field_name) or {})})
    if not groups:
        return ""
    lines = ["| group | n | " + " | ".join(r.system for r in results) + " |",
             "|---|---:|" + "---:|" * len(results)]
    for g in groups:
        n = next(r.metrics[field_name][g]["n"] for r in results if g in (r.metrics.get(field_name) or {}))
        cells = [fmt("a", (r.metrics.get(field_name) or {}).get(g, {}).get("accuracy")) for r in results]
        lines.append(f"| {g} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def calibrated(results: list[Result]) -> list[Result]:
    """The results whose system reported a confidence (summarize put calibration tables in)."""
    return [r for r in results if r.metrics.get("reliability")]


def confidence_band_table(results: list[Result]) -> str:
    """Markdown: per confidence band, each calibrated system's answers (count) and their accuracy."""
    results = calibrated(results)
    if not results:
        return ""
    bands = [(row["low"], row["high"]) for row in results[0].metrics.get("accuracy_by_confidence") or []]
    lines = ["| confidence | " + " | ".join(f"{r.system} n | {r.system} accuracy" for r in results) + " |",
             "|---|" + "---:|---:|" * len(results)]
    for i, (low, high) in enumerate(bands):
        closing = "]" if i == len(bands) - 1 else ")"
        cells = []
        for r in results:
            rows = r.metrics.get("accuracy_by_confidence") or []
            row = rows[i] if i < len(rows) else {}
            cells += [str(row.get("count", 0)), fmt("accuracy", row.get("accuracy"))]
        lines.append(f"| [{low:.1f}, {high:.1f}{closing} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- plots ----------------------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_recall_curve(results: list[Result], path: Path, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for r in results:
        curve = r.metrics.get("recall_curve") or {}
        if curve:
            ks = sorted(int(k) for k in curve)
            ax.plot(ks, [curve[str(k)] for k in ks], marker="o", markersize=3, label=r.system)
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k")
    ax.set_xticks(range(1, 21))
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    if ax.lines:
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_accuracy_by_type(results: list[Result], path: Path, title: str) -> Path:
    plt = _pyplot()
    groups = sorted({g for r in results for g in (r.metrics.get("accuracy_by_type") or {})})
    width_in = min(14.0, max(6.4, 0.22 * len(groups) * max(len(results), 1) + 2))
    fig, ax = plt.subplots(figsize=(width_in, 4.2), dpi=100)
    width = 0.8 / max(len(results), 1)
    for i, r in enumerate(results):
        table = r.metrics.get("accuracy_by_type") or {}
        xs = [j + i * width for j in range(len(groups))]
        ax.bar(xs, [table.get(g, {}).get("accuracy", 0.0) for g in groups], width=width, label=r.system)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(groups))])
    ax.set_xticklabels(groups, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (unanswerable: abstention)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if results:
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_latency(results: list[Result], path: Path, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    values = [v for r in results for v in (rec["latency_ms"] for rec in r.records)]
    high = percentile(values, 99) * 1.1 if values else 0.0  # a rare stall would squash the rest
    if values:
        bins = [high * i / 40 for i in range(41)] if high > 0 else 10
        for r in results:
            clipped = [min(rec["latency_ms"], high) for rec in r.records]
            ax.hist(clipped, bins=bins, histtype="step", linewidth=1.5,
                    label=f"{r.system} (p50 {r.metrics.get('latency_p50_ms', 0):.0f} ms)")
        ax.legend(fontsize="small")
    ax.set_xlabel("latency per question (ms; the slowest 1% drawn at the right edge)")
    ax.set_ylabel("questions")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_reliability(results: list[Result], path: Path, title: str) -> Path:
    """Reliability diagram: accuracy against mean confidence per bin (empty bins left out), and
    the answers per bin underneath; the diagonal is perfect calibration."""
    plt = _pyplot()
    fig, (ax, counts) = plt.subplots(2, 1, figsize=(6.4, 5.6), dpi=100, sharex=True,
                                     gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    rows_of = [(r, r.metrics.get("reliability") or []) for r in calibrated(results)]
    width = 0.8 / max(len(rows_of), 1)
    for i, (r, rows) in enumerate(rows_of):
        filled = [row for row in rows if row["count"]]
        ax.plot([row["mean_confidence"] for row in filled], [row["accuracy"] for row in filled], marker="o",
                label=f"{r.system} (ECE {fmt('ece', r.metrics.get('ece'))})")
        bin_width = (rows[0]["high"] - rows[0]["low"]) if rows else 0.1
        counts.bar([row["low"] + bin_width * (0.1 + i * width + width / 2) for row in rows],
                   [row["count"] for row in rows], width=bin_width * width, label=r.system)
    ax.set_ylabel("accuracy of the answers")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    counts.set_xlabel("confidence")
    counts.set_ylabel("answers")
    counts.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_tradeoff(results: list[Result], path: Path, title: str) -> Path:
    """What a confidence threshold trades: accuracy against coverage (left), and accuracy,
    abstention and false abstention against the threshold (right)."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.2), dpi=100)
    for r in calibrated(results):
        curve = r.metrics.get("abstention_tradeoff") or []
        answered = [row for row in curve if row["accuracy"] is not None]
        left.plot([row["coverage"] for row in answered], [row["accuracy"] for row in answered], marker="o",
                  markersize=3, label=r.system)
        thresholds = [row["threshold"] for row in curve]
        for key, style in (("accuracy", "-"), ("abstention", "--"), ("false_abstention", ":")):
            values = [row[key] for row in curve]
            if any(v is not None for v in values):
                right.plot(thresholds, [float("nan") if v is None else v for v in values], linestyle=style,
                           label=f"{r.system}: {key.replace('_', ' ')}")
    left.set_xlabel("coverage (share of questions answered)")
    left.set_ylabel("accuracy of the answers")
    left.set_xlim(0, 1.02)
    left.set_ylim(0, 1.02)
    right.set_xlabel("confidence threshold (answer only at or above)")
    right.set_ylabel("share")
    right.set_xlim(0, 1)
    right.set_ylim(0, 1.02)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# --- the run folder -------------------------------------------------------------------------

def write_run(out_dir: str | Path, results: list[Result], config: dict | None = None,
              labels: dict[str, str] | None = None) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = config or {}
    (out_dir / "metrics.json").write_text(json.dumps(
        {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "config": config,
         "results": [{"dataset": r.dataset, "system": r.system, "metrics": r.metrics} for r in results]},
        ensure_ascii=False, indent=2), encoding="utf-8")
    with (out_dir / "per_question.jsonl").open("w", encoding="utf-8") as fh:
        for r in results:
            for record in r.records:
                fh.write(json.dumps({"dataset": r.dataset, "system": r.system, **record}, ensure_ascii=False) + "\n")
    lines = ["# NotesQA evaluation run", ""]
    for key, value in config.items():
        lines.append(f"- **{key}**: {value}")
    comparison: list[str] = []
    for dataset, group in by_dataset(results).items():
        name = slug(dataset)
        first = group[0].metrics
        lines += ["", f"## {dataset}", "",
                  f"{first['questions']} questions ({first['answerable']} answerable, "
                  f"{first['unanswerable']} unanswerable); systems: {', '.join(r.system for r in group)}.", ""]
        table = comparison_table(group) if len(group) > 1 else metrics_table(group, labels)
        lines += [table, ""]
        if len(group) > 1:
            comparison += [f"## {dataset}", "", table, ""]
            worse = where_worse(group)
            if worse:
                comparison += ["NotesQA does not beat LangChain on: " + "; ".join(worse) + ".", ""]
                lines += ["NotesQA does not beat LangChain on: " + "; ".join(worse) + ".", ""]
        recall_png = plot_recall_curve(group, out_dir / f"recall_at_k-{name}.png", f"recall@k: {dataset}")
        type_png = plot_accuracy_by_type(group, out_dir / f"accuracy_by_type-{name}.png",
                                         f"accuracy by question type: {dataset}")
        latency_png = plot_latency(group, out_dir / f"latency-{name}.png", f"latency: {dataset}")
        lines += [f"![recall@k]({recall_png.name})", "", f"![accuracy by type]({type_png.name})", "",
                  f"![latency]({latency_png.name})", "", "### Accuracy by question type", "",
                  type_table(group), ""]
        if any(r.metrics.get("accuracy_by_tag") for r in group):
            lines += ["### Accuracy by tag", "", type_table(group, "accuracy_by_tag"), ""]
        lines += _calibration_section(group, out_dir, name, dataset)
        lines += _misses(group[0])
    (out_dir / "report.md").write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    if comparison:
        (out_dir / "comparison.md").write_text("# Systems side by side\n\n" + "\n".join(comparison).rstrip() + "\n",
                                               encoding="utf-8")
    return out_dir


def _calibration_section(group: list[Result], out_dir: Path, name: str, dataset: str) -> list[str]:
    """Reliability and trade-off plots and the confidence-band table; nothing for systems without
    a confidence (the baselines)."""
    with_confidence = calibrated(group)
    if not with_confidence:
        return []
    reliability_png = plot_reliability(with_confidence, out_dir / f"reliability-{name}.png",
                                       f"reliability: {dataset}")
    tradeoff_png = plot_tradeoff(with_confidence, out_dir / f"abstention_tradeoff-{name}.png",
                                 f"accuracy / abstention trade-off: {dataset}")
    counted = ", ".join(f"{r.system} {r.metrics.get('calibration_n', '?')}" for r in with_confidence)
    return ["### Calibration", "",
            "Over the answered questions and every unanswerable one (answering it is wrong); an abstained "
            f"answerable question's suppressed answer is unknown and left out ({counted} questions). "
            "ECE: " + "; ".join(f"{r.system} {fmt('ece', r.metrics.get('ece'))}" for r in with_confidence) + ".",
            "", f"![reliability]({reliability_png.name})", "", f"![trade-off]({tradeoff_png.name})", "",
            "#### Accuracy by confidence", "", confidence_band_table(with_confidence), ""]


def _cell(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit] + "…"


def _misses(result: Result) -> list[str]:
    missed = [r for r in result.records if not question_ok(r)]
    if not missed:
        return [f"All questions right ({result.system}).", ""]
    lines = [f"### Questions {result.system} got wrong ({len(missed)})", "",
             "| id | type | question | gold | answer |", "|---|---|---|---|---|"]
    for r in missed[:MAX_LISTED_MISSES]:
        gold = " / ".join(r["gold"]) if r["answerable"] else "(abstain)"
        answer = "(abstained)" if r["abstained"] else r["answer"]
        lines.append(f"| {r['id']} | {r['type']} | {_cell(r['question'], 60)} | {_cell(gold, 40)} | {_cell(answer)} |")
    if len(missed) > MAX_LISTED_MISSES:
        lines.append(f"\n… and {len(missed) - MAX_LISTED_MISSES} more in per_question.jsonl")
    return lines + [""]


def load_run(run_dir: str | Path) -> tuple[dict, list[Result]]:
    """A run folder written by `write_run` -> (config, results with their records)."""
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a run folder (no metrics.json)")
    data = json.loads(metrics_path.read_text(encoding="utf-8"))
    results = [Result(e["dataset"], e["system"], e["metrics"]) for e in data["results"]]
    index = {(r.dataset, r.system): r for r in results}
    records_path = run_dir / "per_question.jsonl"
    if records_path.is_file():
        with records_path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    record = json.loads(line)
                    result = index.get((record.get("dataset"), record.get("system")))
                    if result is not None:
                        result.records.append(record)
    return data.get("config", {}), results


def save_results(path: str | Path, results: list[Result], config: dict | None = None) -> Path:
    """The compact file committed under evaluation/results/ (metrics only, no records)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(
        {"kind": RESULTS_KIND, "version": 1, "generated": time.strftime("%Y-%m-%d"), "config": config or {},
         "results": [{"dataset": r.dataset, "system": r.system, "metrics": r.metrics} for r in results]},
        ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
