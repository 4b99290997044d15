"""The audit log: one JSON line per question, search and change, one file per UTC day.

    <data_dir>/audit/audit-YYYY-MM-DD.jsonl

Files older than `retention_days` are deleted at start-up and whenever the day changes. Entries
carry the key's *name*, never a token or its hash.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
FILE = re.compile(r"^audit-(\d{4}-\d{2}-\d{2})\.jsonl$")


class AuditLog:
    def __init__(self, folder: Path, retention_days: int = 30, enabled: bool = True) -> None:
        self.folder = Path(folder)
        self.retention_days = retention_days
        self.enabled = enabled
        self._lock = threading.Lock()
        self._day: str | None = None
        self._handle = None

    def write(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        now = dt.datetime.now(dt.UTC)
        entry = {"time": now.isoformat(timespec="milliseconds"), "event": event, **fields}
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        try:
            with self._lock:
                day = now.strftime("%Y-%m-%d")
                if day != self._day:
                    self._rotate(day, now)
                self._handle.write(line)
                self._handle.flush()
        except OSError as exc:  # auditing must not take the service down (e.g. a full disk)
            log.error("cannot write the audit log: %s", exc)

    def _rotate(self, day: str, now: dt.datetime) -> None:
        if self._handle is not None:
            self._handle.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._handle = (self.folder / f"audit-{day}.jsonl").open("a", encoding="utf-8")
        self._day = day
        self.prune(now)

    def prune(self, now: dt.datetime | None = None) -> list[Path]:
        now = now or dt.datetime.now(dt.UTC)
        oldest = (now - dt.timedelta(days=self.retention_days)).date()
        removed = []
        if not self.folder.is_dir():
            return removed
        for path in self.folder.iterdir():
            match = FILE.match(path.name)
            if match and dt.date.fromisoformat(match.group(1)) < oldest:
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle, self._day = None, None
