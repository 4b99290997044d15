"""Faults: damaged snapshots, a full disk, and SIGKILL in the middle of an update."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

import index.builder
import index.snapshot
import service.domain.jobs
import service.domain.storage
from index.snapshot import current_snapshot_path, load_snapshot
from service.app import create_app
from service.local_server import LocalServer, free_port
from service.domain.registry import CollectionLoadError
from tests.service.operations.conftest import PANDA, RIVER, ops_settings, upload, wait_job

pytestmark = pytest.mark.integration

NOTESQA = Path(sys.executable).parent / "notesqa"


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def search_docs(client, query: str, collection: str) -> list[str]:
    response = client.post("/v1/search", json={"query": query, "collection": collection})
    assert response.status_code == 200, response.text
    return [r["doc_id"] for r in response.json()["results"]]


def finished_job(server: LocalServer, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (job := httpx.get(f"{server.url}/v1/jobs/{job_id}").json())["state"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)
    return job


def snapshot_leftovers(index_dir: Path) -> list[str]:
    return [p.name for p in (index_dir / "snapshots").iterdir() if p.name.startswith(".tmp-")]


# --- damaged snapshots ------------------------------------------------------------------------

def test_a_damaged_new_snapshot_fails_the_job_and_the_last_good_one_keeps_serving(
        make_client, data_copy: Path, tiny_default_index: Path, monkeypatch) -> None:
    client = make_client(data_dir=data_copy)
    index_dir = data_copy / "collections" / "alpha" / "index"
    good = current_snapshot_path(index_dir).name
    real_write = index.builder.write_snapshot

    def write_then_truncate(*args, **kwargs):
        path = real_write(*args, **kwargs)
        paragraphs = path / "paragraphs.sqlite"
        paragraphs.write_bytes(paragraphs.read_bytes()[:40])  # a torn write the checksums must catch
        return path

    monkeypatch.setattr(index.builder, "write_snapshot", write_then_truncate)
    job = wait_job(client, upload(client, "alpha", "river.txt", RIVER)["job"]["id"])
    assert job["state"] == "failed"
    assert "checksum mismatch" in job["error"] and "paragraphs.sqlite" in job["error"]
    assert "previous snapshot stays in service" in job["error"]
    assert current_snapshot_path(index_dir).name == good  # the pointer went back, for restarts too
    assert search_docs(client, "大熊猫", "alpha")[0] == "panda"
    assert "river" not in search_docs(client, "长江", "alpha")
    assert client.get("/readyz").status_code == 200

    monkeypatch.setattr(index.builder, "write_snapshot", real_write)
    retried = client.post(f"/v1/jobs/{job['id']}/retry")
    assert retried.status_code == 202, retried.text
    assert wait_job(client, job["id"])["state"] == "succeeded"
    assert "river" in search_docs(client, "长江", "alpha")
    assert client.post(f"/v1/jobs/{job['id']}/retry").json()["code"] == "job_not_retryable"


def test_a_damaged_snapshot_built_elsewhere_is_not_swapped_in(make_client, data_copy: Path) -> None:
    client = make_client(data_dir=data_copy)
    index_dir = data_copy / "collections" / "alpha" / "index"
    good = current_snapshot_path(index_dir).name
    sources = data_copy / "collections" / "alpha" / "sources"
    (sources / "river.txt").write_text(RIVER, encoding="utf-8")
    index.builder.build_index(sources, index_dir, show_progress=False)  # e.g. another process
    damaged = current_snapshot_path(index_dir)
    with (damaged / "documents.json").open("ab") as fh:
        fh.write(b" ")
    registry = client.app.state.operations.registry
    registry.check_for_changes()  # what the watcher does every few seconds
    status = client.get("/v1/collections/alpha").json()
    assert status["snapshot"] == good and "failed to load" in status["error"]
    assert search_docs(client, "大熊猫", "alpha")[0] == "panda"
    assert "river" not in search_docs(client, "长江", "alpha")


def test_start_up_refuses_a_damaged_collection_naming_the_file(data_copy: Path, tiny_default_index: Path) -> None:
    snapshot = current_snapshot_path(data_copy / "collections" / "beta" / "index")
    (snapshot / "dense.faiss").write_bytes((snapshot / "dense.faiss").read_bytes()[:100])  # truncated
    app = create_app(ops_settings(tiny_default_index, data_copy))
    with pytest.raises(CollectionLoadError) as raised:
        with TestClient(app):
            pass
    assert "beta" in str(raised.value) and str(snapshot / "dense.faiss") in str(raised.value)

    result = subprocess.run([str(NOTESQA), "serve", "--index", str(tiny_default_index), "--data-dir",
                             str(data_copy), "--port", str(free_port())],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert str(snapshot / "dense.faiss") in result.stderr and "checksum mismatch" in result.stderr
    assert "Traceback" not in result.stderr


# --- a full disk ------------------------------------------------------------------------------

def test_a_full_disk_during_a_build_fails_the_job_and_keeps_the_old_snapshot(
        make_client, data_copy: Path, monkeypatch) -> None:
    client = make_client(data_dir=data_copy)
    index_dir = data_copy / "collections" / "alpha" / "index"
    good = current_snapshot_path(index_dir).name
    monkeypatch.setattr(index.snapshot.faiss, "write_index", enospc)
    job = wait_job(client, upload(client, "alpha", "river.txt", RIVER)["job"]["id"])
    assert job["state"] == "failed"
    assert job["error"].startswith("no space left on device")
    assert "previous snapshot stays in service" in job["error"]
    assert current_snapshot_path(index_dir).name == good
    assert snapshot_leftovers(index_dir) == []
    load_snapshot(index_dir)  # still complete
    assert search_docs(client, "大熊猫", "alpha")[0] == "panda"
    # the upload itself was kept: once there is space, a retry indexes it
    assert "river" in [d["doc_id"] for d in client.get("/v1/collections/alpha/documents").json()["documents"]]
    monkeypatch.undo()
    assert client.post(f"/v1/jobs/{job['id']}/retry").status_code == 202
    assert wait_job(client, job["id"])["state"] == "succeeded"
    assert "river" in search_docs(client, "长江", "alpha")


def test_a_job_whose_state_cannot_be_written_still_runs_and_can_be_retried(make_client, data_copy: Path,
                                                                            monkeypatch) -> None:
    """Issue 13 item 5: the worker's job-state writes hit ENOSPC; the job still runs, its state is seen."""
    client = make_client(data_dir=data_copy)
    jobs_dir = data_copy / "jobs"
    real_write = service.domain.jobs.write_json

    def job_states_fail(path, *args, **kwargs):
        if Path(path).parent == jobs_dir:
            enospc()
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(service.domain.jobs, "write_json", job_states_fail)
    deleted = client.delete("/v1/collections/beta/documents/qingluan")
    assert deleted.status_code == 202, deleted.text
    job = wait_job(client, deleted.json()["job"]["id"])
    assert (job["state"], job["attempts"]) == ("succeeded", 1)
    assert "qingluan" not in search_docs(client, "青鸾项目预算", "beta")
    assert not (jobs_dir / f"{job['id']}.json").exists()  # nothing could be written, nothing was lost

    # the build fails too: the job is seen failed, and a retry is accepted
    monkeypatch.setattr(index.snapshot.faiss, "write_index", enospc)
    failed = wait_job(client, upload(client, "beta", "panda.md", PANDA)["job"]["id"])
    assert failed["state"] == "failed" and failed["error"].startswith("no space left on device")
    assert failed["id"] in {j["id"] for j in client.get("/v1/jobs", params={"state": "failed"}).json()["jobs"]}
    monkeypatch.undo()
    assert client.post(f"/v1/jobs/{failed['id']}/retry").status_code == 202
    assert wait_job(client, failed["id"])["state"] == "succeeded"
    assert search_docs(client, "大熊猫", "beta")[0] == "panda"
    # with space again, the states kept in memory reach the disk
    on_disk = {j: json.loads((jobs_dir / f"{j}.json").read_text(encoding="utf-8"))["state"]
               for j in (job["id"], failed["id"])}
    assert on_disk == {job["id"]: "succeeded", failed["id"]: "succeeded"}


