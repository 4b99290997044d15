"""HTTP routes of the operations layer: collections, documents, jobs, keys, /readyz and /metrics."""
from __future__ import annotations

import errno
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from service.auth import KeyError_
from service.collections import StoreError
from service.errors import ServiceError
from service.jobs import Job
from service.metrics import CONTENT_TYPE
from service.operations import Operations, authorize, operations, principal
from service.ops_errors import (CollectionNotFound, InsufficientStorage, InvalidKeyRequest, JobNotFound,
                                JobNotRetryable, KeyNotFound, PayloadTooLarge, from_store_error)
from service.ops_schemas import (CollectionCreate, CollectionList, CollectionOut, DocumentAccepted, JobAccepted,
                                 JobList, JobOut, KeyCreate, KeyCreated, KeyList, KeyOut, Readiness,
                                 StoredDocument, StoredDocumentList)
from service.schemas import ErrorResponse


class ReadOnlyCollection(ServiceError):
    status_code = 409
    code = "collection_read_only"


def _errors(*codes: int) -> dict:
    descriptions = {401: "No or unknown API key", 403: "The key may not do this", 404: "Not found",
                    409: "Conflict with the current state", 413: "Body too large",
                    415: "Unsupported file type", 422: "Invalid request", 429: "Rate limited",
                    503: "Busy or not ready", 507: "No space left to store the upload"}
    return {c: {"model": ErrorResponse, "description": descriptions[c]} for c in codes}


COMMON = _errors(401, 403, 404, 422, 429)
collections_router = APIRouter(prefix="/v1/collections", tags=["collections"], responses=COMMON)
jobs_router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=COMMON)
keys_router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=COMMON)
ops_router = APIRouter(tags=["health"])

def _managed(request: Request, collection: str, action: str) -> Operations:
    """Authorise, then make sure the collection exists and is one whose documents the API manages."""
    ops = operations(request)
    authorize(request, action, collection)
    if collection == ops.settings.default_collection:
        raise ReadOnlyCollection("the default collection is built from the index folder with `notesqa index "
                                 "build`; browse it with /v1/documents, manage documents in other collections")
    if not ops.store.exists(collection):
        raise CollectionNotFound(f"no collection named {collection!r}")
    return ops


def _job_out(job: Job) -> JobOut:
    return JobOut.model_validate(job.to_dict())


def _collection_out(ops: Operations, name: str) -> CollectionOut:
    status = ops.registry.status(name)
    description = ""
    if name != ops.settings.default_collection:
        try:
            description = ops.store.info(name).get("description", "")
        except StoreError:
            pass
    pending = ops.runner.pending(name) if ops.runner else 0
    return CollectionOut(**{k: v for k, v in status.items() if k in CollectionOut.model_fields},
                         description=description, pending_jobs=pending)


def _indexed_sources(ops: Operations, collection: str) -> dict[str, str]:
    """Source file name -> title, for the served snapshot (a .jsonl counts once for all its records)."""
    try:
        service = ops.registry.service(collection)
    except ServiceError:
        return {}
    names: dict[str, str] = {}
    for info in service.qa.snapshot.documents.values():
        source = str(info.get("source", ""))
        jsonl = ".jsonl:" in source
        names.setdefault(Path(source.rsplit(":", 1)[0]).name if jsonl else source, "" if jsonl else info["title"])
    return names


def _stored(document: dict, indexed: dict[str, str]) -> StoredDocument:
    source = f"{document['doc_id']}{'.jsonl' if document['format'] == 'jsonl' else '.txt'}"
    title = document["title"] or indexed.get(source, "")
    return StoredDocument(**{**document, "title": title}, indexed=source in indexed)


def _store_call(fn, *args, **kwargs) -> Any:
    try:
        return fn(*args, **kwargs)
    except StoreError as exc:
        raise from_store_error(exc) from None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientStorage(f"no space left to store the document ({exc.strerror}); nothing was "
                                      f"changed") from None
        raise


def _audit(request: Request, action: str, collection: str, **fields: Any) -> None:
    who = principal(request)
    operations(request).audit.write(action, key=who.name, role=who.role, collection=collection, **fields)


# --- collections ------------------------------------------------------------------------------

@collections_router.get("")
def list_collections(request: Request) -> CollectionList:
    """The collections this key may use."""
    ops = operations(request)
    who = authorize(request, "read")
    return CollectionList(collections=[_collection_out(ops, name) for name in ops.registry.names()
                                       if who.may_use(name)])


