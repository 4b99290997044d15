"""Collections and live document updates, in-process (TestClient) with the real embedder on tiny notes."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from index.snapshot import current_snapshot_path, load_snapshot
from tests.service.operations.conftest import PANDA, RIVER, SECRET, create_indexed, upload, wait_job

pytestmark = pytest.mark.integration

NOTESQA = Path(sys.executable).parent / "notesqa"


def squeeze(text: str) -> str:
    return "".join(text.split())


def search_docs(client, query: str, collection: str | None = None, headers: dict | None = None) -> list[str]:
    body = {"query": query, "top_k": 10, **({"collection": collection} if collection else {})}
    response = client.post("/v1/search", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return [r["doc_id"] for r in response.json()["results"]]


def test_upload_index_and_ask_in_a_collection(make_client) -> None:
    client = make_client()
    created = client.post("/v1/collections", json={"name": "notes", "description": "animals"})
    assert created.status_code == 201 and created.json()["state"] == "empty"
    assert client.post("/v1/ask", json={"question": "大熊猫生活在哪里", "collection": "notes"}).json()["code"] \
        == "collection_empty"
    accepted = upload(client, "notes", "panda.md", PANDA, title="熊猫")
    assert accepted["job"]["state"] in ("queued", "running") and accepted["document"]["doc_id"] == "panda"
    job = wait_job(client, accepted["job"]["id"])
    assert job["state"] == "succeeded" and job["progress"] == 1.0 and job["error"] is None
    assert job["report"]["documents"] == 1 and job["report"]["embedded"] > 0

    answer = client.post("/v1/ask", json={"question": "大熊猫主要生活在哪里？", "collection": "notes"}).json()
    assert not answer["abstained"] and "四川" in answer["answer"]
    assert {c["doc_id"] for c in answer["citations"]} == {"panda"}
    assert {c["title"] for c in answer["citations"]} == {"熊猫"}
    # the default collection is the index folder, as before, and knows nothing of the new note
    assert "panda" not in search_docs(client, "大熊猫")
    default = client.post("/v1/ask", json={"question": "工作组会议哪天开幕？"}).json()
    assert not default["abstained"] and "6月6日" in squeeze(default["answer"])
    listed = client.get("/v1/collections/notes/documents").json()["documents"]
    assert [(d["doc_id"], d["format"], d["indexed"], d["title"]) for d in listed] == [("panda", "md", True, "熊猫")]
    names = {c["name"]: c for c in client.get("/v1/collections").json()["collections"]}
    assert names["default"]["default"] and names["notes"]["state"] == "ready" and names["notes"]["documents"] == 1
    assert client.get("/v1/documents", params={"collection": "notes"}).json()["documents"][0]["doc_id"] == "panda"


def test_replace_embeds_only_changed_paragraphs_and_delete_removes(make_client) -> None:
    client = make_client()
    create_indexed(client, "notes", {"panda.md": PANDA, "river.txt": RIVER})
    changed = PANDA.replace("2016年", "2016年9月")
    response = client.put("/v1/collections/notes/documents/panda", files={"file": ("panda.md", changed.encode())})
    assert response.status_code == 202, response.text
    job = wait_job(client, response.json()["job"]["id"])
    assert job["state"] == "succeeded" and job["action"] == "replace"
    assert job["report"]["embedded"] == 1  # the one changed paragraph; the rest came from the cache
    assert job["report"]["cached"] >= 3
    hits = client.post("/v1/search", json={"query": "受威胁等级", "collection": "notes", "top_k": 1}).json()
    assert "2016年9月" in hits["results"][0]["text"]

    deleted = client.delete("/v1/collections/notes/documents/river")
    assert deleted.status_code == 202
    assert wait_job(client, deleted.json()["job"]["id"])["state"] == "succeeded"
    assert "river" not in search_docs(client, "长江三峡大坝", "notes")
    assert [d["doc_id"] for d in client.get("/v1/collections/notes/documents").json()["documents"]] == ["panda"]
    assert client.delete("/v1/collections/notes/documents/river").json()["code"] == "document_not_found"
    assert client.put("/v1/collections/notes/documents/river",
                      files={"file": ("river.txt", RIVER.encode())}).json()["code"] == "document_not_found"
    assert client.post("/v1/collections/notes/documents",
                       files={"file": ("panda.md", PANDA.encode())}).json()["code"] == "document_exists"

    last = client.delete("/v1/collections/notes/documents/panda")
    assert wait_job(client, last.json()["job"]["id"])["state"] == "succeeded"
    assert client.get("/v1/collections/notes").json()["state"] == "empty"
    assert client.post("/v1/search", json={"query": "熊猫", "collection": "notes"}).status_code == 409


def _docx(paragraphs: list[str], heading: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "面积", "约2.4万平方公里"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF with Helvetica text (pypdf reads text back; it does not write it)."""
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) Tj T*" for line in lines) + " ET"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               "/Resources << /Font << /F1 5 0 R >> >> >>",
               f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_docx_pdf_and_jsonl_uploads(make_client, tmp_path: Path) -> None:
    client = make_client()
    assert client.post("/v1/collections", json={"name": "mixed"}).status_code == 201
    upload(client, "mixed", "lake.docx", _docx(["青海湖是中国最大的内陆咸水湖，位于青海省东北部。"], "青海湖笔记"))
    upload(client, "mixed", "glacier.pdf",
           _pdf(["The Yulong glacier lies on Jade Dragon Snow Mountain near Lijiang.", "It is retreating."]))
    records = [{"doc_id": "tea", "title": "茶叶笔记", "text": "龙井茶产于浙江省杭州市西湖一带。"},
               {"doc_id": "silk", "title": "丝绸笔记", "text": "苏州的宋锦是中国传统丝织品之一。"}]
    last = upload(client, "mixed", "bulk.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in records))
    assert last["document"]["records"] == 2
    assert wait_job(client, last["job"]["id"])["state"] == "succeeded"
    time.sleep(0.2)
    for job in client.get("/v1/jobs", params={"collection": "mixed"}).json()["jobs"]:
        assert wait_job(client, job["id"])["state"] == "succeeded"
    stored = {d["doc_id"]: d for d in client.get("/v1/collections/mixed/documents").json()["documents"]}
    assert {k: (v["format"], v["indexed"]) for k, v in stored.items()} == {
        "lake": ("docx", True), "glacier": ("pdf", True), "bulk": ("jsonl", True)}
    assert search_docs(client, "青海湖在哪里", "mixed")[0] == "lake"
    assert search_docs(client, "Yulong glacier Lijiang", "mixed")[0] == "glacier"
    assert search_docs(client, "龙井茶产地", "mixed")[0] == "tea"
    detail = client.get("/v1/documents/lake", params={"collection": "mixed"}).json()
    assert any(p["kind"] == "heading" and "青海湖笔记" in p["text"] for p in detail["paragraphs"])
    # the original upload is kept next to the text extracted from it
    folder = Path(client.app.state.operations.store.folder("mixed"))
    assert (folder / "originals" / "lake.docx").read_bytes()[:2] == b"PK"
    assert (folder / "originals" / "glacier.pdf").read_bytes().startswith(b"%PDF")


def test_queries_use_the_old_snapshot_until_the_new_one_is_complete(make_client, monkeypatch) -> None:
    client = make_client()
    create_indexed(client, "notes", {"panda.md": PANDA})
    index_dir = client.app.state.operations.store.index_dir("notes")
    before = current_snapshot_path(index_dir).name
    monkeypatch.setenv("NOTESQA_DEBUG_JOB_DELAY_S", "1.5")  # the build pauses while embedding
    job = upload(client, "notes", "river.txt", RIVER)["job"]
    deadline = time.monotonic() + 10
    while client.get(f"/v1/jobs/{job['id']}").json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    seen = []
    while (state := client.get(f"/v1/jobs/{job['id']}").json())["state"] == "running":
        pointer = current_snapshot_path(index_dir).name
        response = client.post("/v1/search", json={"query": "长江", "collection": "notes"})
        assert response.status_code == 200, response.text
        if state["stage"] in ("starting", "loading", "embedding"):  # the new snapshot is not written yet
            seen.append([r["doc_id"] for r in response.json()["results"]])
            assert pointer == before
    assert seen and all("river" not in docs for docs in seen)
    assert wait_job(client, job["id"])["state"] == "succeeded"
    assert "river" in search_docs(client, "长江", "notes")
    assert current_snapshot_path(index_dir).name != before
    load_snapshot(index_dir)  # complete, checksums verified


def test_jobs_of_one_collection_run_one_at_a_time(make_client, monkeypatch) -> None:
    client = make_client()
    create_indexed(client, "notes", {"panda.md": PANDA})
    runner = client.app.state.operations.runner
    active: list[int] = []
    peak = [0]
    original = runner._build

    def counting_build(*args, **kwargs):
        active.append(1)
        peak[0] = max(peak[0], len(active))
        try:
            time.sleep(0.2)
            return original(*args, **kwargs)
        finally:
            active.pop()

    monkeypatch.setattr(runner, "_build", counting_build)
    jobs = [upload(client, "notes", f"n{i}.txt", f"# 笔记{i}\n\n第{i}号笔记记载了编号为{i}的观测站的海拔高度。\n")["job"]
            for i in range(4)]
    finished = [wait_job(client, j["id"]) for j in jobs]
    assert all(j["state"] == "succeeded" for j in finished)
    assert peak[0] == 1
    listed = client.get("/v1/collections/notes/documents").json()["documents"]
    assert all(d["indexed"] for d in listed) and len(listed) == 5


def test_unknown_jobs_and_collections(make_client) -> None:
    client = make_client()
    assert client.get("/v1/jobs/0123456789abcdef").json()["code"] == "job_not_found"
    assert client.get("/v1/jobs/..%2F..%2Fkeys").status_code == 404
    assert client.post("/v1/ask", json={"question": "问题", "collection": "nope"}).json()["code"] \
        == "collection_not_found"
    assert client.get("/v1/collections/nope/documents").json()["code"] == "collection_not_found"
    assert client.post("/v1/collections", json={"name": "default"}).status_code == 409
    assert client.post("/v1/collections/default/documents",
                       files={"file": ("a.txt", b"text")}).json()["code"] == "collection_read_only"
    client.post("/v1/collections", json={"name": "twice"})
    assert client.post("/v1/collections", json={"name": "twice"}).json()["code"] == "collection_exists"


@pytest.mark.slow
def test_cli_manages_documents_and_a_running_app_picks_up_its_snapshots(make_client, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    client = make_client(data_dir=data_dir, watch_interval_s=0.2)
    env = {**os.environ, "NOTESQA_DATA_DIR": str(data_dir)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(NOTESQA), *args], capture_output=True, text=True, env=env, timeout=120)

    assert cli("collection", "create", "field").returncode == 0
    (tmp_path / "river.txt").write_text(RIVER, encoding="utf-8")
    (tmp_path / "secret.md").write_text(SECRET, encoding="utf-8")
    added = cli("documents", "add", str(tmp_path / "river.txt"), "--collection", "field", "--json")
    assert added.returncode == 0, added.stderr
    job = json.loads(added.stdout)["job"]
    assert job["state"] == "succeeded"
    shown = cli("jobs", "show", job["id"])
    assert shown.returncode == 0 and "succeeded" in shown.stdout
    deadline = time.monotonic() + 15
    while client.get("/v1/collections/field").status_code != 200 or \
            client.get("/v1/collections/field").json()["state"] != "ready":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert search_docs(client, "三峡大坝", "field")[0] == "river"
    assert cli("documents", "add", str(tmp_path / "secret.md"), "-c", "field").returncode == 0
    assert cli("documents", "replace", "secret", str(tmp_path / "river.txt"), "-c", "field").returncode == 0
    assert cli("documents", "delete", "river", "-c", "field").returncode == 0
    listed = cli("documents", "list", "-c", "field", "--json")
    assert [d["doc_id"] for d in json.loads(listed.stdout)["documents"]] == ["secret"]
    traversal = cli("documents", "add", str(tmp_path / "river.txt"), "-c", "field", "--doc-id", "../x")
    assert traversal.returncode == 2 and "document id" in traversal.stderr
    assert cli("collection", "list").stdout.startswith("field: 1 documents")
    deadline = time.monotonic() + 15
    while set(search_docs(client, "三峡大坝", "field")) != {"secret"}:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_concurrent_upload_and_queries_never_fail(make_client) -> None:
    client = make_client()
    create_indexed(client, "notes", {"panda.md": PANDA})
    errors: list[str] = []
    stop = threading.Event()

    def ask_loop() -> None:
        while not stop.is_set():
            response = client.post("/v1/ask", json={"question": "大熊猫生活在哪里", "collection": "notes"})
            if response.status_code != 200:
                errors.append(response.text)

    workers = [threading.Thread(target=ask_loop) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        for i, text in enumerate((RIVER, SECRET)):
            job = upload(client, "notes", f"extra{i}.txt", text)["job"]
            assert wait_job(client, job["id"])["state"] == "succeeded"
        deleted = client.delete("/v1/collections/notes/documents/extra0").json()["job"]
        assert wait_job(client, deleted["id"])["state"] == "succeeded"
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert errors == []
