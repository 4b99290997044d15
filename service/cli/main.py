"""The `notesqa` command line: build an index, serve the API, ask, search; mounts every command group."""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI

from evaluation.cli import eval_app
from evaluation.training import train_app
from index.embedders import EmbedderError
from index.snapshot import SnapshotError
from service.app import create_app
from service.cli import collections, keys
from service.cli.common import (EXIT_BAD_INPUT, CorpusOption, EmbedderOption, IndexOption, JsonOption, SummaryGroup,
                                citation_heading, ensure_index, fail, load_service, make_settings, print_build_report,
                                print_json, run_build)
from service.cli.feedback import feedback_app
from service.domain.operations import OperationsError, check_binding, preload_collections
from service.domain.qa_service import QAService
from service.errors import ServiceError
from service.settings import Settings

app = typer.Typer(name="notesqa", cls=SummaryGroup, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False, rich_markup_mode=None,
                  help="Question answering over Chinese source notes, with paragraph-level citations.")
index_app = typer.Typer(cls=SummaryGroup, no_args_is_help=True, rich_markup_mode=None,
                        help="Build the search index of a corpus.")
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
                json_output: JsonOption = False,
                dense_index: Annotated[str | None, typer.Option(
                    "--dense-index", help="'faiss-flat' (exact) or 'faiss:<index_factory string>', e.g. "
                    "'faiss:HNSW32,Flat' [env NOTESQA_DENSE_INDEX; default: the folder's current one, "
                    "else faiss-flat].")] = None,
                index_backend: Annotated[str | None, typer.Option(
                    "--index-backend", help="'embedded' (FAISS + bm25s in the index folder) or "
                    "'milvus://host:19530' (both indexes in a Milvus collection per snapshot) [env "
                    "NOTESQA_INDEX_BACKEND; default: the folder's current ones, else embedded].")] = None,
                keyword_index: Annotated[str | None, typer.Option(
                    "--keyword-index", help="'bm25s', or 'bm25s?scores=float16' (the BM25 matrix's scores in "
                    "half precision: half their memory on a large index) [env NOTESQA_KEYWORD_INDEX; default: "
                    "the folder's current one, else bm25s].")] = None) -> None:
    """Index a corpus; files that cannot be read are skipped and reported."""
    settings = make_settings(corpus_path=corpus, index_dir=index, embedder=embedder, dense_index=dense_index,
                             index_backend=index_backend, keyword_index=keyword_index)
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
                   "can read and change everything.")] = False,
          workers: Annotated[int | None, typer.Option(
              "--workers", min=1, help="Processes serving the port and the index folder; each swaps in a new "
                                       "snapshot within NOTESQA_WATCH_INTERVAL_S [env NOTESQA_WORKERS; "
                                       "default 1].")] = None) -> None:
    """Serve the HTTP API (building the index first if the folder has none).

    Send SIGHUP to load the index folder's newest snapshot without a restart (with --workers, the
    workers are replaced one by one, and each also loads a new snapshot as soon as CURRENT names it).
    Without API keys the server binds loopback only (see `notesqa keys create`).
    """
    settings = make_settings(index_dir=index, host=host, port=port, corpus_path=corpus, embedder=embedder,
                             data_dir=data_dir, workers=workers)
    try:
        settings = check_binding(settings, insecure_no_auth=insecure_no_auth_on_network)
    except OperationsError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    ensure_index(settings)
    if settings.workers > 1:
        serve_workers(settings)
        return
    qa_service = load_service(settings)
    try:
        registry = preload_collections(settings, qa_service)
    except OperationsError as exc:
        fail(f"cannot load the collections in {settings.data_dir}: {exc}")
    reload_on_sighup(qa_service)
    application = create_app(settings, qa_service=qa_service, registry=registry)
    print_serve_banner(settings.host, settings.port)
    uvicorn.run(application, host=settings.host, port=settings.port)


# what a worker process must see as its parent saw it: it reads its settings from the environment
WORKER_SETTINGS = ("index_dir", "corpus_path", "embedder", "host", "port", "data_dir", "auth_required", "workers",
                   "dense_index", "index_backend", "keyword_index")


def serve_workers(settings: Settings) -> None:
    """uvicorn's supervisor binds the socket once and forks `settings.workers` processes that accept on it;
    each loads the index folder (memory-mapped dense indexes are shared) and watches its CURRENT pointer."""
    for name in WORKER_SETTINGS:
        value = getattr(settings, name)
        if value is not None:
            os.environ[f"NOTESQA_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    print_serve_banner(settings.host, settings.port)
    uvicorn.run("service.cli.main:worker_app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers)


def worker_app() -> FastAPI:
    """The app of one `serve --workers` process (uvicorn calls this in each worker)."""
    settings = Settings()
    qa_service = QAService.load(settings)  # an error ends this worker; the supervisor starts another
    registry = preload_collections(settings, qa_service)
    return create_app(settings, qa_service=qa_service, registry=registry)


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
    """Answer a question from the index, with citations (--json adds fact, fact_citation, confidence).
    With NOTESQA_LLM_BASE_URL set, a language model writes the answer and its claims are verified."""
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
    if response.engine == "llm" or response.engine_note:  # only when NOTESQA_LLM_BASE_URL turns the LLM on
        typer.echo(f"engine: {response.engine}" + (f" ({response.engine_note})" if response.engine_note else ""))
    for claim in response.unsupported:
        typer.secho(f"unsupported, dropped: {claim.claim}  ({claim.reason})", fg=typer.colors.RED)
    for citation in response.citations:
        typer.echo()
        typer.secho(citation_heading(citation.model_dump()), fg=typer.colors.CYAN)
        typer.echo(f"    {citation.quote}")
    if response.closest:  # an abstention: what came closest, to read, not an answer
        typer.echo()
        typer.echo("closest passages (not an answer):")
        for rank, passage in enumerate(response.closest, start=1):
            typer.secho(citation_heading({**passage.model_dump(), "marker": rank}), fg=typer.colors.CYAN)
            typer.echo(f"    {passage.text}")


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
