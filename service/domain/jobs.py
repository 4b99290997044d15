"""Background indexing jobs: one at a time per collection, persisted, resumed after a crash.

A job rebuilds its collection's index from the collection's sources (build_index reuses the
embedding cache, so only new or changed paragraphs are embedded), records what it was built from,
then swaps the new snapshot in. Jobs queued for a collection while another runs are merged into the
next build: it reads the sources as they are then, which covers them all.

    <data_dir>/jobs/<id>.json   state queued|running|succeeded|failed, progress 0..1, stage, error, report

After a crash (SIGKILL, power cut) a job left queued or running is run again when the service
starts, and a collection whose sources differ from what its snapshot was built from gets a
"resync" job, so an upload acknowledged just before the crash is never left out of the index.

A job state that cannot be written (a full disk) never stops the job: the state is kept in memory, where
`GET /v1/jobs` reads it (a failed job can be retried), and written by the next save that succeeds.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index.builder import BuildError, build_index
from index.embedders import Embedder, EmbedderError, create_embedder
from index.snapshot import CURRENT, SnapshotError, build_lock, current_snapshot_path
from index.loading import SourceError
from service.domain.collections import CollectionStore
from service.settings import Settings
from service.domain.storage import durable_unlink, durable_write, read_json, remove_stale_temporaries, write_json

log = logging.getLogger(__name__)

STATES = ("queued", "running", "succeeded", "failed")
ACTIVE = ("queued", "running")
JOB_ID = re.compile(r"^[0-9a-f]{16}$")
KEEP_JOBS = 2000
DEBUG_DELAY_ENV = "NOTESQA_DEBUG_JOB_DELAY_S"  # tests only: pause a build mid-way (crash tests)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass
class Job:
    id: str
    collection: str
    action: str  # add | replace | delete | reindex | resync
    doc_id: str | None = None
    state: str = "queued"
    progress: float = 0.0
    stage: str = "queued"
    error: str | None = None
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    pid: int | None = None
    note: str | None = None
    report: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class JobStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._unsaved: dict[str, Job] = {}  # jobs whose latest state is not on disk yet
        self._lock = threading.Lock()

    def path(self, job_id: str) -> Path | None:
        return self.folder / f"{job_id}.json" if JOB_ID.match(job_id or "") else None

    def save(self, job: Job, *, sync: bool = True) -> bool:
        """Write `job` (and any state an earlier save could not write); False if it stays in memory only."""
        with self._lock:
            self._unsaved[job.id] = job
            pending = list(self._unsaved.values())
        written = True
        for item in pending:
            try:
                write_json(self.folder / f"{item.id}.json", item.to_dict(), sync=sync)
            except OSError as exc:
                written = written and item is not job
                if item is job:
                    log.warning("job %s: its state (%s) cannot be written (%s); kept in memory", job.id,
                                job.state, exc)
            else:
                with self._lock:
                    self._unsaved.pop(item.id, None)
        return written

    def get(self, job_id: str) -> Job | None:
        path = self.path(job_id)
        if path is None:
            return None
        with self._lock:
            if job_id in self._unsaved:
                return self._unsaved[job_id]
        try:
            data = read_json(path, None)
        except ValueError:
            return None
        return Job(**data) if isinstance(data, dict) else None

    def all(self) -> list[Job]:
        jobs: dict[str, Job] = {}
        for path in self.folder.glob("*.json") if self.folder.is_dir() else []:
            try:
                job = Job(**read_json(path, {}))
            except (ValueError, TypeError):
                log.warning("ignoring unreadable job file %s", path)
                continue
            jobs[job.id] = job
        with self._lock:
            jobs.update(self._unsaved)
        return sorted(jobs.values(), key=lambda j: (j.created_at, j.id), reverse=True)

    def prune(self, keep: int = KEEP_JOBS) -> None:
        remove_stale_temporaries(self.folder)
        finished = [j for j in self.all() if j.state not in ACTIVE]
        for job in finished[keep:]:
            (self.folder / f"{job.id}.json").unlink(missing_ok=True)


class BuildInterrupted(Exception):
    """Raised inside a build when the service stops; the build leaves no snapshot behind."""


class LockedEmbedder(Embedder):
    """The builds' embedder, one batch at a time under the builds' lock (builds of several collections
    interleave); never the instance or the lock questions use."""

    def __init__(self, inner: Embedder, lock: threading.Lock) -> None:
        self.inner, self.lock = inner, lock
        self.name, self.dimension = inner.name, inner.dimension

    def encode_query(self, texts: Sequence[str]) -> np.ndarray:
        with self.lock:
            return self.inner.encode_query(texts)

    def encode_document(self, texts: Sequence[str]) -> np.ndarray:
        with self.lock:
            return self.inner.encode_document(texts)


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or \
            isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
        return f"no space left on device while building the index ({exc}); the previous snapshot stays in service"
    if isinstance(exc, (BuildError, SourceError)):
        return str(exc)
    if isinstance(exc, SnapshotError):
        return f"the new snapshot could not be loaded ({exc}); the previous snapshot stays in service"
    return f"{type(exc).__name__}: {exc}"


class JobRunner:
    """Runs jobs on a worker thread per collection (in the server) or inline (the CLI)."""

    def __init__(self, settings: Settings, store: CollectionStore, jobs: JobStore, *, registry: Any = None,
                 on_finish: Callable[[Job], None] | None = None) -> None:
        self.settings, self.store, self.jobs, self.registry = settings, store, jobs, registry
        self.build_lock = threading.Lock()  # the builds' own embedder; questions have theirs
        self.on_finish = on_finish
        self._mutex = threading.Lock()
        self._queues: dict[str, list[Job]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._embedder: Embedder | None = None
        self._stopping = threading.Event()
        self._recovery_lock: Any = None  # the open file whose flock makes this process the one that recovers

    # --- submitting ----------------------------------------------------------------------------
    def create(self, collection: str, action: str, doc_id: str | None = None) -> Job:
        job = Job(id=uuid.uuid4().hex[:16], collection=collection, action=action, doc_id=doc_id)
        self.jobs.save(job)
        return job

    def submit(self, collection: str, action: str, doc_id: str | None = None) -> Job:
        job = self.create(collection, action, doc_id)
        self.enqueue(job)
        return job

    def enqueue(self, job: Job) -> None:
        with self._mutex:
            self._queues.setdefault(job.collection, []).append(job)
            worker = self._workers.get(job.collection)
            if worker is None or not worker.is_alive():
                worker = threading.Thread(target=self._work, args=(job.collection,), daemon=True,
                                          name=f"notesqa-index-{job.collection}")
                self._workers[job.collection] = worker
                worker.start()

    def _work(self, collection: str) -> None:
        lower_thread_priority(self.settings.build_niceness)
        while not self._stopping.is_set():
            with self._mutex:
                batch = self._queues.get(collection) or []
                self._queues[collection] = []
                if not batch:
                    self._workers.pop(collection, None)
                    return
            try:
                self.run(collection, batch)
            except Exception:  # run() records failures itself; never let the worker die silently
                log.exception("indexing worker for %s", collection)

    def pending(self, collection: str | None = None) -> int:
        with self._mutex:
            return sum(len(q) for c, q in self._queues.items() if collection in (None, c))

    def retry(self, job: Job) -> Job:
        job.state, job.stage, job.progress, job.error, job.finished_at = "queued", "queued", 0.0, None, None
        job.note = "retried"
        self.jobs.save(job)
        self.enqueue(job)
        return job

    def recover(self) -> list[Job]:
        """At start-up: re-run jobs a crash interrupted, and resync collections whose sources changed.

        Of the processes sharing a data folder (`serve --workers N`), one recovers: the first to take the
        recovery lock, held for its lifetime. A process that dies releases it, so the worker started in
        its place recovers what it left running."""
        self.jobs.folder.mkdir(parents=True, exist_ok=True)
        if self._recovery_lock is None:
            lock = (self.jobs.folder / ".recovery.lock").open("a")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                log.info("another process serving this data folder recovers its jobs")
                return []
            self._recovery_lock = lock
        self.jobs.prune()
        requeued: list[Job] = []
        for job in reversed(self.jobs.all()):  # oldest first
            if job.state not in ACTIVE:
                continue
            if job.state == "running" and job.pid not in (None, os.getpid()) and _alive(job.pid):
                continue  # another live process (the CLI) is running it
            if not self.store.exists(job.collection):
                job.state, job.error, job.finished_at = "failed", "the collection no longer exists", _now()
                self.jobs.save(job)
                continue
            if job.state == "running":
                job.note = "interrupted (the service stopped during the build); re-run at start-up"
            job.state, job.stage, job.progress = "queued", "queued", 0.0
            self.jobs.save(job)
            requeued.append(job)
        pending = {job.collection for job in requeued}
        for name in self.store.names():
            self.store.clean(name)
            if name not in pending and self.store.needs_build(name):
                job = self.create(name, "resync")
                job.note = "the sources changed since the served snapshot was built"
                self.jobs.save(job)
                requeued.append(job)
        for job in requeued:
            self.enqueue(job)
        return requeued

    def stop(self, timeout: float) -> None:
        """Shutting down: a running build stops at its next batch and leaves its jobs queued for the restart;
        waits up to `timeout` s for that (a job left running is re-run at start-up all the same)."""
        self._stopping.set()
        with self._mutex:
            workers = list(self._workers.values())
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        if self._recovery_lock is not None:
            self._recovery_lock.close()  # closing releases the flock: a restart in this process recovers
            self._recovery_lock = None

    # --- running -------------------------------------------------------------------------------
    def _build_embedder(self) -> Embedder:
        with self.build_lock:
            if self._embedder is None:
                self._embedder = LockedEmbedder(create_embedder(self.settings.embedder, shared=False),
                                                self.build_lock)
        return self._embedder

    def run(self, collection: str, batch: list[Job],
            echo: Callable[[str, float], None] | None = None) -> list[Job]:
        """Build once for every job of `batch`; each ends succeeded or failed (never raises)."""
        lead = batch[0]
        for job in batch:
            job.state, job.stage, job.progress = "running", "starting", 0.0
            job.started_at, job.pid, job.attempts, job.error = _now(), os.getpid(), job.attempts + 1, None
            if job is not lead:
                job.note = f"built together with job {lead.id}"
            self.jobs.save(job)
        last_save = [0.0]
        delay = [float(os.environ.get(DEBUG_DELAY_ENV, "0") or 0)]

        def progress(stage: str, done: int, total: int) -> None:
            value = {"loading": 0.05, "writing": 0.92, "swapping": 0.97}.get(stage)
            if stage == "embedding":
                value = 0.1 + 0.8 * (done / total if total else 1.0)
            changed = stage != lead.stage
            for job in batch:
                job.stage, job.progress = stage, round(value or job.progress, 3)
            if echo:
                echo(stage, lead.progress)
            if changed or time.monotonic() - last_save[0] > 0.5:
                last_save[0] = time.monotonic()
                for job in batch:
                    self.jobs.save(job, sync=False)
            if stage == "embedding" and delay[0] > 0:
                pause, delay[0] = delay[0], 0.0  # once, with the build lock held and the cache open
                self._stopping.wait(pause)
            if self._stopping.is_set():
                raise BuildInterrupted("the service is stopping")

        try:
            report = self._build(collection, lead.id, progress)
        except BuildInterrupted:
            for job in batch:  # recover() runs them again at the next start
                job.state, job.stage, job.progress = "queued", "queued", 0.0
                job.note = "interrupted (the service stopped during the build); re-run at start-up"
                self.jobs.save(job)
            log.info("indexing of %s stopped for shutdown; %d job(s) left queued", collection, len(batch))
            return batch
        except Exception as exc:
            message = describe_failure(exc)
            if not isinstance(exc, (BuildError, SourceError, SnapshotError, OSError, sqlite3.Error)):
                log.exception("indexing job %s for %s failed", lead.id, collection)
            else:
                log.error("indexing job %s for %s failed: %s", lead.id, collection, message)
            for job in batch:
                job.state, job.error, job.finished_at, job.stage = "failed", message, _now(), "failed"
                self.jobs.save(job)
        else:
            for job in batch:
                job.state, job.progress, job.stage, job.finished_at, job.report = \
                    "succeeded", 1.0, "done", _now(), report
                self.jobs.save(job)
        for job in batch:
            if self.on_finish:
                self.on_finish(job)
        return batch

    def _build(self, collection: str, job_id: str, progress: Callable[[str, int, int], None]) -> dict:
        store = self.store
        store.require(collection)
        index_dir = store.index_dir(collection)
        with store.lock(collection):
            digest = store.sources_digest(collection)
            has_sources = store.has_sources(collection)
        started = time.perf_counter()
        if not has_sources:  # the last document was deleted: stop serving the old snapshot
            with build_lock(index_dir):
                durable_unlink(index_dir / CURRENT)
                store.record_build(collection, digest, None, job_id)
            if self.registry is not None:
                self.registry.set_empty(collection)
            return {"snapshot": None, "documents": 0, "paragraphs": 0, "embedded": 0, "cached": 0,
                    "skipped": [], "seconds": round(time.perf_counter() - started, 3)}
        previous = current_snapshot_path(index_dir)
        try:
            embedder = self._build_embedder()
        except EmbedderError as exc:
            raise BuildError(f"the embedder cannot be loaded: {exc}") from exc
        dense_index, keyword_index = self.settings.index_specs
        report = build_index(store.sources_dir(collection), index_dir, self.settings.embedder,
                             show_progress=False, embedder=embedder, progress=progress,
                             dense_index=dense_index, keyword_index=keyword_index)
        progress("swapping", 0, 0)
        if self.registry is not None:
            try:
                self.registry.reload(collection)
            except SnapshotError:
                # put the pointer back, so a restart serves the last good snapshot too
                if previous is not None and previous.is_dir():
                    with build_lock(index_dir):
                        durable_write(index_dir / CURRENT, previous.name.encode())
                raise
        store.record_build(collection, digest, report.snapshot, job_id)
        return {"snapshot": report.snapshot, "documents": report.documents, "paragraphs": report.paragraphs,
                "embedded": report.embedded, "cached": report.cached,
                "skipped": [{"source": Path(s.source).name, "reason": s.reason} for s in report.skipped],
                "seconds": round(time.perf_counter() - started, 3)}

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for job in self.jobs.all():
            counts[job.state] = counts.get(job.state, 0) + 1
        return counts


def lower_thread_priority(niceness: int) -> None:
    """Make the calling thread (and the threads it starts, e.g. the embedder's) yield the CPU to others.

    Linux applies setpriority to one thread when given its id; elsewhere this changes nothing.
    """
    if niceness <= 0 or not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), niceness))
    except OSError as exc:
        log.warning("cannot lower the priority of the indexing thread: %s", exc)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
