"""The `notesqa` command line: build an index, serve the API, ask, search; mounts every command group."""
from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from evaluation.cli import eval_app
from evaluation.training import train_app
from index.embedders import EmbedderError
from index.snapshot import SnapshotError
from service.app import create_app
from service.cli import collections, keys
from service.cli.common import (EXIT_BAD_INPUT, CorpusOption, EmbedderOption, IndexOption, JsonOption, citation_heading,
                                ensure_index, fail, load_service, make_settings, print_build_report, print_json,
                                run_build)
from service.cli.feedback import feedback_app
from service.domain.operations import OperationsError, check_binding, preload_collections
from service.domain.qa_service import QAService
from service.errors import ServiceError

app = typer.Typer(name="notesqa", no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False,
                  rich_markup_mode=None,
                  help="Question answering over Chinese source notes, with paragraph-level citations.")
index_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Build the search index of a corpus.")
app.add_typer(index_app, name="index")
app.add_typer(feedback_app, name="feedback")
app.add_typer(collections.collection_app, name="collection")
app.add_typer(collections.documents_app, name="documents")
app.add_typer(collections.jobs_app, name="jobs")
app.add_typer(keys.keys_app, name="keys")
# the one place a service module reaches into evaluation/: `notesqa eval` and `notesqa train` score the pipeline
app.add_typer(eval_app, name="eval")
app.add_typer(train_app, name="train")

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
    qa_service = load_service(settings)
    try:
        registry = preload_collections(settings, qa_service)
    except OperationsError as exc:
        fail(f"cannot load the collections in {settings.data_dir}: {exc}")
    reload_on_sighup(qa_service)
    application = create_app(settings, qa_service=qa_service, registry=registry)
    print_serve_banner(settings.host, settings.port)
    uvicorn.run(application, host=settings.host, port=settings.port)


def print_serve_banner(host: str, port: int) -> None:
    """The chat page and the one-line widget snippet, printed before uvicorn's own start-up lines."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else \
        f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    typer.echo(f"Chat page:  {url}/", err=True)
    typer.echo(f"Widget:     <script src=\"{url}/widget.js\" data-api=\"{url}\" defer></script>", err=True)
    typer.echo("            (the embedding page's origin must be in NOTESQA_CORS_ORIGINS)", err=True)


def reload_on_sighup(qa_service: QAService) -> None:
    def reload() -> None:
        try:
            health = qa_service.reload()
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
    qa_service = load_service(make_settings(index_dir=index, embedder=embedder))
    try:
        response = qa_service.ask(question, top_k, doc_ids or None)
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
    qa_service = load_service(make_settings(index_dir=index, embedder=embedder))
    try:
        response = qa_service.search(query, top_k, doc_ids or None)
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
