"""QAService in-process: input limits, and hot reload that never leaves it without an index."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index.builder import build_index
from index.snapshot import SnapshotError, current_snapshot_path
from service.errors import EmptyQuestion, QuestionTooLong, TopKOutOfRange
from service.domain.qa_service import QAService
from service.settings import SAMPLE_CORPUS, Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = "资产追回工作组2018年的会议是哪天开幕的？"


@pytest.fixture
def index_copy(sample_index: Path, tmp_path: Path) -> Path:
    """A private copy of the sample index (with its embedding cache, so rebuilds embed nothing)."""
    return Path(shutil.copytree(sample_index, tmp_path / "index"))


def test_limits_come_from_settings(sample_index: Path) -> None:
    service = QAService.load(Settings(index_dir=sample_index, max_question_chars=10, max_top_k=3))
    with pytest.raises(QuestionTooLong):
        service.ask("问" * 11)
    with pytest.raises(TopKOutOfRange):
        service.search("资产追回", top_k=4)
    with pytest.raises(EmptyQuestion):
        service.search(" ")
    assert len(service.search("资产追回", top_k=3).results) == 3


def test_reload_swaps_in_a_new_snapshot(index_copy: Path) -> None:
    service = QAService.load(Settings(index_dir=index_copy))
    before = service.health().snapshot
    build_index(SAMPLE_CORPUS, index_copy, show_progress=False)
    assert current_snapshot_path(index_copy).name != before
    health = service.reload()
    assert health.snapshot == current_snapshot_path(index_copy).name != before
    assert not service.ask(QUESTION).abstained


def test_failed_reload_keeps_serving_the_old_snapshot(index_copy: Path) -> None:
    service = QAService.load(Settings(index_dir=index_copy))
    before = service.health()
    snapshot = current_snapshot_path(index_copy)
    with (snapshot / "paragraphs.sqlite").open("ab") as fh:
        fh.write(b"damage")
    with pytest.raises(SnapshotError):
        service.reload()
    assert service.health() == before
    answer = service.ask(QUESTION)
    assert not answer.abstained and "6月6日" in "".join(answer.answer.split())