def test_a_full_disk_during_an_upload_answers_507_and_changes_nothing(make_client, data_copy: Path,
                                                                     monkeypatch) -> None:
    client = make_client(data_dir=data_copy)
    sources = data_copy / "collections" / "alpha" / "sources"
    before = {p.name: p.read_bytes() for p in sources.iterdir()}
    jobs_before = len(client.get("/v1/jobs").json()["jobs"])
    monkeypatch.setattr(service.domain.storage, "_write_all", enospc)
    response = client.post("/v1/collections/alpha/documents", files={"file": ("river.txt", RIVER.encode())})
    assert response.status_code == 507 and response.json()["code"] == "insufficient_storage"
    replaced = client.put("/v1/collections/alpha/documents/panda", files={"file": ("panda.md", b"new text")})
    assert replaced.status_code == 507
    assert {p.name: p.read_bytes() for p in sources.iterdir()} == before  # no partial or temporary file
    monkeypatch.undo()
    assert len(client.get("/v1/jobs").json()["jobs"]) == jobs_before


# --- SIGTERM in the middle of a build ----------------------------------------------------------

@pytest.mark.slow
def test_sigterm_during_a_build_stops_the_server_and_the_job_runs_after_restart(tiny_default_index: Path,
                                                                                tmp_path: Path) -> None:
    env = {"NOTESQA_DATA_DIR": str(tmp_path / "data"), "NOTESQA_WATCH_INTERVAL_S": "0"}
    busy = LocalServer(tiny_default_index, env={**env, "NOTESQA_DEBUG_JOB_DELAY_S": "300"},
                       log_path=tmp_path / "first.log")
    with busy:
        assert httpx.post(f"{busy.url}/v1/collections", json={"name": "field"}).status_code == 201
        accepted = httpx.post(f"{busy.url}/v1/collections/field/documents",
                              files={"file": ("panda.md", PANDA.encode())}, timeout=30)
        job_id = accepted.json()["job"]["id"]
        deadline = time.monotonic() + 30
        while httpx.get(f"{busy.url}/v1/jobs/{job_id}").json()["stage"] != "embedding":
            assert time.monotonic() < deadline, busy.log()
            time.sleep(0.05)
        busy.process.send_signal(signal.SIGTERM)
        assert busy.process.wait(timeout=30) is not None  # not the 300 s the build would have taken
    saved = json.loads((tmp_path / "data" / "jobs" / f"{job_id}.json").read_text(encoding="utf-8"))
    assert saved["state"] == "queued" and "interrupted" in saved["note"]
    with LocalServer(tiny_default_index, env=env, log_path=tmp_path / "second.log") as server:
        job = finished_job(server, job_id)
        assert job["state"] == "succeeded", job
        found = httpx.post(f"{server.url}/v1/search", json={"query": "大熊猫", "collection": "field"}).json()
        assert found["results"][0]["doc_id"] == "panda"


