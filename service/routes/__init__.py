"""The HTTP routes, one module per resource; `service.app` mounts them all."""
from __future__ import annotations

from service.schemas import ErrorResponse

ERROR_DESCRIPTIONS = {401: "No or unknown API key", 403: "The key may not do this", 404: "Not found",
                      409: "Conflict with the current state", 413: "Body too large",
                      415: "Unsupported file type", 422: "Invalid request (see `code`)", 429: "Rate limited",
                      503: "Busy or not ready", 507: "No space left to store the upload"}


def error_responses(*codes: int) -> dict:
    """The OpenAPI `responses` entry of these error statuses (bodies: ErrorResponse)."""
    return {c: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[c]} for c in codes}


CALLER_ERRORS = error_responses(401, 403, 404, 422, 429)
