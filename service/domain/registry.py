"""Every collection the service answers from, each with its own loaded snapshot.

The default collection is the classic index folder (`Settings.index_dir`, the QAService the app was
created with); the others live under <data_dir>/collections/. All of them share one embedder and
therefore one lock around it (the default service's query lock). A new snapshot is loaded next to
the one serving and swapped in only once complete (QAService.reload); if it cannot be loaded the
old one keeps serving.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from index.embedders import EmbedderError
from index.snapshot import SnapshotError, current_snapshot_path
from service.domain.collections import CollectionStore
from service.errors import CollectionEmpty, CollectionNotFound, CollectionUnavailable
from service.domain.qa_service import QAService
from service.settings import Settings

log = logging.getLogger(__name__)


class CollectionLoadError(RuntimeError):
    """A collection's snapshot cannot be loaded at start-up; the message names the collection and file."""


@dataclass
class Entry:
    name: str
    state: str  # ready | empty | error
    service: Any = None  # QAService (or a stand-in for the default one in tests)
    error: str | None = None
    snapshot: str | None = None  # name of the snapshot being served
    failed_pointer: str | None = None  # a CURRENT value that failed to load (not retried by the watcher)


class CollectionRegistry:
    def __init__(self, settings: Settings, default_service: Any, store: CollectionStore) -> None:
        self.settings = settings
        self.store = store
        self.default_name = settings.default_collection
        self.lock: threading.Lock = getattr(default_service, "query_lock", None) or threading.Lock()
        self._entries: dict[str, Entry] = {self.default_name: Entry(self.default_name, "ready", default_service,
                                                                    snapshot=_snapshot_name(default_service))}
        self._reload_lock = threading.RLock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # --- loading -------------------------------------------------------------------------------
    def load_all(self, *, strict: bool = True) -> None:
        for name in self.store.names():
            if name == self.default_name or name in self._entries:
                continue
            entry = self._load(name)
            if entry.state == "error" and strict:
                raise CollectionLoadError(f"collection {name!r}: {entry.error}")
            self._entries[name] = entry

    def _settings_for(self, name: str) -> Settings:
        return self.settings.model_copy(update={"index_dir": self.store.index_dir(name)})

    def _load(self, name: str) -> Entry:
        index_dir = self.store.index_dir(name)
        pointer = current_snapshot_path(index_dir)
        if pointer is None:
            return Entry(name, "empty")
        try:
            service = QAService.load(self._settings_for(name), query_lock=self.lock)
        except (SnapshotError, EmbedderError, OSError) as exc:
            log.error("collection %s: cannot load its snapshot: %s", name, exc)
            return Entry(name, "error", error=str(exc), failed_pointer=pointer.name)
        return Entry(name, "ready", service, snapshot=service.health().snapshot)

    def reload(self, name: str) -> Entry:
        """Load the collection's current snapshot and swap it in; raises SnapshotError and keeps the old one."""
        with self._reload_lock:
            entry = self._entries.get(name)
            if name == self.default_name:
                entry.service.reload()
                entry.snapshot, entry.failed_pointer = _snapshot_name(entry.service), None
                return entry
            pointer = current_snapshot_path(self.store.index_dir(name))
            if pointer is None:
                return self.set_empty(name)
            if entry is not None and entry.service is not None:
                try:
                    health = entry.service.reload()
                except (SnapshotError, EmbedderError, OSError) as exc:
                    entry.failed_pointer = pointer.name
                    raise SnapshotError(str(exc)) from exc
                entry.snapshot, entry.failed_pointer = health.snapshot, None
                entry.state, entry.error = "ready", None
                return entry
            fresh = self._load(name)
            if fresh.state == "error":
                self._entries[name] = fresh if entry is None or entry.state != "ready" else entry
                raise SnapshotError(fresh.error or "cannot load the snapshot")
            self._entries[name] = fresh
            log.info("collection %s: now serving snapshot %s", name, fresh.snapshot)
            return fresh

    def set_empty(self, name: str) -> Entry:
        with self._reload_lock:
            self._entries[name] = Entry(name, "empty")
            return self._entries[name]

    def add(self, name: str) -> Entry:
        with self._reload_lock:
            if name not in self._entries:
                self._entries[name] = self._load(name)
            return self._entries[name]

    # --- lookups -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return [self.default_name, *sorted(n for n in self._entries if n != self.default_name)]

    def exists(self, name: str) -> bool:
        return name in self._entries

    def service(self, name: str) -> Any:
        entry = self._entries.get(name)
        if entry is None:
            raise CollectionNotFound(f"no collection named {name!r}")
        if entry.service is not None:
            return entry.service  # a collection whose reload failed keeps serving its last good snapshot
        if entry.state == "empty":
            raise CollectionEmpty(f"collection {name!r} has no indexed documents yet")
        raise CollectionUnavailable(f"collection {name!r} cannot be served: {entry.error}")

    def status(self, name: str) -> dict:
        entry = self._entries.get(name)
        if entry is None:
            raise CollectionNotFound(f"no collection named {name!r}")
        info: dict[str, Any] = {"name": name, "default": name == self.default_name, "state": entry.state,
                                "snapshot": entry.snapshot, "documents": 0, "paragraphs": 0,
                                "error": entry.error, "built_at": None}
        if entry.service is not None:
            try:
                health = entry.service.health()
                info.update(documents=health.documents, paragraphs=health.paragraphs, built_at=health.built_at,
                            snapshot=health.snapshot)
            except Exception:  # a stand-in service in tests may lack details
                pass
        if entry.failed_pointer:
            info["error"] = info["error"] or f"snapshot {entry.failed_pointer} failed to load; serving the previous one"
        return info

    def ready(self) -> tuple[bool, list[dict]]:
        statuses = [self.status(name) for name in self.names()]
        return all(s["state"] in ("ready", "empty") for s in statuses), statuses

    # --- noticing snapshots built by another process (the CLI) ---------------------------------
    def check_for_changes(self) -> None:
        if self.settings.workers > 1:
            self._check_default()
        for name in self.store.names():
            if name == self.default_name:
                continue
            entry = self._entries.get(name)
            if entry is None:
                self.add(name)
                continue
            pointer = current_snapshot_path(self.store.index_dir(name))
            wanted = pointer.name if pointer else None
            if wanted == entry.snapshot or (wanted is not None and wanted == entry.failed_pointer):
                continue
            try:
                self.reload(name)
            except SnapshotError as exc:
                log.error("collection %s: snapshot %s cannot be loaded, still serving %s: %s",
                          name, wanted, entry.snapshot, exc)

    def _check_default(self) -> None:
        """With several worker processes no signal reaches them all: each follows the default index folder's
        CURRENT pointer itself, so all of them serve a new snapshot within one watch interval."""
        entry = self._entries[self.default_name]
        pointer = current_snapshot_path(self.settings.index_dir)
        wanted = pointer.name if pointer else None
        if wanted is None or wanted in (entry.snapshot, entry.failed_pointer):
            return
        try:
            self.reload(self.default_name)
        except (SnapshotError, EmbedderError, OSError) as exc:
            entry.failed_pointer = wanted
            log.error("default collection: snapshot %s cannot be loaded, still serving %s: %s",
                      wanted, entry.snapshot, exc)
        else:
            log.info("default collection: now serving snapshot %s", entry.snapshot)

    def start_watching(self, interval: float) -> None:
        if interval <= 0 or self._watcher is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.check_for_changes()
                except Exception:  # the watcher must survive anything on disk
                    log.exception("collection watcher")

        self._watcher = threading.Thread(target=loop, name="notesqa-collection-watcher", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()


def _snapshot_name(service: Any) -> str | None:
    try:
        return service.health().snapshot
    except Exception:
        return None

