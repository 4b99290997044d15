"""GET /healthz (the default index is loaded), /readyz (every collection, and a free query slot), /metrics."""
from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from service.deps import CallerDep, DefaultQADep, OperationsDep, authorize
from service.domain.metrics import CONTENT_TYPE
from service.routes.collections import collection_out
from service.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(qa_service: DefaultQADep) -> Health:
    return qa_service.health()


@router.get("/readyz", responses={503: {"model": Readiness,
                                         "description": "Not every collection is served, or saturated"}})
def readyz(ops: OperationsDep) -> JSONResponse:
    """200 once every collection's snapshot is loaded (an empty collection counts as ready) and questions
    can be taken at once; 503 while every query slot is busy and questions wait for one (`saturated`), so a
    load balancer sends the next ones to another replica."""
    if ops.registry is None:
        return JSONResponse({"ready": False, "saturated": False, "collections": []}, status_code=503)
    loaded, _ = ops.registry.ready()
    saturated = ops.gate.saturated
    ready = loaded and not saturated
    # names and sizes only for an open (loopback) service; with keys, the status code says it all
    shown = [] if ops.auth_enabled() else [collection_out(ops, n) for n in ops.registry.names()]
    body = Readiness(ready=ready, saturated=saturated, collections=shown)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(ops: OperationsDep, caller: CallerDep) -> Response:
    """Prometheus metrics (an admin key is needed once keys exist, unless NOTESQA_METRICS_PUBLIC)."""
    if ops.auth_enabled() and not ops.settings.metrics_public:
        authorize(caller, "admin")
    return Response(ops.metrics.render(), media_type=CONTENT_TYPE)
