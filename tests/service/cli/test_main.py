"""The installed `notesqa` console script, run as a user would run it."""
from __future__ import annotations

import json
import re
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from service.local_server import LocalServer, free_port

pytestmark = pytest.mark.integration

NOTESQA = Path(sys.executable).parent / "notesqa"
SAMPLE_DEV = Path(__file__).resolve().parents[3] / "evaluation" / "datasets" / "sample_dev.jsonl"
QUESTION = "资产追回工作组2018年的会议是哪天开幕的？"


def notesqa(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NOTESQA), *map(str, args)], capture_output=True, text=True, encoding="utf-8",
                          timeout=timeout)


def squeeze(text: str) -> str:
    return "".join(text.split())


@pytest.fixture(scope="module")
def mixed_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four notes: UTF-8, GB18030, UTF-16 with BOM, and binary garbage that must be skipped."""
    corpus = tmp_path_factory.mktemp("mixed-corpus")
    (corpus / "panda.md").write_text(
        "# 熊猫保护笔记\n\n大熊猫主要生活在四川、陕西和甘肃的山区竹林中。\n\n"
        "2016年，世界自然保护联盟将大熊猫的受威胁等级从濒危下调为易危。\n", encoding="utf-8")
    (corpus / "changjiang.txt").write_bytes(
        "长江笔记\n\n长江全长约6300公里，是中国第一长河，流经青海、西藏、四川、云南、重庆、湖北、湖南、江西、安徽、"
        "江苏和上海。\n\n三峡大坝位于湖北省宜昌市三斗坪镇，是世界上装机容量最大的水电站。\n".encode("gb18030"))
    (corpus / "huanghe.txt").write_bytes(
        "黄河笔记\n\n黄河发源于青海省巴颜喀拉山脉北麓的约古宗列盆地。\n\n黄河全长约5464公里，流域面积约75万平方公里。\n"
        .encode("utf-16"))  # Python's utf-16 codec writes a BOM
    (corpus / "garbage.txt").write_bytes(bytes(range(256)) * 8)
    return corpus


@pytest.fixture(scope="module")
def mixed_build(mixed_corpus: Path,
                tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    index = tmp_path_factory.mktemp("mixed-index")
    return notesqa("index", "build", "--corpus", mixed_corpus, "--index", index), index


# --- index build ----------------------------------------------------------------------------

@pytest.mark.slow
def test_index_build_reads_every_encoding_and_reports_the_garbage(mixed_build) -> None:
    result, index = mixed_build
    assert result.returncode == 0, result.stderr
    assert "Indexed 3 documents" in result.stdout
    skipped = [line for line in result.stdout.splitlines() if "garbage.txt" in line]
    assert len(skipped) == 1 and "binary" in skipped[0]
    assert not any(name in result.stdout for name in ("panda.md:", "changjiang.txt:", "huanghe.txt:"))


@pytest.mark.slow
@pytest.mark.parametrize("query,doc_id,expected", [
    ("三峡大坝位于哪里", "changjiang", "三峡大坝位于湖北省宜昌市"),  # GB18030
    ("黄河发源于哪里", "huanghe", "黄河发源于青海省"),  # UTF-16
    ("大熊猫的受威胁等级", "panda", "世界自然保护联盟"),  # UTF-8
])
def test_search_finds_text_from_each_encoding(mixed_build, query: str, doc_id: str, expected: str) -> None:
    _, index = mixed_build
    result = notesqa("search", query, "--index", index, "--top-k", "1", "--json")
    assert result.returncode == 0, result.stderr
    top = json.loads(result.stdout)["results"][0]
    assert top["doc_id"] == doc_id
    assert expected in top["text"]


def test_index_build_fails_clearly_when_nothing_is_readable(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "garbage.txt").write_bytes(b"\x00\x01\x02" * 100)
    result = notesqa("index", "build", "--corpus", corpus, "--index", tmp_path / "index")
    assert result.returncode == 1
    assert "nothing to index" in result.stderr and "garbage.txt" in result.stderr
    assert "Traceback" not in result.stderr


def test_index_build_stores_half_precision_bm25_scores_when_asked_and_keeps_them(mixed_corpus: Path,
                                                                                  tmp_path: Path) -> None:
    import numpy as np

    index = tmp_path / "index"
    refused = notesqa("index", "build", "--corpus", mixed_corpus, "--index", index, "--keyword-index", "bm25s?x=1")
    assert refused.returncode != 0 and "is not a bm25s parameter" in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr
    for options in (["--keyword-index", "bm25s?scores=float16"], []):  # a rebuild naming none keeps the folder's
        assert notesqa("index", "build", "--corpus", mixed_corpus, "--index", index, *options).returncode == 0
        snapshot = index / "snapshots" / (index / "CURRENT").read_text(encoding="utf-8").strip()
        manifest = json.loads((snapshot / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["keyword"]["spec"] == "bm25s?scores=float16"
        assert np.load(snapshot / "keyword" / "data.csc.index.npy").dtype == np.float16
    found = notesqa("search", "三峡大坝在哪里", "--index", index, "--json")
    assert found.returncode == 0, found.stderr
    assert "宜昌" in found.stdout


def test_index_build_fails_clearly_on_a_missing_corpus(tmp_path: Path) -> None:
    result = notesqa("index", "build", "--corpus", tmp_path / "absent", "--index", tmp_path / "index")
    assert result.returncode == 1
    assert "absent" in result.stderr and "Traceback" not in result.stderr


# --- ask and search -------------------------------------------------------------------------

@pytest.mark.slow
def test_ask_json_prints_the_api_answer(sample_index: Path) -> None:
    result = notesqa("ask", QUESTION, "--index", sample_index, "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) == {"answer", "abstained", "citations", "fact", "fact_citation", "confidence",
                           "resolved_question", "conversation_id", "closest", "engine", "unsupported", "engine_note"}
    assert not answer["abstained"] and answer["resolved_question"] is None  # no history: answered as asked
    assert "6月6日" in squeeze(answer["answer"])
    assert answer["citations"][0]["doc_id"] == "000_eb96d92128743acc"


@pytest.mark.slow
def test_ask_prints_the_answer_then_the_citations(sample_index: Path) -> None:
    result = notesqa("ask", QUESTION, "--index", sample_index, "--top-k", "3")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert "6月6日" in squeeze(lines[0])
    assert lines[1].startswith("fact: ") and "6月6日" in squeeze(lines[1])  # the concise answer, then its confidence
    assert lines[2].startswith("[1] 资产追回问题不限成员名额政府间工作组临时议程说明")
    assert " · " in lines[2]  # the section follows the title
    assert "开幕" in lines[3]  # the quote
    assert "closest passages" not in result.stdout  # only an abstention lists them


def test_an_abstention_lists_the_closest_passages_as_no_answer(sample_index: Path) -> None:
    result = notesqa("ask", "2030年世界杯在哪里举办？", "--index", sample_index)
    assert result.returncode == 0, result.stderr
    head, _, closest = result.stdout.partition("closest passages (not an answer):")
    assert "资料中没有找到相关内容" in head
    assert re.search(r"^\[1\] \S", closest.strip(), re.M), result.stdout


@pytest.mark.slow
def test_ask_rejects_an_empty_question(sample_index: Path) -> None:
    result = notesqa("ask", "   ", "--index", sample_index)
    assert result.returncode == 2
    assert "question is empty" in result.stderr


@pytest.mark.slow
def test_search_lists_ranked_paragraphs(sample_index: Path) -> None:
    result = notesqa("search", "全球联络点举措", "--index", sample_index, "--top-k", "3")
    assert result.returncode == 0, result.stderr
    headings = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert [h.split("]")[0] for h in headings] == ["[1", "[2", "[3"]
    assert "第66段" in headings[0]


def test_ask_without_an_index_fails_clearly(tmp_path: Path) -> None:
    result = notesqa("ask", QUESTION, "--index", tmp_path / "empty")
    assert result.returncode == 1
    assert "notesqa index build" in result.stderr and "Traceback" not in result.stderr


# --- eval -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_eval_in_process_writes_metrics_and_records(sample_index: Path, tmp_path: Path) -> None:
    out = tmp_path / "report" / "eval.json"
    result = notesqa("eval", SAMPLE_DEV, "--index", sample_index, "--limit", "10", "--out", out)
    assert result.returncode == 0, result.stderr
    for label in ("evidence recall@5", "doc hit@5", "MRR", "answer accuracy", "false abstention",
                  "latency p50", "latency p95"):
        assert label in result.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["metrics"]["questions"] == 10
    assert len(report["records"]) == 10
    assert report["metrics"]["answer_accuracy"] >= 0.5  # the sample corpus answers its own dev set


@pytest.mark.slow
def test_eval_against_the_api(api_server: str, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    result = notesqa("eval", SAMPLE_DEV, "--api", api_server, "--limit", "3", "--out", out)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["metrics"]["questions"] == 3


def test_eval_reports_an_unreachable_api(tmp_path: Path) -> None:
    result = notesqa("eval", SAMPLE_DEV, "--api", f"http://127.0.0.1:{free_port()}", "--limit", "1")
    assert result.returncode == 1
    assert "cannot reach" in result.stderr


# --- serve ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_serve_builds_a_missing_index_first_and_reloads_on_sighup(mixed_corpus: Path, tmp_path: Path) -> None:
    corpus = Path(shutil.copytree(mixed_corpus, tmp_path / "corpus"))
    index = tmp_path / "fresh-index"
    with LocalServer(index, corpus=corpus, log_path=tmp_path / "serve.log") as server:
        first = httpx.get(f"{server.url}/healthz").json()
        assert first["documents"] == 3
        assert "garbage.txt" in server.log()
        (corpus / "garbage.txt").unlink()
        rebuilt = notesqa("index", "build", "--corpus", corpus, "--index", index)
        assert rebuilt.returncode == 0, rebuilt.stderr
        os.kill(server.pid, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while (health := httpx.get(f"{server.url}/healthz").json())["snapshot"] == first["snapshot"]:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        assert health["documents"] == 3
        assert httpx.post(f"{server.url}/v1/search", json={"query": "黄河"}).status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["checksum", "embedder", "missing"])
def test_serve_refuses_a_bad_index(sample_index: Path, tmp_path: Path, damage: str) -> None:
    index = Path(shutil.copytree(sample_index, tmp_path / "index", ignore=shutil.ignore_patterns("*.sqlite")))
    snapshot = index / "snapshots" / (index / "CURRENT").read_text().strip()
    if damage == "checksum":
        with (snapshot / "documents.json").open("a", encoding="utf-8") as fh:
            fh.write(" ")
        expected = "damaged"
    elif damage == "embedder":
        manifest = json.loads((snapshot / "manifest.json").read_text(encoding="utf-8"))
        manifest["embedder"]["name"] = "sentence-transformers:other-model"
        (snapshot / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        expected = "rebuild the index"
    else:
        shutil.rmtree(snapshot)
        expected = "manifest"
    result = notesqa("serve", "--index", index, "--port", str(free_port()), timeout=60)
    assert result.returncode == 1
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_help_lists_every_command_with_its_whole_summary() -> None:
    result = subprocess.run([sys.executable, "-m", "service", "eval", "--help"], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "80"}, timeout=120)
    assert result.returncode == 0, result.stderr
    listing = result.stdout.split("Commands:")[1]
    assert "..." not in listing
    assert "regressed or improved" in " ".join(listing.split())
