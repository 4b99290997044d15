"""Conversations the server keeps for a bounded time, so a client may send `conversation_id` instead of
the whole history.

Kept in this process's memory only (a restart or another replica starts afresh: a client that needs
that sends `history`), for `conversation_ttl_s` after the last turn, at most `max_conversations` at
once (the least recently used go first) and `conversation_max_turns` turns each. A conversation belongs
to the key and collection that started it: under another key or collection its id is unknown.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from cachetools import TTLCache

from retrieval.conversation import Turn


@dataclass
class _Conversation:
    owner: tuple[str, str]
    turns: list[Turn]


class ConversationStore:
    def __init__(self, ttl_s: float, max_conversations: int, max_turns: int) -> None:
        self._cache: TTLCache[str, _Conversation] = TTLCache(maxsize=max_conversations, ttl=ttl_s)
        self._max_turns = max_turns
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def turns(self, conversation_id: str | None, owner: tuple[str, str]) -> list[Turn]:
        """The turns so far (empty for an unknown, expired or someone else's conversation)."""
        if conversation_id is None:
            return []
        with self._lock:
            found = self._cache.get(conversation_id)
            return list(found.turns) if found is not None and found.owner == owner else []

    def record(self, conversation_id: str | None, owner: tuple[str, str], turn: Turn) -> str:
        """Add `turn` and return the conversation's id (a new one for an unknown id)."""
        with self._lock:
            found = self._cache.get(conversation_id) if conversation_id else None
            if found is None or found.owner != owner:
                conversation_id, found = uuid.uuid4().hex, _Conversation(owner, [])
            found.turns = (found.turns + [turn])[-self._max_turns:]
            self._cache[conversation_id] = found  # re-setting restarts its time to live
            return conversation_id
