"""Performance figures: embedding vs. full build throughput, API latency, server memory.

    python -m evaluation.benchmark --index DIR [--corpus PATH] [--questions 100] [--out bench.json]
    python -m evaluation.benchmark --readme evaluation/results/benchmark.json   # README's table from --out

1. Raw embedder throughput on the corpus's searchable paragraph texts (encode_document in
   batches of 32, no cache) against a full `build_index` into a fresh temporary folder.
2. Latency of /v1/search and /v1/ask on a real server on loopback (sequential requests).
3. Peak resident memory (VmHWM) of that server process.
Not a test: the figures depend on the machine.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from evaluation.datasets import load_dataset
from evaluation.readme_table import write_marked
from evaluation.scoring import percentile
from index.builder import build_index, indexed_text
from index.embedders import BATCH_SIZE, DEFAULT_EMBEDDER, create_embedder
from index.openmp import wait_settings
from index.snapshot import load_snapshot
from service.local_server import LocalServer
from service.settings import PROJECT_ROOT, SAMPLE_CORPUS

SAMPLE_DEV = Path(__file__).resolve().parent / "datasets" / "sample_dev.jsonl"


def searchable_texts(index_dir: Path) -> list[str]:
    """The texts a build embeds (index.builder.indexed_text: title, retrieval context and paragraph)."""
    snapshot = load_snapshot(index_dir)
    paragraphs = snapshot.paragraphs.many(int(i) for i in snapshot.searchable)
    return [indexed_text(p, snapshot.documents[p.doc_id]["title"]) for p in paragraphs]


def measure_build(corpus: Path, embedder_spec: str) -> dict:
    embedder = create_embedder(embedder_spec)
    embedder.encode_document(["预热"])  # model load and first-call setup are not throughput
    with tempfile.TemporaryDirectory(prefix="notesqa-bench-") as fresh:
        started = time.perf_counter()
        report = build_index(corpus, fresh, embedder_spec, show_progress=False)
        build_seconds = time.perf_counter() - started
        texts = searchable_texts(Path(fresh))
    started = time.perf_counter()
    for start in range(0, len(texts), BATCH_SIZE):
        embedder.encode_document(texts[start:start + BATCH_SIZE])
    embed_seconds = time.perf_counter() - started
    return {
        "corpus": str(corpus),
        "embedder": embedder.name,
        "searchable_paragraphs": len(texts),
        "raw_embed_seconds": round(embed_seconds, 2),
        "raw_embed_paragraphs_per_s": round(len(texts) / embed_seconds, 1),
        "build_seconds": round(build_seconds, 2),
        "build_embed_seconds": round(report.embed_seconds, 2),
        "build_paragraphs_per_s": round(len(texts) / build_seconds, 1),
        "build_to_raw_embed_ratio": round(build_seconds / embed_seconds, 2),
    }


def _timed_ms(client: httpx.Client, path: str, body: dict) -> float:
    started = time.perf_counter()
    response = client.post(path, json=body)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


def peak_rss_mib(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)  # reported in kB
    return None


def measure_server(index_dir: Path, corpus: Path, embedder_spec: str, questions: list[str]) -> dict:
    with LocalServer(index_dir, corpus=corpus, embedder=embedder_spec) as server, \
            httpx.Client(base_url=server.url, timeout=120) as client:
        rss_loaded = peak_rss_mib(server.pid)
        _timed_ms(client, "/v1/ask", {"question": questions[0]})  # warm-up: lazy dictionaries, first embed
        search_ms = [_timed_ms(client, "/v1/search", {"query": q, "top_k": 10}) for q in questions]
        ask_ms = [_timed_ms(client, "/v1/ask", {"question": q, "top_k": 5}) for q in questions]
        rss_peak = peak_rss_mib(server.pid)
    return {
        "questions": len(questions),
        "search_p50_ms": round(percentile(search_ms, 50), 1),
        "search_p95_ms": round(percentile(search_ms, 95), 1),
        "ask_p50_ms": round(percentile(ask_ms, 50), 1),
        "ask_p95_ms": round(percentile(ask_ms, 95), 1),
        "server_rss_after_load_mib": rss_loaded,
        "server_peak_rss_mib": rss_peak,
    }


def describe_run(index_dir: Path) -> dict:
    """What the figures were measured on: date, cores, and how OpenMP threads waited (index/openmp.py)."""
    return {"date": datetime.date.today().isoformat(), "cpus": os.cpu_count(), "index": str(index_dir),
            "openmp": wait_settings()}


README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"
TARGETS = {"build_to_raw_embed_ratio": "≤ 1.15"}  # the answer-quality issue's bound on sentence embedding


def readme_table(figures: dict, source: str) -> list[str]:
    """The README's Speed and memory table, from one run's `--out` JSON."""
    run, build, server = figures["run"], figures["build"], figures["server"]
    return [
        f"Measured with `.venv/bin/python -m evaluation.benchmark --index {run['index']}` ({source}): "
        f"{run['cpus']} CPUs, {run['date']}, OpenMP waits: {run['openmp']}.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| searchable paragraphs | {build['searchable_paragraphs']} |",
        f"| raw embedder, same paragraphs, batches of {BATCH_SIZE} | {build['raw_embed_seconds']} s "
        f"({build['raw_embed_paragraphs_per_s']} paragraphs/s) |",
        f"| full index build (load, segment, tokenize, embed, write) | {build['build_seconds']} s "
        f"({build['build_paragraphs_per_s']} paragraphs/s) |",
        f"| build time / raw embedding time | {build['build_to_raw_embed_ratio']} "
        f"(target {TARGETS['build_to_raw_embed_ratio']}) |",
        f"| `/v1/search` over HTTP on loopback, p50 / p95 ({server['questions']} dev questions, sequential) | "
        f"{server['search_p50_ms']} / {server['search_p95_ms']} ms |",
        f"| `/v1/ask` over HTTP on loopback, p50 / p95 | {server['ask_p50_ms']} / {server['ask_p95_ms']} ms |",
        f"| server RSS after loading / peak | {server['server_rss_after_load_mib']} / "
        f"{server['server_peak_rss_mib']} MiB |",
    ]


def update_readme(figures_path: Path, readme: Path = PROJECT_ROOT / "README.md") -> None:
    """Rewrite README's benchmark table (between README_START and README_END) from a run's `--out` file."""
    figures = json.loads(figures_path.read_text(encoding="utf-8"))
    source = str(figures_path.relative_to(PROJECT_ROOT) if figures_path.is_relative_to(PROJECT_ROOT)
                 else figures_path)
    lines = [README_START, "<!-- Generated by `python -m evaluation.benchmark --readme FILE` from a run's `--out` "
             "file: do not edit by hand. -->", *readme_table(figures, source), README_END]
    write_marked(readme, README_START, README_END, lines)


def print_table(figures: dict) -> None:
    table = Table(title="NotesQA benchmark", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for section, values in figures.items():
        for name, value in values.items():
            table.add_row(f"{section}.{name}", str(value))
    Console(highlight=False).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, help="index served for the latency figures "
                                                    "(built from --corpus if it has none)")
    parser.add_argument("--corpus", type=Path, default=SAMPLE_CORPUS, help="corpus to build (default: sample)")
    parser.add_argument("--embedder", default=DEFAULT_EMBEDDER)
    parser.add_argument("--dataset", type=Path, default=SAMPLE_DEV, help="questions for the latency figures")
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--readme", type=Path, metavar="FIGURES_JSON",
                        help="only rewrite README.md's Speed and memory table from a run's --out file")
    args = parser.parse_args(argv)
    if args.readme:
        update_readme(args.readme.resolve())
        return 0
    if args.index is None:
        parser.error("--index is required to measure")

    questions = [item.question for item in load_dataset(args.dataset, limit=args.questions)]
    figures = {"run": describe_run(args.index), "build": measure_build(args.corpus, args.embedder)}
    figures["server"] = measure_server(args.index, args.corpus, args.embedder, questions)
    print_table(figures)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
