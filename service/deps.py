"""Typed FastAPI dependencies: the running operations, the caller, and the QA service a caller may use.

Authorisation is decided here, once per request. `service.middleware.GuardMiddleware` only identifies the
caller (key, view token or anonymous) and puts it on the request; a route then asks for what it needs:
`Require("admin")` for a role, `CollectionQADep` for the collection in `?collection=`, or
`collection_qa(ops, caller, name, action)` for a collection named in a JSON body.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from service.domain.keys import ANONYMOUS, Principal
from service.domain.operations import Operations
from service.domain.qa_service import QAService
from service.errors import Forbidden
from service.settings import Settings


def get_operations(request: Request) -> Operations:
    return request.app.state.operations


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_caller(request: Request) -> Principal:
    return getattr(request.state, "principal", None) or ANONYMOUS


OperationsDep = Annotated[Operations, Depends(get_operations)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CallerDep = Annotated[Principal, Depends(get_caller)]


def authorize(caller: Principal, action: str, collection: str | None = None) -> Principal:
    """Raise 403 unless the caller's role allows `action` on `collection` (None: any collection)."""
    if not caller.allows(action):
        raise Forbidden(f"the key {caller.name!r} (role {caller.role}) may not {action}")
    if collection is not None and not caller.may_use(collection):
        raise Forbidden(f"the key {caller.name!r} may not use collection {collection!r}")
    return caller


def Require(action: str) -> Principal:  # noqa: N802 - used like a type: `caller: Annotated[..., Require("admin")]`
    """A dependency: the caller, once its role allows `action` (on any collection)."""
    def allowed(caller: CallerDep) -> Principal:
        return authorize(caller, action)
    return Depends(allowed)


def collection_qa(ops: Operations, caller: Principal, collection: str | None, action: str) -> QAService:
    """The QAService of `collection` (the default one when None), once the caller may `action` it."""
    name = collection or ops.settings.default_collection
    authorize(caller, action, name)
    return ops.service(name)


def _readable_collection_qa(ops: OperationsDep, caller: CallerDep, collection: Annotated[str | None, Query(
        description="Collection to read from (default: the default collection).", max_length=64)] = None,
) -> QAService:
    return collection_qa(ops, caller, collection, "read")


def _default_qa(ops: OperationsDep) -> QAService:
    return ops.service(None)


CollectionQADep = Annotated[QAService, Depends(_readable_collection_qa)]
DefaultQADep = Annotated[QAService, Depends(_default_qa)]