@collections_router.post("", status_code=201, responses=_errors(409))
def create_collection(body: CollectionCreate, request: Request) -> CollectionOut:
    """Create an empty collection (admin)."""
    ops = operations(request)
    authorize(request, "admin")
    _store_call(ops.store.create, body.name, body.description)
    ops.registry.add(body.name)
    _audit(request, "collection_create", body.name)
    return _collection_out(ops, body.name)


@collections_router.get("/{collection}")
def get_collection(collection: str, request: Request) -> CollectionOut:
    ops = operations(request)
    authorize(request, "read", collection)
    if not ops.registry.exists(collection):
        raise CollectionNotFound(f"no collection named {collection!r}")
    return _collection_out(ops, collection)


@collections_router.post("/{collection}/reindex", status_code=202, responses=_errors(409))
def reindex_collection(collection: str, request: Request) -> JobAccepted:
    """Rebuild the collection's index from its stored documents (also retries after a failure)."""
    ops = _managed(request, collection, "write")
    job = ops.runner.submit(collection, "reindex")
    _audit(request, "reindex", collection, job=job.id)
    return JobAccepted(collection=collection, job=_job_out(job))


# --- documents --------------------------------------------------------------------------------

@collections_router.get("/{collection}/documents", responses=_errors(409))
def list_stored_documents(collection: str, request: Request) -> StoredDocumentList:
    """The documents stored in the collection, and whether the served snapshot has each yet."""
    ops = _managed(request, collection, "read")
    indexed = _indexed_sources(ops, collection)
    documents = _store_call(ops.store.documents, collection)
    return StoredDocumentList(collection=collection, documents=[_stored(d, indexed) for d in documents])


@collections_router.get("/{collection}/documents/{doc_id}", responses=_errors(409))
def get_stored_document(collection: str, doc_id: str, request: Request) -> StoredDocument:
    ops = _managed(request, collection, "read")
    return _stored(_store_call(ops.store.document, collection, doc_id), _indexed_sources(ops, collection))


def _read_upload(ops: Operations, file: UploadFile) -> bytes:
    limit = ops.settings.max_upload_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is larger than {limit} bytes")
    return data


def _put(request: Request, collection: str, file: UploadFile, doc_id: str | None, title: str | None,
         replace: bool) -> DocumentAccepted:
    ops = _managed(request, collection, "write")
    data = _read_upload(ops, file)
    stored = _store_call(ops.store.put_document, collection, filename=file.filename, data=data, doc_id=doc_id,
                         title=title, replace=replace, max_bytes=ops.settings.max_upload_bytes,
                         max_chars=ops.settings.max_document_chars)
    job = ops.runner.submit(collection, "replace" if stored["replaced"] else "add", stored["doc_id"])
    _audit(request, "document_replace" if stored["replaced"] else "document_add", collection,
           doc_id=stored["doc_id"], filename=stored["filename"], size=stored["size"], job=job.id)
    document = StoredDocument(**{k: v for k, v in stored.items() if k != "replaced"}, indexed=False)
    return DocumentAccepted(collection=collection, document=document, job=_job_out(job))


UploadField = Annotated[UploadFile, File(description="A .txt, .md, .jsonl, .docx or .pdf file.")]
TitleField = Annotated[str | None, Form(max_length=300, description="Title (default: from the file).")]


@collections_router.post("/{collection}/documents", status_code=202, responses=_errors(409, 413, 415, 507))
def upload_document(collection: str, request: Request, file: UploadField,
                    doc_id: Annotated[str | None, Form(max_length=128,
                                                       description="Default: the file name's stem.")] = None,
                    title: TitleField = None) -> DocumentAccepted:
    """Store a new document durably, then index it in the background (poll `job`)."""
    return _put(request, collection, file, doc_id, title, replace=False)


@collections_router.put("/{collection}/documents/{doc_id}", status_code=202,
                        responses=_errors(409, 413, 415, 507))
def replace_document(collection: str, doc_id: str, request: Request, file: UploadField,
                     title: TitleField = None) -> DocumentAccepted:
    """Replace a document's file; only its changed paragraphs are embedded again."""
    return _put(request, collection, file, doc_id, title, replace=True)


@collections_router.delete("/{collection}/documents/{doc_id}", status_code=202, responses=_errors(409, 507))
def delete_document(collection: str, doc_id: str, request: Request) -> JobAccepted:
    """Remove a document; it stays searchable until the job's new snapshot is served."""
    ops = _managed(request, collection, "write")
    _store_call(ops.store.delete_document, collection, doc_id)
    job = ops.runner.submit(collection, "delete", doc_id)
    _audit(request, "document_delete", collection, doc_id=doc_id, job=job.id)
    return JobAccepted(collection=collection, job=_job_out(job))


