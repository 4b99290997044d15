"""API keys: roles, the collections each key may use, and where they are kept.

Keys live in <data_dir>/keys.json (mode 0600). Only the SHA-256 of a token is stored; the token
itself is printed once, by `notesqa keys create`. A token looks like `nqa_<43 url-safe chars>`
(256 random bits), so a plain hash is enough: there is nothing to brute-force.

Roles, from least to most:
    public  ask only, on its collections, and only from its configured browser origins (the widget)
    reader  ask, search, read documents and jobs of its collections
    editor  reader + upload, replace, delete documents, reindex, retry jobs in its collections
    admin   everything, on every collection: create collections, manage keys, /metrics
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from service.domain.storage import file_lock, read_json, write_json

ROLES = ("public", "reader", "editor", "admin")
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "public": frozenset({"ask"}),
    "reader": frozenset({"ask", "search", "read"}),
    "editor": frozenset({"ask", "search", "read", "write"}),
    "admin": frozenset({"ask", "search", "read", "write", "admin"}),
    # not a key's role: a signed view link (domain/view_links.py) reads the one document it names
    "view-link": frozenset({"read"}),
}
VIEW_LINK_ROLE = "view-link"
ALL = "*"
TOKEN_PREFIX = "nqa_"


class KeyRequestError(ValueError):
    pass


class KeyFileError(RuntimeError):
    """keys.json cannot be read: nothing is let in until it is fixed."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key, or "anonymous" when no keys are configured (open mode, loopback only)."""

    name: str
    role: str
    collections: frozenset[str] = frozenset({ALL})
    key_id: str | None = None
    origins: tuple[str, ...] = ()

    @property
    def open(self) -> bool:
        return self.key_id is None

    def allows(self, action: str) -> bool:
        return action in ROLE_ACTIONS.get(self.role, frozenset())

    def may_use(self, collection: str) -> bool:
        return ALL in self.collections or collection in self.collections

    def can(self, action: str, collection: str | None = None) -> bool:
        return self.allows(action) and (collection is None or self.may_use(collection))

    @property
    def rate_key(self) -> str:
        return f"key:{self.key_id}"


ANONYMOUS = Principal(name="anonymous", role="admin")


@dataclass
class KeyRecord:
    id: str
    name: str
    role: str
    collections: list[str]
    hash: str
    prefix: str  # the first characters of the token, to recognise it in a list
    created_at: str
    origins: list[str] = field(default_factory=list)
    revoked_at: str | None = None

    def public_view(self) -> dict:
        return {"id": self.id, "name": self.name, "role": self.role, "collections": self.collections,
                "origins": self.origins, "prefix": self.prefix, "created_at": self.created_at,
                "revoked_at": self.revoked_at}

    def principal(self) -> Principal:
        collections = frozenset({ALL}) if self.role == "admin" else frozenset(self.collections)
        return Principal(self.name, self.role, collections, self.id, tuple(self.origins))


class KeyStore:
    """The keys file, re-read when it changes (keys created or revoked by the CLI apply at once)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._records: list[KeyRecord] = []
        self._by_hash: dict[str, KeyRecord] = {}
        self._checked = 0.0

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < 0.5:
            return
        with self._lock:
            self._checked = now
            try:
                stat = self.path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp == self._stamp and not force:
                return
            try:
                data = read_json(self.path, {"keys": []}) if stamp else {"keys": []}
                records = [KeyRecord(**item) for item in data.get("keys", [])]
            except (ValueError, TypeError, AttributeError) as exc:  # fail closed, and say why
                raise KeyFileError(f"{self.path}: unreadable keys file ({exc}); fix or restore it") from None
            self._records = records
            self._by_hash = {r.hash: r for r in records if r.revoked_at is None}
            self._stamp = stamp

    def configured(self) -> bool:
        """Once any key has been created (even if revoked since), every /v1 call needs a key."""
        self._refresh()
        return bool(self._records)

    def authenticate(self, token: str) -> Principal | None:
        self._refresh()
        if not token or len(token) > 200:
            return None
        record = self._by_hash.get(hash_token(token))
        if record is None or not secrets.compare_digest(record.hash, hash_token(token)):
            return None
        return record.principal()

    def list(self) -> list[KeyRecord]:
        self._refresh(force=True)
        return list(self._records)

    def create(self, name: str, role: str, collections: list[str], origins: list[str] | None = None
               ) -> tuple[KeyRecord, str]:
        name = name.strip()
        if not name or len(name) > 64 or any(ord(c) < 32 for c in name):
            raise KeyRequestError("a key name is 1-64 printable characters")
        if role not in ROLES:
            raise KeyRequestError(f"role must be one of {', '.join(ROLES)}")
        collections = sorted({c.strip() for c in collections if c.strip()})
        if role == "admin":
            collections = [ALL]
        if not collections:
            raise KeyRequestError("give the collections the key may use (--collections a,b or '*')")
        origins = sorted({o.strip().rstrip("/") for o in origins or [] if o.strip()})
        if role == "public" and not origins:
            raise KeyRequestError("a public (widget) key needs the browser origins it is accepted from (--origins)")
        if role == "public" and ALL in collections:
            raise KeyRequestError("a public key must name its collections")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = KeyRecord(id=uuid.uuid4().hex[:12], name=name, role=role, collections=collections,
                           hash=hash_token(token), prefix=token[:8], origins=origins,
                           created_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        with file_lock(self.path.with_name(".keys.lock")):
            records = self.list()
            if any(r.name == name and r.revoked_at is None for r in records):
                raise KeyRequestError(f"an active key named {name!r} already exists")
            self._save([*records, record])
        return record, token

    def revoke(self, name_or_id: str) -> KeyRecord:
        with file_lock(self.path.with_name(".keys.lock")):
            records = self.list()
            matches = [r for r in records if r.revoked_at is None and name_or_id in (r.id, r.name)]
            if not matches:
                raise KeyRequestError(f"no active key with id or name {name_or_id!r}")
            for record in matches:
                record.revoked_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            self._save(records)
        return matches[0]

    def _save(self, records: list[KeyRecord]) -> None:
        write_json(self.path, {"keys": [r.__dict__ for r in records]}, mode=0o600)
        self._refresh(force=True)
