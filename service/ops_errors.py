"""Errors of the operations API (collections, documents, jobs, keys, limits), as ServiceErrors.

They go through service.errors' handler: JSON `{"code", "message"}` with the status below.
"""
from __future__ import annotations

from service.errors import ServiceError
from service.collections import StoreError


class Unauthorized(ServiceError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    status_code = 403
    code = "forbidden"


class CollectionNotFound(ServiceError):
    status_code = 404
    code = "collection_not_found"


class CollectionEmpty(ServiceError):
    status_code = 409
    code = "collection_empty"


class CollectionUnavailable(ServiceError):
    status_code = 503
    code = "collection_unavailable"


class CollectionExists(ServiceError):
    status_code = 409
    code = "collection_exists"


class DocumentExists(ServiceError):
    status_code = 409
    code = "document_exists"


class StoredDocumentNotFound(ServiceError):
    status_code = 404
    code = "document_not_found"


class JobNotFound(ServiceError):
    status_code = 404
    code = "job_not_found"


class JobNotRetryable(ServiceError):
    status_code = 409
    code = "job_not_retryable"


class KeyNotFound(ServiceError):
    status_code = 404
    code = "key_not_found"


class InvalidKeyRequest(ServiceError):
    status_code = 422
    code = "invalid_request"


class InvalidName(ServiceError):
    status_code = 422
    code = "invalid_collection_name"


class InvalidDocumentId(ServiceError):
    status_code = 422
    code = "invalid_document_id"


class InvalidFilename(ServiceError):
    status_code = 422
    code = "invalid_filename"


class UnsupportedDocument(ServiceError):
    status_code = 415
    code = "unsupported_media_type"


class UnreadableDocument(ServiceError):
    status_code = 422
    code = "unreadable_document"


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"


class DocIdConflict(ServiceError):
    status_code = 409
    code = "doc_id_conflict"


class InsufficientStorage(ServiceError):
    status_code = 507
    code = "insufficient_storage"


STORE_ERRORS: dict[str, type[ServiceError]] = {
    "invalid_name": InvalidName,
    "reserved": CollectionExists,
    "invalid_document_id": InvalidDocumentId,
    "invalid_filename": InvalidFilename,
    "unsupported": UnsupportedDocument,
    "unreadable": UnreadableDocument,
    "not_found": CollectionNotFound,
    "document_not_found": StoredDocumentNotFound,
    "exists": CollectionExists,
    "document_exists": DocumentExists,
    "doc_id_conflict": DocIdConflict,
    "too_large": PayloadTooLarge,
}


def from_store_error(exc: StoreError) -> ServiceError:
    return STORE_ERRORS.get(exc.kind, ServiceError)(exc.message)