# --- jobs -------------------------------------------------------------------------------------

def _visible_job(request: Request, job_id: str) -> Job:
    ops = operations(request)
    who = authorize(request, "read")
    job = ops.job_store.get(job_id)
    if job is None or not who.may_use(job.collection):  # another collection's job is not even there
        raise JobNotFound(f"no job with id {job_id!r}")
    return job


@jobs_router.get("")
def list_jobs(request: Request, collection: Annotated[str | None, Query(max_length=64)] = None,
              state: Annotated[str | None, Query(pattern="^(queued|running|succeeded|failed)$")] = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JobList:
    """Recent indexing jobs of the collections this key may read, newest first."""
    ops = operations(request)
    who = authorize(request, "read")
    jobs = [j for j in ops.job_store.all() if who.may_use(j.collection)
            and collection in (None, j.collection) and state in (None, j.state)]
    return JobList(jobs=[_job_out(j) for j in jobs[:limit]])


@jobs_router.get("/{job_id}")
def get_job(job_id: str, request: Request) -> JobOut:
    """state: queued | running | succeeded | failed, with progress (0..1) and the error if it failed."""
    return _job_out(_visible_job(request, job_id))


@jobs_router.post("/{job_id}/retry", status_code=202, responses=_errors(409))
def retry_job(job_id: str, request: Request) -> JobOut:
    """Run a failed job again."""
    job = _visible_job(request, job_id)
    ops = operations(request)
    authorize(request, "write", job.collection)
    if job.state != "failed":
        raise JobNotRetryable(f"job {job_id} is {job.state}; only a failed job can be retried")
    _audit(request, "job_retry", job.collection, job=job.id)
    return _job_out(ops.runner.retry(job))


# --- keys (admin; the CLI does the same locally) ----------------------------------------------

@keys_router.get("")
def list_keys(request: Request) -> KeyList:
    authorize(request, "admin")
    return KeyList(keys=[KeyOut(**r.public_view()) for r in operations(request).keys.list()])


@keys_router.post("", status_code=201)
def create_key(body: KeyCreate, request: Request) -> KeyCreated:
    """The token is in this answer only."""
    authorize(request, "admin")
    try:
        record, token = operations(request).keys.create(body.name, body.role, body.collections, body.origins)
    except KeyError_ as exc:
        raise InvalidKeyRequest(str(exc)) from None
    _audit(request, "key_create", ",".join(record.collections), key_id=record.id, key_name=record.name,
           key_role=record.role)
    return KeyCreated(key=KeyOut(**record.public_view()), token=token)


@keys_router.delete("/{key_id}")
def revoke_key(key_id: str, request: Request) -> KeyOut:
    authorize(request, "admin")
    keys = operations(request).keys
    if not any(r.id == key_id and r.revoked_at is None for r in keys.list()):
        raise KeyNotFound(f"no active key with id {key_id!r}")
    record = keys.revoke(key_id)
    _audit(request, "key_revoke", ",".join(record.collections), key_id=record.id, key_name=record.name)
    return KeyOut(**record.public_view())


# --- readiness and metrics --------------------------------------------------------------------

@ops_router.get("/readyz", responses={503: {"model": Readiness,
                                             "description": "Not every collection is served, or saturated"}})
def readyz(request: Request) -> JSONResponse:
    """200 once every collection's snapshot is loaded (an empty collection counts as ready) and questions
    can be taken at once; 503 while every query slot is busy and questions wait for one (`saturated`), so a
    load balancer sends the next ones to another replica."""
    ops = operations(request)
    if ops.registry is None:
        return JSONResponse({"ready": False, "saturated": False, "collections": []}, status_code=503)
    loaded, _ = ops.registry.ready()
    saturated = ops.gate.saturated
    ready = loaded and not saturated
    # names and sizes only for an open (loopback) service; with keys, the status code says it all
    shown = [] if ops.auth_enabled() else [_collection_out(ops, n) for n in ops.registry.names()]
    body = Readiness(ready=ready, saturated=saturated, collections=shown)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@ops_router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(request: Request) -> Response:
    """Prometheus metrics (an admin key is needed once keys exist, unless NOTESQA_METRICS_PUBLIC)."""
    ops = operations(request)
    if ops.auth_enabled() and not ops.settings.metrics_public:
        authorize(request, "admin")
    return Response(ops.metrics.render(), media_type=CONTENT_TYPE)


routers = [collections_router, jobs_router, keys_router, ops_router]
