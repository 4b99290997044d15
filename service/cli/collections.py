"""`notesqa collection|documents|jobs`: collections, their documents and indexing jobs, done locally.

They work on the local data folder (--data-dir, env NOTESQA_DATA_DIR, default var/data), with no
server needed and no key: whoever can write the data folder is the administrator anyway.
`documents add/replace/delete` store the file durably, then run the indexing job in this process
(progress on stderr) unless --no-index; a running server notices the new snapshot within
NOTESQA_WATCH_INTERVAL_S (2 s) and swaps it in.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from index.snapshot import current_snapshot_path
from service.cli.common import DataDirOption, SummaryGroup, fail, make_settings, print_json
from service.domain.collections import CollectionStore, StoreError
from service.domain.jobs import Job, JobRunner, JobStore
from service.settings import Settings

CollectionOption = Annotated[str, typer.Option("--collection", "-c", help="The collection.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]

collection_app = typer.Typer(cls=SummaryGroup, no_args_is_help=True, rich_markup_mode=None,
                             help="Create and list collections.")
documents_app = typer.Typer(cls=SummaryGroup, no_args_is_help=True, rich_markup_mode=None,
                            help="Add, replace, delete and list the documents of a collection.")
jobs_app = typer.Typer(cls=SummaryGroup, no_args_is_help=True, rich_markup_mode=None, help="Indexing jobs.")


def _store(settings: Settings) -> CollectionStore:
    return CollectionStore(settings.data_dir, reserved=(settings.default_collection,))


def _describe_job(job: Job) -> str:
    line = f"job {job.id}  {job.collection}  {job.action}{' ' + job.doc_id if job.doc_id else ''}  {job.state}"
    if job.state == "running":
        line += f" ({job.stage}, {job.progress:.0%})"
    if job.error:
        line += f"\n  error: {job.error}"
    if job.note:
        line += f"\n  note: {job.note}"
    if job.report:
        r = job.report
        line += (f"\n  snapshot {r.get('snapshot')}: {r.get('documents')} documents, {r.get('paragraphs')} "
                 f"paragraphs; embedded {r.get('embedded')}, {r.get('cached')} from the cache")
        for skipped in r.get("skipped") or []:
            line += f"\n  skipped {skipped['source']}: {skipped['reason']}"
    return line


def _run_inline(settings: Settings, job: Job) -> Job:
    runner = JobRunner(settings, _store(settings), JobStore(settings.data_dir / "jobs"))
    shown = [""]

    def echo(stage: str, progress: float) -> None:
        if stage != shown[0]:
            shown[0] = stage
            typer.echo(f"  {stage}… {progress:.0%}", err=True)

    runner.run(job.collection, [job], echo=echo)
    return job


def _after_change(settings: Settings, collection: str, action: str, doc_id: str, no_index: bool,
                  json_output: bool, extra: dict | None = None) -> None:
    jobs = JobStore(settings.data_dir / "jobs")
    runner = JobRunner(settings, _store(settings), jobs)
    job = runner.create(collection, action, doc_id)
    if no_index:
        job.note = "not run: --no-index (a server started later, or `notesqa jobs retry`, runs it)"
        jobs.save(job)
    else:
        _run_inline(settings, job)
    if json_output:
        print_json({**(extra or {}), "job": job.to_dict()})
    else:
        typer.echo(_describe_job(job))
    if job.state == "failed":
        raise typer.Exit(1)


# --- collection -------------------------------------------------------------------------------

@collection_app.command("create")
def collection_create(name: Annotated[str, typer.Argument(help="lowercase letters, digits, - and _")],
                      description: Annotated[str, typer.Option(help="What the collection holds.")] = "",
                      data_dir: DataDirOption = None) -> None:
    """Create an empty collection."""
    settings = make_settings(data_dir=data_dir)
    try:
        _store(settings).create(name, description)
    except StoreError as exc:
        fail(exc.message, 2)
    typer.echo(f"Created collection {name} in {settings.data_dir / 'collections' / name}")


@collection_app.command("list")
def collection_list(data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """The collections of the data folder, with their documents and served snapshot."""
    settings = make_settings(data_dir=data_dir)
    store = _store(settings)
    rows = []
    for name in store.names():
        current = current_snapshot_path(store.index_dir(name))
        rows.append({"name": name, "description": store.info(name).get("description", ""),
                     "documents": len(store.documents(name)), "snapshot": current.name if current else None,
                     "needs_build": store.needs_build(name)})
    if json_output:
        print_json({"collections": rows})
        return
    if not rows:
        typer.echo(f"No collections in {settings.data_dir} (the default collection is the index folder).")
    for row in rows:
        state = "(changes not indexed yet)" if row["needs_build"] else ""
        typer.echo(f"{row['name']}: {row['documents']} documents, snapshot {row['snapshot'] or '-'} {state}".rstrip())


# --- documents --------------------------------------------------------------------------------

NoIndexOption = Annotated[bool, typer.Option("--no-index", help="Store only; do not run the indexing job.")]


@documents_app.command("add")
def documents_add(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The file.")],
                  collection: CollectionOption,
                  doc_id: Annotated[str | None, typer.Option("--doc-id", help="Default: the file name.")] = None,
                  title: Annotated[str | None, typer.Option(help="Default: from the document.")] = None,
                  no_index: NoIndexOption = False, data_dir: DataDirOption = None,
                  json_output: JsonOption = False) -> None:
    """Store a .txt/.md/.jsonl/.docx/.pdf file in a collection, then index it."""
    _put(file, collection, doc_id, title, False, no_index, data_dir, json_output)


@documents_app.command("replace")
def documents_replace(doc_id: Annotated[str, typer.Argument(help="The document to replace.")],
                      file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The new file.")],
                      collection: CollectionOption,
                      title: Annotated[str | None, typer.Option(help="Default: from the document.")] = None,
                      no_index: NoIndexOption = False, data_dir: DataDirOption = None,
                      json_output: JsonOption = False) -> None:
    """Replace a document's file, then re-index (only changed paragraphs are embedded)."""
    _put(file, collection, doc_id, title, True, no_index, data_dir, json_output)


