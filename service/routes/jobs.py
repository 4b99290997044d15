"""/v1/jobs: the indexing jobs of the collections a key may read; retry a failed one."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.deps import CallerDep, OperationsDep, authorize
from service.domain.jobs import Job
from service.domain.keys import Principal
from service.domain.operations import Operations
from service.errors import JobNotFound, JobNotRetryable
from service.routes import CALLER_ERRORS, error_responses
from service.schemas import JobList, JobOut

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=CALLER_ERRORS)


def job_out(job: Job) -> JobOut:
    return JobOut.model_validate(job.to_dict())


def _visible_job(ops: Operations, caller: Principal, job_id: str) -> Job:
    who = authorize(caller, "read")
    job = ops.job_store.get(job_id)
    if job is None or not who.may_use(job.collection):  # another collection's job is not even there
        raise JobNotFound(f"no job with id {job_id!r}")
    return job


@router.get("")
def list_jobs(ops: OperationsDep, caller: CallerDep, collection: Annotated[str | None, Query(max_length=64)] = None,
              state: Annotated[str | None, Query(pattern="^(queued|running|succeeded|failed)$")] = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JobList:
    """Recent indexing jobs of the collections this key may read, newest first."""
    who = authorize(caller, "read")
    jobs = [j for j in ops.job_store.all() if who.may_use(j.collection)
            and collection in (None, j.collection) and state in (None, j.state)]
    return JobList(jobs=[job_out(j) for j in jobs[:limit]])


@router.get("/{job_id}")
def get_job(job_id: str, ops: OperationsDep, caller: CallerDep) -> JobOut:
    """state: queued | running | succeeded | failed, with progress (0..1) and the error if it failed."""
    return job_out(_visible_job(ops, caller, job_id))


@router.post("/{job_id}/retry", status_code=202, responses=error_responses(409))
def retry_job(job_id: str, ops: OperationsDep, caller: CallerDep) -> JobOut:
    """Run a failed job again."""
    job = _visible_job(ops, caller, job_id)
    authorize(caller, "write", job.collection)
    if job.state != "failed":
        raise JobNotRetryable(f"job {job_id} is {job.state}; only a failed job can be retried")
    ops.audit_action(caller, "job_retry", job.collection, job=job.id)
    return job_out(ops.runner.retry(job))
