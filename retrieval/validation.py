"""The one check of a question's or query's text before it reaches the engines.

`check_text` raises `TextError`, whose `kind` says what is wrong ("empty", "too_long", "invalid") so that
a caller maps it to its own errors (the service: 422 with its codes) without reading the message.
"""
from __future__ import annotations

EMPTY = "empty"
TOO_LONG = "too_long"
INVALID = "invalid"  # a NUL (the C engines would cut the text there) or a lone surrogate (not UTF-8)


class TextError(ValueError):
    """Text no engine should be given; `kind` is EMPTY, TOO_LONG or INVALID, `field` names the text."""

    def __init__(self, kind: str, field: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.field = field


def check_text(text: str, *, field: str = "text", max_chars: int | None = None) -> None:
    """Raise TextError if `text` is blank, longer than `max_chars` (when given), or holds a NUL or a lone
    surrogate (JSON can carry "\\ud800", which the embedder cannot encode as UTF-8)."""
    if not text.strip():
        raise TextError(EMPTY, field, f"{field} is empty")
    if max_chars is not None and len(text) > max_chars:
        raise TextError(TOO_LONG, field, f"{field} has {len(text)} characters; the limit is {max_chars}")
    if "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text):
        raise TextError(INVALID, field,
                        f"{field} contains characters that are not valid text (NUL or lone surrogate)")
