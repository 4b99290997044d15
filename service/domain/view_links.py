"""Signed view links: a cited document opens in the source viewer without an API key.

A widget runs with a public key, which may only ask; the viewer page it links to runs on
NotesQA's own origin and carries no key at all. So when keys are required, each citation of an
answer comes with `view_token`: an HMAC over (collection, doc_id, expiry) that opens
GET /v1/documents/{doc_id} (and that document's paragraphs) read-only until it expires, and
nothing else. The secret lives in <data_dir>/view_links.key (mode 0600), made on first use and
shared by every server process on that data folder.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from pathlib import Path

MAC_BYTES = 18  # 144 bits: far beyond guessing, short enough for a URL
EXPIRY = re.compile(r"[0-9a-f]{1,16}")  # the expiry as sign() writes it: at most 64 bits of lowercase hex


class ViewLinks:
    def __init__(self, secret_path: Path, ttl_s: int) -> None:
        self.secret_path = secret_path
        self.ttl_s = ttl_s
        self._secret: bytes | None = None
        self._lock = threading.Lock()

    def _key(self) -> bytes:
        with self._lock:
            if self._secret is None:
                self._secret = _read_or_create_secret(self.secret_path)
            return self._secret

    def _mac(self, collection: str, doc_id: str, expires: int) -> bytes:
        message = f"{collection}\x00{doc_id}\x00{expires}".encode("utf-8", "surrogatepass")
        return hmac.new(self._key(), message, hashlib.sha256).digest()[:MAC_BYTES]

    def sign(self, collection: str, doc_id: str, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self.ttl_s)
        mac = base64.urlsafe_b64encode(self._mac(collection, doc_id, expires)).decode("ascii")
        return f"{expires:x}.{mac}"

    def verify(self, token: str, collection: str, doc_id: str, now: float | None = None) -> bool:
        """True if `token` was signed here for this document of this collection and has not expired."""
        expiry, _, mac = token.partition(".")
        if not EXPIRY.fullmatch(expiry) or len(mac) > 4 * MAC_BYTES:  # bounded parsing of what a caller sent
            return False
        try:
            expires = int(expiry, 16)
            given = base64.urlsafe_b64decode(mac.encode("ascii"))
        except (ValueError, binascii.Error, UnicodeEncodeError):
            return False
        if expires < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(given, self._mac(collection, doc_id, expires))


def _read_or_create_secret(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # another process made it first: use theirs
    else:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
            out.flush()
            os.fsync(out.fileno())
    for _ in range(50):  # a process that just created it may still be writing
        secret = path.read_bytes()
        if len(secret) >= 32:
            return secret
        time.sleep(0.01)
    raise RuntimeError(f"{path} holds no usable secret: delete it and restart (old view links stop working)")