def _put(file: Path, collection: str, doc_id: str | None, title: str | None, replace: bool, no_index: bool,
         data_dir: Path | None, json_output: bool) -> None:
    settings = make_settings(data_dir=data_dir)
    if file.stat().st_size > settings.max_upload_bytes:
        fail(f"{file} is larger than the upload limit ({settings.max_upload_bytes} bytes)", 2)
    try:
        stored = _store(settings).put_document(collection, filename=file.name, data=file.read_bytes(),
                                               doc_id=doc_id, title=title, replace=replace,
                                               max_bytes=settings.max_upload_bytes,
                                               max_chars=settings.max_document_chars)
    except StoreError as exc:
        fail(exc.message, 2)
    except OSError as exc:
        fail(f"cannot store {file.name}: {exc}")
    if not json_output:
        verb = "Replaced" if stored["replaced"] else "Stored"
        typer.echo(f"{verb} {stored['doc_id']} ({stored['format']}, {stored['size']} bytes) in {collection}")
    _after_change(settings, collection, "replace" if stored["replaced"] else "add", stored["doc_id"], no_index,
                  json_output, {"document": stored})


@documents_app.command("delete")
def documents_delete(doc_id: Annotated[str, typer.Argument(help="The document to delete.")],
                     collection: CollectionOption, no_index: NoIndexOption = False,
                     data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """Delete a document, then re-index the collection without it."""
    settings = make_settings(data_dir=data_dir)
    try:
        _store(settings).delete_document(collection, doc_id)
    except StoreError as exc:
        fail(exc.message, 2)
    if not json_output:
        typer.echo(f"Deleted {doc_id} from {collection}")
    _after_change(settings, collection, "delete", doc_id, no_index, json_output)


@documents_app.command("list")
def documents_list(collection: CollectionOption, data_dir: DataDirOption = None,
                   json_output: JsonOption = False) -> None:
    """The documents stored in a collection."""
    settings = make_settings(data_dir=data_dir)
    try:
        documents = _store(settings).documents(collection)
    except StoreError as exc:
        fail(exc.message, 2)
    if json_output:
        print_json({"collection": collection, "documents": documents})
        return
    if not documents:
        typer.echo(f"{collection} has no documents.")
    for d in documents:
        typer.echo(f"{d['doc_id']}  {d['format']}  {d['size']} bytes  {d['uploaded_at']}  {d['title'] or d['filename']}")


# --- jobs -------------------------------------------------------------------------------------

@jobs_app.command("show")
def jobs_show(job_id: Annotated[str, typer.Argument(help="The job id.")], data_dir: DataDirOption = None,
              json_output: JsonOption = False) -> None:
    """A job's state, progress, error and report."""
    job = JobStore(make_settings(data_dir=data_dir).data_dir / "jobs").get(job_id)
    if job is None:
        fail(f"no job with id {job_id!r}", 2)
    if json_output:
        print_json(job.to_dict())
    else:
        typer.echo(_describe_job(job))


@jobs_app.command("list")
def jobs_list(collection: Annotated[str | None, typer.Option("--collection", "-c")] = None,
              limit: Annotated[int, typer.Option(min=1)] = 20, data_dir: DataDirOption = None,
              json_output: JsonOption = False) -> None:
    """Recent jobs, newest first."""
    jobs = [j for j in JobStore(make_settings(data_dir=data_dir).data_dir / "jobs").all()
            if collection in (None, j.collection)][:limit]
    if json_output:
        print_json({"jobs": [j.to_dict() for j in jobs]})
        return
    for job in jobs:
        typer.echo(_describe_job(job))


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[str, typer.Argument(help="A failed (or never run) job.")],
               data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """Run a failed or interrupted job again, in this process."""
    settings = make_settings(data_dir=data_dir)
    job = JobStore(settings.data_dir / "jobs").get(job_id)
    if job is None:
        fail(f"no job with id {job_id!r}", 2)
    if job.state == "succeeded":
        fail(f"job {job_id} already succeeded", 2)
    _run_inline(settings, job)
    if json_output:
        print_json(job.to_dict())
    else:
        typer.echo(_describe_job(job))
    if job.state == "failed":
        raise typer.Exit(1)
