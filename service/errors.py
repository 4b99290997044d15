"""Every error the API answers with: JSON `{"code", "message"}`, a stable code per class, and the handlers.

Questions and documents first, then collections, jobs, keys and limits."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from retrieval.validation import EMPTY, INVALID, TOO_LONG, TextError
from service.schemas import ErrorResponse


class ServiceError(Exception):
    """An error the client can act on; subclasses fix the HTTP status and the code."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmptyQuestion(ServiceError):
    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    code = "empty_question"


class QuestionTooLong(ServiceError):
    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    code = "question_too_long"


class InvalidText(ServiceError):
    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    code = "invalid_request"


class TopKOutOfRange(ServiceError):
    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    code = "top_k_out_of_range"


class DocumentNotFound(ServiceError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "document_not_found"


class FeedbackNotFound(ServiceError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "feedback_not_found"


class ParagraphNotFound(ServiceError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "paragraph_not_found"


# --- collections, stored documents, jobs, keys, limits -------------------------------------------

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


class ReadOnlyCollection(ServiceError):
    status_code = 409
    code = "collection_read_only"


class CollectionExists(ServiceError):
    status_code = 409
    code = "collection_exists"


class DocumentExists(ServiceError):
    status_code = 409
    code = "document_exists"


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
    "document_not_found": DocumentNotFound,
    "exists": CollectionExists,
    "document_exists": DocumentExists,
    "doc_id_conflict": DocIdConflict,
    "too_large": PayloadTooLarge,
}


TEXT_ERRORS = {EMPTY: EmptyQuestion, TOO_LONG: QuestionTooLong, INVALID: InvalidText}


def from_text_error(exc: TextError) -> ServiceError:
    """The 422 error for a retrieval.validation.TextError (by its `kind`)."""
    return TEXT_ERRORS[exc.kind](str(exc))


def from_store_error(exc: Any) -> ServiceError:
    """The HTTP error for a domain.collections.StoreError (by its `kind`)."""
    return STORE_ERRORS.get(exc.kind, ServiceError)(exc.message)


# Routing errors raised by Starlette itself (unknown path, wrong method, ...)
HTTP_STATUS_CODES = {
    400: "invalid_request",  # FastAPI raises it for a body it cannot decode at all
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(status_code: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorResponse(code=code, message=message)
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


def _describe(errors: list[dict]) -> str:
    """'body.top_k: Input should be a valid integer; ...' (the input values are not echoed)."""
    parts = []
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "invalid JSON")
            parts.append(f"malformed JSON body: {reason} at character {error['loc'][-1]}")
            continue
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "invalid"))
    return "; ".join(parts) or "invalid request"


async def service_error_handler(request: Request, exc: ServiceError) -> JSONResponse:
    return error_response(exc.status_code, exc.code, exc.message)


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    # malformed JSON arrives here too (error type "json_invalid"), so it shares the code
    return error_response(status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid_request", _describe(exc.errors()))


async def http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = HTTP_STATUS_CODES.get(exc.status_code, "internal_error" if exc.status_code >= 500 else "bad_request")
    return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises the exception after this response is sent, so the server logs the
    # traceback once; the client gets no detail of it.
    return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal_error",
                          "The server hit an unexpected error; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, service_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
