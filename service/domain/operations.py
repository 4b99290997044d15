"""What a running service keeps: collections, API keys, limits, audit, metrics and the job runner.

`Operations` is created by `service.app.create_app` and started by its lifespan once the default index is
loaded. Routes reach it through `service.deps`; the ASGI guard in `service.middleware` uses its keys, rate
limits and query gate. `check_binding` and `preload_collections` are what `notesqa serve` checks before
it binds a port.
"""
from __future__ import annotations

import ipaddress
import logging
import time
from typing import Any

from service.domain.audit import AuditLog
from retrieval.conversation import Turn
from service.domain.collections import CollectionStore
from service.domain.conversations import ConversationStore
from service.domain.jobs import JobRunner, JobStore
from service.domain.keys import KeyFileError, KeyStore, Principal
from service.domain.limits import QueryGate, TokenBuckets
from service.domain.metrics import Metrics
from service.domain.qa_service import QAService
from service.domain.registry import CollectionLoadError, CollectionRegistry
from service.domain.view_links import ViewLinks
from service.errors import CollectionNotFound
from service.schemas import AskResponse, SearchResponse
from service.settings import Settings

log = logging.getLogger(__name__)

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class OperationsError(RuntimeError):
    """A reason `notesqa serve` must not start (bad collection snapshot, unsafe binding)."""


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Operations:
    """Everything the operations layer keeps per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        data = settings.data_dir
        self.keys = KeyStore(data / "keys.json")
        self.store = CollectionStore(data, reserved=(settings.default_collection,))
        self.job_store = JobStore(data / "jobs")
        self.buckets = TokenBuckets(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self.gate = QueryGate(settings.max_concurrent_queries, settings.queue_timeout_s)
        self.audit = AuditLog(data / "audit", settings.audit_retention_days, settings.audit_enabled)
        self.metrics = Metrics()
        self.view_links = ViewLinks(data / "view_links.key", settings.view_link_ttl_days * 86400)
        self.conversations = ConversationStore(settings.conversation_ttl_s, settings.max_conversations,
                                               settings.conversation_max_turns)
        self.registry: CollectionRegistry | None = None
        self.default_service: QAService | None = None
        self.runner: JobRunner | None = None

    def auth_enabled(self) -> bool:
        return self.settings.auth_required or self.keys.configured()

    def start(self, default_service: QAService, registry: CollectionRegistry | None = None) -> None:
        self.default_service = default_service
        if registry is None:
            registry = CollectionRegistry(self.settings, default_service, self.store)
            registry.load_all(strict=True)
        self.registry = registry
        self.runner = JobRunner(self.settings, self.store, self.job_store, registry=registry,
                                on_finish=self._job_finished)
        self.runner.recover()
        registry.start_watching(self.settings.watch_interval_s)
        self.metrics.watch_state(lambda: registry.ready()[1], self.runner.counts)
        self.audit.prune()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop(self.settings.build_stop_timeout_s)
        if self.registry is not None:
            self.registry.stop()
        self.audit.close()

    def service(self, collection: str | None) -> QAService:
        """The QAService of `collection` (the default one when None); authorisation is the caller's."""
        name = collection or self.settings.default_collection
        if self.registry is None:  # before start-up completed (never for a served app)
            if name != self.settings.default_collection or self.default_service is None:
                raise CollectionNotFound(f"no collection named {name!r}")
            return self.default_service
        return self.registry.service(name)

    def ask(self, who: Principal, collection: str | None, question: str, top_k: int,
            doc_ids: list[str] | None, history: list[Turn] | None = None,
            conversation_id: str | None = None) -> AskResponse:
        """The collection's answer, audited; citations carry a view token once keys are required (the
        viewer a citation links to carries no key). A follow-up is read against `history`, else against
        the turns kept under `conversation_id`; the answer is kept as that conversation's next turn."""
        started = time.perf_counter()
        name = collection or self.settings.default_collection
        owner = (who.key_id or who.name, name)
        if history is None:
            history = self.conversations.turns(conversation_id, owner)
        response = self.service(name).ask(question, top_k, doc_ids, history)
        turn = Turn(response.resolved_question or question, response.answer,
                    tuple(c.paragraph_id for c in response.citations))
        response = response.model_copy(update={"conversation_id": self.conversations.record(
            conversation_id, owner, turn)})
        self.audit_query(who, "ask", name, question, started, cited=sorted({c.doc_id for c in response.citations}),
                         abstained=response.abstained)
        return response.model_copy(update={"citations": self.signed(name, response.citations),
                                           "closest": self.signed(name, response.closest)})

    def signed(self, collection: str | None, passages: list) -> list:
        """`passages` (schema objects, or dicts as a stream sends them) with a view token each, once keys are
        required: the viewer a citation links to carries no key."""
        if not self.auth_enabled():
            return passages
        name = collection or self.settings.default_collection

        def token(doc_id: str) -> str:
            return self.view_links.sign(name, doc_id)

        return [{**p, "view_token": token(p["doc_id"])} if isinstance(p, dict)
                else p.model_copy(update={"view_token": token(p.doc_id)}) for p in passages]

    def search(self, who: Principal, collection: str | None, query: str, top_k: int,
               doc_ids: list[str] | None) -> SearchResponse:
        """The collection's ranking, audited."""
        started = time.perf_counter()
        name = collection or self.settings.default_collection
        response = self.service(name).search(query, top_k, doc_ids)
        self.audit_query(who, "search", name, query, started, cited=sorted({r.doc_id for r in response.results}),
                         results=len(response.results))
        return response

    def audit_query(self, who: Principal, kind: str, collection: str, text: str, started: float,
                    cited: list[str] | None = None, results: int | None = None,
                    abstained: bool | None = None) -> None:
        self.audit.write(kind, key=who.name, role=who.role, collection=collection, question=text,
                         cited_documents=cited, results=results, abstained=abstained,
                         latency_ms=round((time.perf_counter() - started) * 1000, 1))

    def audit_action(self, who: Principal, action: str, collection: str, **fields: Any) -> None:
        """A change made through the API (collection, document, key, job retry)."""
        self.audit.write(action, key=who.name, role=who.role, collection=collection, **fields)

    def _job_finished(self, job) -> None:
        self.audit.write("job", job=job.id, collection=job.collection, action=job.action, doc_id=job.doc_id,
                         state=job.state, error=job.error)


def preload_collections(settings: Settings, default_service: QAService) -> CollectionRegistry:
    """Load every collection before serving; raises OperationsError naming the collection and file."""
    registry = CollectionRegistry(settings, default_service, CollectionStore(
        settings.data_dir, reserved=(settings.default_collection,)))
    try:
        registry.load_all(strict=True)
    except CollectionLoadError as exc:
        raise OperationsError(str(exc)) from None
    return registry


def check_binding(settings: Settings, *, insecure_no_auth: bool) -> Settings:
    """Open (no keys) only on loopback; on another interface keys are required from the first request."""
    try:
        configured = KeyStore(settings.data_dir / "keys.json").configured()
    except KeyFileError as exc:
        raise OperationsError(str(exc)) from None
    if is_loopback(settings.host):
        return settings
    if configured:
        return settings.model_copy(update={"auth_required": True})
    if insecure_no_auth:
        log.warning("serving %s WITHOUT AUTHENTICATION on a non-loopback interface", settings.host)
        return settings
    raise OperationsError(
        f"refusing to serve on {settings.host} without API keys: anyone who can reach it could read every "
        f"collection and change documents. Create a key first (notesqa keys create --name NAME --role admin), "
        f"bind 127.0.0.1, or pass --insecure-no-auth-on-network if you really mean it")
