"""retrieval.validation: the one text check, its kinds and messages."""
from __future__ import annotations

import pytest

from retrieval.validation import EMPTY, INVALID, TOO_LONG, TextError, check_text

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "kind", "message"), [
    ("", EMPTY, "question is empty"),
    (" \n\u3000", EMPTY, "question is empty"),
    ("会议" * 6, TOO_LONG, "question has 12 characters; the limit is 10"),
    ("会议\x00开幕", INVALID, "question contains characters that are not valid text (NUL or lone surrogate)"),
    ("会议\ud800", INVALID, "question contains characters that are not valid text (NUL or lone surrogate)"),
])
def test_bad_text_is_refused_with_its_kind(text: str, kind: str, message: str) -> None:
    with pytest.raises(TextError) as raised:
        check_text(text, field="question", max_chars=10)
    assert (raised.value.kind, raised.value.field, str(raised.value)) == (kind, "question", message)
    assert isinstance(raised.value, ValueError)  # what NotesQA's callers have always caught


def test_good_text_passes_and_the_length_is_checked_only_when_asked() -> None:
    check_text("会议哪天开幕？", max_chars=7)
    check_text("长" * 10_000)
    with pytest.raises(TextError, match="^text is empty$"):
        check_text("  ")
