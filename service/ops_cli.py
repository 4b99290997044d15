"""`notesqa collection|documents|jobs|keys`: the operations commands.

They work on the local data folder (--data-dir, env NOTESQA_DATA_DIR, default var/data), with no
server needed and no key: whoever can write the data folder is the administrator anyway.
`documents add/replace/delete` store the file durably, then run the indexing job in this process
(progress on stderr) unless --no-index; a running server notices the new snapshot within
NOTESQA_WATCH_INTERVAL_S (2 s) and swaps it in. `keys` is the only way to create the first key.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from service.auth import ROLES, KeyError_, KeyStore
from service.collections import CollectionStore, StoreError
from service.jobs import Job, JobRunner, JobStore
from service.settings import Settings

DataDirOption = Annotated[Path | None, typer.Option("--data-dir", file_okay=False,
                                                   help="Data folder [env NOTESQA_DATA_DIR; default var/data].")]
CollectionOption = Annotated[str, typer.Option("--collection", "-c", help="The collection.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]

collection_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Create and list collections.")
documents_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                            help="Add, replace, delete and list the documents of a collection.")
jobs_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Indexing jobs.")
keys_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="API keys (stored hashed).")


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def _settings(data_dir: Path | None) -> Settings:
    from service.cli import make_settings

    return make_settings(data_dir=data_dir)


def _store(settings: Settings) -> CollectionStore:
    return CollectionStore(settings.data_dir, reserved=(settings.default_collection,))


def _print(data: object) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


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
        _print({**(extra or {}), "job": job.to_dict()})
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
    settings = _settings(data_dir)
    try:
        _store(settings).create(name, description)
    except StoreError as exc:
        _fail(exc.message, 2)
    typer.echo(f"Created collection {name} in {settings.data_dir / 'collections' / name}")


@collection_app.command("list")
def collection_list(data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """The collections of the data folder, with their documents and served snapshot."""
    from index.snapshot import current_snapshot_path

    settings = _settings(data_dir)
    store = _store(settings)
    rows = []
    for name in store.names():
        current = current_snapshot_path(store.index_dir(name))
        rows.append({"name": name, "description": store.info(name).get("description", ""),
                     "documents": len(store.documents(name)), "snapshot": current.name if current else None,
                     "needs_build": store.needs_build(name)})
    if json_output:
        _print({"collections": rows})
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
    settings = _settings(data_dir)
    if file.stat().st_size > settings.max_upload_bytes:
        _fail(f"{file} is larger than the upload limit ({settings.max_upload_bytes} bytes)", 2)
    try:
        stored = _store(settings).put_document(collection, filename=file.name, data=file.read_bytes(),
                                               doc_id=doc_id, title=title, replace=replace,
                                               max_bytes=settings.max_upload_bytes,
                                               max_chars=settings.max_document_chars)
    except StoreError as exc:
        _fail(exc.message, 2)
    except OSError as exc:
        _fail(f"cannot store {file.name}: {exc}")
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
    settings = _settings(data_dir)
    try:
        _store(settings).delete_document(collection, doc_id)
    except StoreError as exc:
        _fail(exc.message, 2)
    if not json_output:
        typer.echo(f"Deleted {doc_id} from {collection}")
    _after_change(settings, collection, "delete", doc_id, no_index, json_output)


@documents_app.command("list")
def documents_list(collection: CollectionOption, data_dir: DataDirOption = None,
                   json_output: JsonOption = False) -> None:
    """The documents stored in a collection."""
    settings = _settings(data_dir)
    try:
        documents = _store(settings).documents(collection)
    except StoreError as exc:
        _fail(exc.message, 2)
    if json_output:
        _print({"collection": collection, "documents": documents})
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
    job = JobStore(_settings(data_dir).data_dir / "jobs").get(job_id)
    if job is None:
        _fail(f"no job with id {job_id!r}", 2)
    if json_output:
        _print(job.to_dict())
    else:
        typer.echo(_describe_job(job))


@jobs_app.command("list")
def jobs_list(collection: Annotated[str | None, typer.Option("--collection", "-c")] = None,
              limit: Annotated[int, typer.Option(min=1)] = 20, data_dir: DataDirOption = None,
              json_output: JsonOption = False) -> None:
    """Recent jobs, newest first."""
    jobs = [j for j in JobStore(_settings(data_dir).data_dir / "jobs").all()
            if collection in (None, j.collection)][:limit]
    if json_output:
        _print({"jobs": [j.to_dict() for j in jobs]})
        return
    for job in jobs:
        typer.echo(_describe_job(job))


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[str, typer.Argument(help="A failed (or never run) job.")],
               data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """Run a failed or interrupted job again, in this process."""
    settings = _settings(data_dir)
    job = JobStore(settings.data_dir / "jobs").get(job_id)
    if job is None:
        _fail(f"no job with id {job_id!r}", 2)
    if job.state == "succeeded":
        _fail(f"job {job_id} already succeeded", 2)
    _run_inline(settings, job)
    if json_output:
        _print(job.to_dict())
    else:
        typer.echo(_describe_job(job))
    if job.state == "failed":
        raise typer.Exit(1)


# --- keys -------------------------------------------------------------------------------------

@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")],
                role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")],
                collections: Annotated[str, typer.Option(
                    "--collections", help="Comma-separated collections, or '*' for all (admin: always all).")] = "",
                origins: Annotated[str, typer.Option(
                    "--origins", help="Comma-separated browser origins (public widget keys).")] = "",
                data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """Create a key; its token is printed once (only a hash is kept)."""
    settings = _settings(data_dir)
    wanted = collections.split(",") if collections else []
    if role == "admin" and not wanted:
        wanted = ["*"]
    try:
        record, token = KeyStore(settings.data_dir / "keys.json").create(name, role, wanted, origins.split(","))
    except KeyError_ as exc:
        _fail(str(exc), 2)
    if json_output:
        _print({"key": record.public_view(), "token": token})
        return
    typer.echo(token)
    typer.echo(f"Created {record.role} key {record.name!r} (id {record.id}) for "
               f"{', '.join(record.collections)}. The token above is shown only now.", err=True)
    if record.role == "public":
        typer.echo(f"Browsers on {', '.join(record.origins)} pass CORS once the server restarts (its origins are "
                   f"added at start-up), or list them in NOTESQA_CORS_ORIGINS.", err=True)


@keys_app.command("list")
def keys_list(data_dir: DataDirOption = None, json_output: JsonOption = False,
              all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False) -> None:
    """The keys (never their tokens)."""
    records = [r for r in KeyStore(_settings(data_dir).data_dir / "keys.json").list()
               if all_keys or r.revoked_at is None]
    if json_output:
        _print({"keys": [r.public_view() for r in records]})
        return
    if not records:
        typer.echo("No keys: the API is open, and `notesqa serve` binds loopback only.")
    for r in records:
        revoked = f"  REVOKED {r.revoked_at}" if r.revoked_at else ""
        origins = f"  origins {','.join(r.origins)}" if r.origins else ""
        typer.echo(f"{r.id}  {r.name}  {r.role}  {','.join(r.collections)}  {r.prefix}…{origins}{revoked}")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="The key's id or name.")],
                data_dir: DataDirOption = None) -> None:
    """Revoke a key at once (a running server re-reads the keys file)."""
    try:
        record = KeyStore(_settings(data_dir).data_dir / "keys.json").revoke(key)
    except KeyError_ as exc:
        _fail(str(exc), 2)
    typer.echo(f"Revoked key {record.name!r} (id {record.id})")


def register(app: typer.Typer) -> None:
    app.add_typer(collection_app, name="collection")
    app.add_typer(documents_app, name="documents")
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(keys_app, name="keys")