# --- SIGKILL in the middle of an update -------------------------------------------------------

@pytest.mark.slow
def test_sigkill_during_an_update_loses_nothing(tiny_default_index: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"NOTESQA_DATA_DIR": str(data_dir), "NOTESQA_WATCH_INTERVAL_S": "0"}
    river = tmp_path / "river.txt"
    river.write_text(RIVER, encoding="utf-8")
    for args in (["collection", "create", "field"], ["documents", "add", str(river), "-c", "field"]):
        done = subprocess.run([str(NOTESQA), *args], capture_output=True, text=True, env={**os.environ, **env},
                              timeout=120)
        assert done.returncode == 0, done.stderr
    index_dir = data_dir / "collections" / "field" / "index"
    good = current_snapshot_path(index_dir).name

    # 1. a server whose builds pause mid-way; upload, and kill it while the job runs
    paused = LocalServer(tiny_default_index, env={**env, "NOTESQA_DEBUG_JOB_DELAY_S": "120"},
                         log_path=tmp_path / "first.log")
    with paused:
        accepted = httpx.post(f"{paused.url}/v1/collections/field/documents",
                              files={"file": ("panda.md", PANDA.encode())}, timeout=30)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job"]["id"]
        deadline = time.monotonic() + 30
        while httpx.get(f"{paused.url}/v1/jobs/{job_id}").json()["stage"] != "embedding":
            assert time.monotonic() < deadline, paused.log()
            time.sleep(0.05)
        os.kill(paused.pid, signal.SIGKILL)
        paused.process.wait(timeout=10)
    # the upload was stored before it was acknowledged; the served snapshot is the complete old one
    stored = data_dir / "collections" / "field" / "sources" / "panda.txt"
    assert stored.read_text(encoding="utf-8") == PANDA
    assert current_snapshot_path(index_dir).name == good
    load_snapshot(index_dir)

    # 2. restart: the interrupted job runs again and its snapshot is swapped in
    with LocalServer(tiny_default_index, env=env, log_path=tmp_path / "second.log") as server:
        job = finished_job(server, job_id)
        assert job["state"] == "succeeded", job
        assert job["attempts"] == 2 and "interrupted" in job["note"]
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        found = httpx.post(f"{server.url}/v1/search", json={"query": "大熊猫", "collection": "field"}).json()
        assert found["results"][0]["doc_id"] == "panda"
        documents = httpx.get(f"{server.url}/v1/collections/field/documents").json()["documents"]
        assert {d["doc_id"]: d["indexed"] for d in documents} == {"river": True, "panda": True}
    assert current_snapshot_path(index_dir).name != good
    snapshot = load_snapshot(index_dir)
    assert set(snapshot.documents) == {"river", "panda"}
    assert snapshot_leftovers(index_dir) == []


def test_builds_embed_with_an_embedder_and_a_lock_of_their_own(make_client, data_copy: Path) -> None:
    """Issue 13 item 1: a build never holds the embedder or the lock that questions wait on."""
    from index.embedders import create_embedder

    client = make_client(data_dir=data_copy)
    ops = client.app.state.operations
    build = ops.runner._build_embedder()
    assert build.lock is not ops.registry.lock
    assert build.inner is not create_embedder(ops.settings.embedder)
    text = ["三峡大坝位于湖北省宜昌市。"]
    assert np.allclose(build.encode_document(text), create_embedder(ops.settings.embedder).encode_document(text))
