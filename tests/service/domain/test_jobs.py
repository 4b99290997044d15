"""service.domain.jobs: of several processes sharing a data folder, one recovers the jobs left queued."""
from __future__ import annotations

from pathlib import Path

import pytest

from service.domain.collections import CollectionStore
from service.domain.jobs import JobRunner, JobStore
from service.settings import Settings

pytestmark = pytest.mark.unit


def _runner(data: Path) -> JobRunner:
    # the jobs are not run: enqueue only hands them to a worker thread, which this test never lets start
    runner = JobRunner(Settings(data_dir=data), CollectionStore(data), JobStore(data / "jobs"))
    runner.enqueue = lambda job: None  # type: ignore[method-assign]
    return runner


def test_only_one_runner_of_a_data_folder_recovers_and_a_stopped_one_hands_over(tmp_path: Path) -> None:
    CollectionStore(tmp_path).create("alpha")
    first, second = _runner(tmp_path), _runner(tmp_path)
    queued = first.create("alpha", "resync")  # left queued by a process that died
    assert [job.id for job in first.recover()] == [queued.id]
    assert second.recover() == []  # the first still serves the folder: its recovery stands
    first.stop(0)
    assert [job.id for job in second.recover()] == [queued.id]
