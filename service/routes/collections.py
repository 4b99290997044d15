"""/v1/collections: collections, and the documents stored in them (upload, replace, delete, reindex).

Every change is stored durably first and indexed by a background job (see /v1/jobs)."""
from __future__ import annotations

import errno
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from service.deps import CallerDep, OperationsDep, authorize
from service.domain.collections import StoreError
from service.domain.keys import Principal
from service.domain.operations import Operations
from service.errors import (CollectionNotFound, InsufficientStorage, PayloadTooLarge, ReadOnlyCollection,
                            ServiceError, from_store_error)
from service.routes import CALLER_ERRORS, error_responses
from service.routes.jobs import job_out
from service.schemas import (CollectionCreate, CollectionList, CollectionOut, DocumentAccepted, JobAccepted,
                             StoredDocument, StoredDocumentList)

router = APIRouter(prefix="/v1/collections", tags=["collections"], responses=CALLER_ERRORS)


def _managed(ops: Operations, caller: Principal, collection: str, action: str) -> None:
    """Authorise, then make sure the collection exists and is one whose documents the API manages."""
    authorize(caller, action, collection)
    if collection == ops.settings.default_collection:
        raise ReadOnlyCollection("the default collection is built from the index folder with `notesqa index "
                                 "build`; browse it with /v1/documents, manage documents in other collections")
    if not ops.store.exists(collection):
        raise CollectionNotFound(f"no collection named {collection!r}")


def collection_out(ops: Operations, name: str) -> CollectionOut:
    status = ops.registry.status(name)
    description = ""
    if name != ops.settings.default_collection:
        try:
            description = ops.store.info(name).get("description", "")
        except StoreError:
            pass
    pending = ops.runner.pending(name) if ops.runner else 0
    uploads = None if name == ops.settings.default_collection else ops.settings.max_upload_bytes
    return CollectionOut(**{k: v for k, v in status.items() if k in CollectionOut.model_fields},
                         description=description, pending_jobs=pending, max_upload_bytes=uploads)


def _indexed_sources(ops: Operations, collection: str) -> dict[str, str]:
    """Source file name -> title, for the served snapshot (a .jsonl counts once for all its records)."""
    try:
        return ops.registry.service(collection).source_titles()
    except ServiceError:
        return {}


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


def _audit(ops: Operations, caller: Principal, action: str, collection: str, **fields: Any) -> None:
    ops.audit.write(action, key=caller.name, role=caller.role, collection=collection, **fields)


# --- collections ---------------------------------------------------------------------------------

@router.get("")
def list_collections(ops: OperationsDep, caller: CallerDep) -> CollectionList:
    """The collections this key may use."""
    who = authorize(caller, "read")
    return CollectionList(collections=[collection_out(ops, name) for name in ops.registry.names()
                                       if who.may_use(name)])


@router.post("", status_code=201, responses=error_responses(409))
def create_collection(body: CollectionCreate, ops: OperationsDep, caller: CallerDep) -> CollectionOut:
    """Create an empty collection (admin)."""
    authorize(caller, "admin")
    _store_call(ops.store.create, body.name, body.description)
    ops.registry.add(body.name)
    ops.audit_action(caller, "collection_create", body.name)
    return collection_out(ops, body.name)


@router.get("/{collection}")
def get_collection(collection: str, ops: OperationsDep, caller: CallerDep) -> CollectionOut:
    authorize(caller, "read", collection)
    if not ops.registry.exists(collection):
        raise CollectionNotFound(f"no collection named {collection!r}")
    return collection_out(ops, collection)


@router.post("/{collection}/reindex", status_code=202, responses=error_responses(409))
def reindex_collection(collection: str, ops: OperationsDep, caller: CallerDep) -> JobAccepted:
    """Rebuild the collection's index from its stored documents (also retries after a failure)."""
    _managed(ops, caller, collection, "write")
    job = ops.runner.submit(collection, "reindex")
    ops.audit_action(caller, "reindex", collection, job=job.id)
    return JobAccepted(collection=collection, job=job_out(job))


