"""Errors as JSON `{"code", "message"}` with stable codes, and the handlers that send them."""
from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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


class ParagraphNotFound(ServiceError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "paragraph_not_found"


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
