"""/v1/keys: create, list and revoke API keys (admin; `notesqa keys` does the same locally)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from service.deps import CallerDep, OperationsDep, Require
from service.domain.keys import ROLE_ACTIONS, KeyRequestError, Principal
from service.errors import InvalidKeyRequest, KeyNotFound
from service.routes import CALLER_ERRORS
from service.schemas import CallerOut, KeyCreate, KeyCreated, KeyList, KeyOut

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=CALLER_ERRORS)

AdminCaller = Annotated[Principal, Require("admin")]


@router.get("")
def list_keys(ops: OperationsDep, caller: AdminCaller) -> KeyList:
    return KeyList(keys=[KeyOut(**r.public_view()) for r in ops.keys.list()])


@router.get("/me")
def current_key(caller: CallerDep) -> CallerOut:
    """The calling key's own name, role and collections (any key; no token or hash), so that a page shows
    only what the key may do. The routes still decide every action themselves."""
    return CallerOut(name=caller.name, role=caller.role, collections=sorted(caller.collections),
                     actions=sorted(ROLE_ACTIONS.get(caller.role, ())), open=caller.open)


@router.post("", status_code=201)
def create_key(body: KeyCreate, ops: OperationsDep, caller: AdminCaller) -> KeyCreated:
    """The token is in this answer only."""
    try:
        record, token = ops.keys.create(body.name, body.role, body.collections, body.origins)
    except KeyRequestError as exc:
        raise InvalidKeyRequest(str(exc)) from None
    ops.audit_action(caller, "key_create", ",".join(record.collections), key_id=record.id, key_name=record.name,
                     key_role=record.role)
    return KeyCreated(key=KeyOut(**record.public_view()), token=token)


@router.delete("/{key_id}")
def revoke_key(key_id: str, ops: OperationsDep, caller: AdminCaller) -> KeyOut:
    keys = ops.keys
    if not any(r.id == key_id and r.revoked_at is None for r in keys.list()):
        raise KeyNotFound(f"no active key with id {key_id!r}")
    record = keys.revoke(key_id)
    ops.audit_action(caller, "key_revoke", ",".join(record.collections), key_id=record.id, key_name=record.name)
    return KeyOut(**record.public_view())
