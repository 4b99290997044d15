"""Compare two run folders: metric deltas and the questions that regressed or improved.

Results are paired by (dataset, system); two runs of one result each are paired whatever their
names. A question regressed when run A had it right and run B does not ("right": the answer
holds a gold alternative, or the question is unanswerable and the system abstained); it
improved the other way round.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evaluation.report import LOWER_IS_BETTER, METRIC_ROWS, Result, _cell, fmt, load_run
from evaluation.scoring import question_ok


@dataclass
class Change:
    dataset: str
    system: str
    id: str
    question: str
    gold: list[str]
    answer_a: str
    answer_b: str


@dataclass
class Comparison:
    run_a: str
    run_b: str
    # (dataset, system label, metric key, label, a, b, delta)
    rows: list[tuple[str, str, str, str, float | None, float | None, float | None]] = field(default_factory=list)
    regressed: list[Change] = field(default_factory=list)
    improved: list[Change] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)


def _pairs(a: list[Result], b: list[Result]) -> tuple[list[tuple[Result, Result]], list[str]]:
    b_index = {(r.dataset, r.system): r for r in b}
    pairs = [(r, b_index[(r.dataset, r.system)]) for r in a if (r.dataset, r.system) in b_index]
    if not pairs and len(a) == 1 and len(b) == 1:
        pairs = [(a[0], b[0])]
    paired_a = {(x.dataset, x.system) for x, _ in pairs}
    paired_b = {(y.dataset, y.system) for _, y in pairs}
    unpaired = [f"A only: {r.dataset}/{r.system}" for r in a if (r.dataset, r.system) not in paired_a]
    unpaired += [f"B only: {r.dataset}/{r.system}" for r in b if (r.dataset, r.system) not in paired_b]
    return pairs, unpaired


def _answer(record: dict) -> str:
    return "(abstained)" if record["abstained"] else record["answer"]


def compare_results(a: list[Result], b: list[Result], run_a: str = "A", run_b: str = "B") -> Comparison:
    pairs, unpaired = _pairs(a, b)
    out = Comparison(run_a, run_b, unpaired=unpaired)
    for ra, rb in pairs:
        system = ra.system if ra.system == rb.system else f"{ra.system} → {rb.system}"
        for key, label, _ in METRIC_ROWS:
            va, vb = ra.metrics.get(key), rb.metrics.get(key)
            if va is None and vb is None:
                continue
            delta = vb - va if va is not None and vb is not None else None
            out.rows.append((ra.dataset, system, key, label, va, vb, delta))
        records_b = {r["id"]: r for r in rb.records}
        for record_a in ra.records:
            record_b = records_b.get(record_a["id"])
            if record_b is None:
                continue
            ok_a, ok_b = question_ok(record_a), question_ok(record_b)
            if ok_a == ok_b:
                continue
            change = Change(ra.dataset, system, record_a["id"], record_a["question"], record_a["gold"],
                            _answer(record_a), _answer(record_b))
            (out.regressed if ok_a else out.improved).append(change)
    return out


def compare_runs(run_a: str | Path, run_b: str | Path) -> Comparison:
    _, a = load_run(run_a)
    _, b = load_run(run_b)
    return compare_results(a, b, str(run_a), str(run_b))


def is_better(key: str, delta: float) -> bool:
    return delta < 0 if key in LOWER_IS_BETTER else delta > 0


def to_markdown(comparison: Comparison) -> str:
    lines = [f"# {comparison.run_b} vs {comparison.run_a}", "",
             "| dataset | system | metric | A | B | B − A |", "|---|---|---|---:|---:|---:|"]
    for dataset, system, key, label, va, vb, delta in comparison.rows:
        shown = "n/a" if delta is None else (f"{delta:+.1f}" if key.startswith("latency") else f"{delta:+.3f}")
        if delta is not None and abs(delta) > 1e-9:
            shown += " ✓" if is_better(key, delta) else " ✗"
        lines.append(f"| {dataset} | {system} | {label} | {fmt(key, va)} | {fmt(key, vb)} | {shown} |")
    for title, changes in (("Regressed", comparison.regressed), ("Improved", comparison.improved)):
        lines += ["", f"## {title} ({len(changes)})", ""]
        if changes:
            lines += ["| dataset | system | id | question | gold | A | B |", "|---|---|---|---|---|---|---|"]
            for c in changes:
                gold = " / ".join(c.gold) or "(abstain)"
                lines.append(f"| {c.dataset} | {c.system} | {c.id} | {_cell(c.question, 50)} | {_cell(gold, 30)} | "
                             f"{_cell(c.answer_a, 60)} | {_cell(c.answer_b, 60)} |")
    if comparison.unpaired:
        lines += ["", "Not compared: " + "; ".join(comparison.unpaired)]
    return "\n".join(lines) + "\n"