# --- stored documents ----------------------------------------------------------------------------

@router.get("/{collection}/documents", responses=error_responses(409))
def list_stored_documents(collection: str, ops: OperationsDep, caller: CallerDep) -> StoredDocumentList:
    """The documents stored in the collection, and whether the served snapshot has each yet."""
    _managed(ops, caller, collection, "read")
    indexed = _indexed_sources(ops, collection)
    documents = _store_call(ops.store.documents, collection)
    return StoredDocumentList(collection=collection, documents=[_stored(d, indexed) for d in documents])


@router.get("/{collection}/documents/{doc_id}", responses=error_responses(409))
def get_stored_document(collection: str, doc_id: str, ops: OperationsDep, caller: CallerDep) -> StoredDocument:
    _managed(ops, caller, collection, "read")
    return _stored(_store_call(ops.store.document, collection, doc_id), _indexed_sources(ops, collection))


def _read_upload(ops: Operations, file: UploadFile) -> bytes:
    limit = ops.settings.max_upload_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is larger than {limit} bytes")
    return data


def _put(ops: Operations, caller: Principal, collection: str, file: UploadFile, doc_id: str | None, title: str | None,
         replace: bool) -> DocumentAccepted:
    _managed(ops, caller, collection, "write")
    data = _read_upload(ops, file)
    stored = _store_call(ops.store.put_document, collection, filename=file.filename, data=data, doc_id=doc_id,
                         title=title, replace=replace, max_bytes=ops.settings.max_upload_bytes,
                         max_chars=ops.settings.max_document_chars)
    job = ops.runner.submit(collection, "replace" if stored["replaced"] else "add", stored["doc_id"])
    ops.audit_action(caller, "document_replace" if stored["replaced"] else "document_add", collection,
                     doc_id=stored["doc_id"], filename=stored["filename"], size=stored["size"], job=job.id)
    document = StoredDocument(**{k: v for k, v in stored.items() if k != "replaced"}, indexed=False)
    return DocumentAccepted(collection=collection, document=document, job=job_out(job))


UploadField = Annotated[UploadFile, File(description="A .txt, .md, .jsonl, .docx or .pdf file.")]
TitleField = Annotated[str | None, Form(max_length=300, description="Title (default: from the file).")]


@router.post("/{collection}/documents", status_code=202, responses=error_responses(409, 413, 415, 507))
def upload_document(collection: str, ops: OperationsDep, caller: CallerDep, file: UploadField,
                    doc_id: Annotated[str | None, Form(max_length=128,
                                                       description="Default: the file name's stem.")] = None,
                    title: TitleField = None) -> DocumentAccepted:
    """Store a new document durably, then index it in the background (poll `job`)."""
    return _put(ops, caller, collection, file, doc_id, title, replace=False)


@router.put("/{collection}/documents/{doc_id}", status_code=202,
                        responses=error_responses(409, 413, 415, 507))
def replace_document(collection: str, doc_id: str, ops: OperationsDep, caller: CallerDep, file: UploadField,
                     title: TitleField = None) -> DocumentAccepted:
    """Replace a document's file; only its changed paragraphs are embedded again."""
    return _put(ops, caller, collection, file, doc_id, title, replace=True)


@router.delete("/{collection}/documents/{doc_id}", status_code=202, responses=error_responses(409, 507))
def delete_document(collection: str, doc_id: str, ops: OperationsDep, caller: CallerDep) -> JobAccepted:
    """Remove a document; it stays searchable until the job's new snapshot is served."""
    _managed(ops, caller, collection, "write")
    _store_call(ops.store.delete_document, collection, doc_id)
    job = ops.runner.submit(collection, "delete", doc_id)
    ops.audit_action(caller, "document_delete", collection, doc_id=doc_id, job=job.id)
    return JobAccepted(collection=collection, job=job_out(job))
