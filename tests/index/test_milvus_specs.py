"""Choosing the Milvus backend: its spec, the one NOTESQA_INDEX_BACKEND setting that selects both index
sides, and `notesqa index build --index-backend` against a real Milvus Lite server."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.builder import BuildError, index_backend_specs
from index.dense import DenseIndexError, MilvusDenseIndex, check_dense_spec, dense_backend
from index.keyword import KeywordIndexError, MilvusKeywordIndex, keyword_backend
from index.milvus import MilvusAddress, collection_name, parse_milvus_spec
from index.snapshot import load_snapshot


@pytest.mark.unit
def test_a_milvus_spec_names_the_engine_and_nothing_secret() -> None:
    assert parse_milvus_spec("milvus://127.0.0.1:19530") == MilvusAddress("http://127.0.0.1:19530", "")
    assert parse_milvus_spec("milvus://milvus.intra") == MilvusAddress("http://milvus.intra:19530", "")
    assert parse_milvus_spec("milvus+https://db.example:443/notes") == MilvusAddress("https://db.example:443", "notes")
    for spec, reason in (("milvus://", "name the Milvus host"), ("milvus://h:port", "not a number"),
                         ("milvus://root:Milvus@h:19530", "NOTESQA_MILVUS_TOKEN"), ("milvus://h:1?ef=9", "no parameters")):
        with pytest.raises(DenseIndexError, match=reason):
            dense_backend(spec)
        with pytest.raises(KeywordIndexError, match=reason):
            keyword_backend(spec)
    assert dense_backend("milvus://h:1") is MilvusDenseIndex and keyword_backend("milvus://h:1") is MilvusKeywordIndex
    with pytest.raises(KeywordIndexError, match=r"unknown keyword index.*'bm25s'.*'milvus://host:port'"):
        keyword_backend("elastic://h:9200")


@pytest.mark.unit
def test_collections_are_named_after_the_snapshot_folder() -> None:
    assert collection_name("20261204T184130-ab12cd34") == "notesqa_20261204T184130_ab12cd34"


@pytest.mark.unit
def test_a_build_refuses_an_engine_that_does_not_answer_before_embedding() -> None:
    with pytest.raises(DenseIndexError, match="cannot reach Milvus at http://127.0.0.1:9"):
        check_dense_spec("milvus://127.0.0.1:9", 384)  # the discard port: nothing listens


@pytest.mark.unit
def test_one_setting_selects_both_sides() -> None:
    from service.settings import Settings

    assert index_backend_specs(None) == (None, None)  # the folder's current backends
    assert index_backend_specs(None, "faiss:HNSW32,Flat") == ("faiss:HNSW32,Flat", None)
    assert index_backend_specs("embedded") == ("faiss-flat", "bm25s")
    assert index_backend_specs("embedded", "faiss:HNSW32,Flat") == ("faiss:HNSW32,Flat", "bm25s")
    assert index_backend_specs("milvus://h:19530") == ("milvus://h:19530", "milvus://h:19530")
    with pytest.raises(BuildError, match="leave the dense index unset"):
        index_backend_specs("milvus://h:19530", "faiss-flat")
    with pytest.raises(BuildError, match="unknown index backend"):
        index_backend_specs("elastic://h:9200")
    assert Settings(index_backend=" milvus://h:19530 ").index_specs == ("milvus://h:19530", "milvus://h:19530")
    with pytest.raises(ValueError, match="unknown index backend"):
        Settings(index_backend="qdrant://h:6333")


@pytest.mark.unit
def test_the_keyword_index_is_a_setting_of_its_own_within_the_embedded_backend() -> None:
    from service.settings import Settings

    half = "bm25s?scores=float16"
    assert index_backend_specs(None, None, half) == (None, half)
    assert index_backend_specs("embedded", None, half) == ("faiss-flat", half)
    assert Settings(keyword_index=half, dense_index="faiss:IVF4096,SQ8").index_specs == ("faiss:IVF4096,SQ8", half)
    with pytest.raises(BuildError, match="leave the keyword index unset"):
        index_backend_specs("milvus://h:19530", None, half)
    with pytest.raises(BuildError, match="keeps the keyword index in the snapshot folder"):
        index_backend_specs("embedded", None, "milvus://h:19530")
    with pytest.raises(ValueError, match="'scores=int8' is not a bm25s parameter"):
        Settings(keyword_index="bm25s?scores=int8")


@pytest.mark.integration
def test_index_build_takes_the_backend_from_the_option_or_the_environment(milvus_server: str, tiny_corpus: Path,
                                                                           tmp_path: Path, monkeypatch) -> None:
    from service.cli.main import app

    runner = CliRunner()
    index_dir = tmp_path / "index"
    monkeypatch.delenv("NOTESQA_INDEX_BACKEND", raising=False)
    result = runner.invoke(app, ["index", "build", "--corpus", str(tiny_corpus), "--index", str(index_dir),
                                 "--index-backend", milvus_server, "--json"])
    assert result.exit_code == 0, result.output
    first = load_snapshot(index_dir)
    assert first.manifest["dense"]["spec"] == first.manifest["keyword"]["spec"] == milvus_server
    # a rebuild that names no backend (a background job) keeps the folder's Milvus backend
    assert runner.invoke(app, ["index", "build", "--corpus", str(tiny_corpus), "--index", str(index_dir)]).exit_code == 0
    assert load_snapshot(index_dir).manifest["keyword"]["spec"] == milvus_server
    # NOTESQA_INDEX_BACKEND=embedded moves it back into the folder
    monkeypatch.setenv("NOTESQA_INDEX_BACKEND", "embedded")
    assert runner.invoke(app, ["index", "build", "--corpus", str(tiny_corpus), "--index", str(index_dir)]).exit_code == 0
    manifest = load_snapshot(index_dir).manifest
    assert (manifest["dense"]["spec"], manifest["keyword"]["spec"]) == ("faiss-flat", "bm25s")
    monkeypatch.setenv("NOTESQA_INDEX_BACKEND", "milvus://127.0.0.1:9")
    result = runner.invoke(app, ["index", "build", "--corpus", str(tiny_corpus), "--index", str(index_dir)])
    assert result.exit_code != 0 and "cannot reach Milvus" in result.output and "Traceback" not in result.output
    assert load_snapshot(index_dir).manifest["keyword"]["spec"] == "bm25s"  # the last good snapshot still serves
