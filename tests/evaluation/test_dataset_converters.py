"""SQuAD-style JSON and spreadsheet CSV -> the project's dataset format."""
from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from evaluation.dataset_converters import ConversionError, convert_csv, convert_squad, evidence_sentence, write_jsonl
from evaluation.datasets import load_dataset

pytestmark = pytest.mark.unit

CONTEXT = "《战国无双3》是由光荣和ω-force开发的续作。本作以三大故事为主轴！此模式是任天堂游戏谜之村雨城改编的新增模式。"
SQUAD = {
    "version": "v1.0",
    "data": [
        {"id": "DEV_0", "title": "战国无双3", "paragraphs": [{
            "id": "DEV_0", "context": CONTEXT,
            "qas": [
                {"id": "Q0", "question": "《战国无双3》是由哪两个公司合作开发的？",
                 "answers": [{"text": "光荣和ω-force", "answer_start": 9},
                             {"text": "光荣和ω-force", "answer_start": 9},
                             {"text": "39764.0", "answer_start": -1}]},
                {"id": "Q1", "question": "这一模式是由谁改编的？",  # answer_start is wrong: found by search
                 "answers": [{"text": "村雨城", "answer_start": 3}, {"text": "任天堂游戏谜之村雨城", "answer_start": 37}]},
            ]}]},
        {"title": "DRCD 式", "paragraphs": [{  # no ids anywhere (DRCD/SQuAD keep them on the questions only)
            "context": "台北是台湾的首府。", "qas": [
                {"id": "Q2", "question": "台湾的首府是哪里？", "answers": [{"text": "台北", "answer_start": 0}]},
                {"id": "Q3", "question": "台北有多少人？", "answers": [], "is_impossible": True},
            ]}]},
    ],
}


@pytest.fixture()
def squad_file(tmp_path: Path) -> Path:
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(SQUAD, ensure_ascii=False), encoding="utf-8")
    return path


def test_evidence_sentence_is_the_sentence_holding_the_answer() -> None:
    assert evidence_sentence(CONTEXT, "光荣和ω-force", 9) == "《战国无双3》是由光荣和ω-force开发的续作。"
    assert evidence_sentence(CONTEXT, "三大故事", None) == "本作以三大故事为主轴！"
    assert evidence_sentence(CONTEXT, "村雨城", 0) == "此模式是任天堂游戏谜之村雨城改编的新增模式。"  # wrong offset
    assert evidence_sentence(CONTEXT, "不在文中", 0) == ""
    # an answer that crosses a sentence end takes both sentences
    assert evidence_sentence("甲乙。丙丁。戊。", "乙。丙", 1) == "甲乙。丙丁。"


def test_convert_squad(squad_file: Path) -> None:
    questions, passages = convert_squad(squad_file)
    assert [p["doc_id"] for p in passages] == ["DEV_0", "DRCD_式_1_0"]
    assert passages[0] == {"doc_id": "DEV_0", "title": "战国无双3", "text": CONTEXT}
    by_id = {q["id"]: q for q in questions}
    q0 = by_id["Q0"]
    assert q0["answers"] == ["光荣和ω-force"]  # duplicates merged, spreadsheet debris dropped
    assert q0["evidence"] == ["《战国无双3》是由光荣和ω-force开发的续作。"]
    assert q0["doc_ids"] == ["DEV_0"] and q0["answerable"] and q0["type"] == "span"
    assert by_id["Q1"]["answers"] == ["村雨城", "任天堂游戏谜之村雨城"]
    assert by_id["Q2"]["doc_ids"] == ["DRCD_式_1_0"]
    assert by_id["Q3"] == {"id": "Q3", "question": "台北有多少人？", "answers": [], "list_items": [], "evidence": [],
                           "doc_ids": [], "answerable": False, "type": "unanswerable", "lang": "zh"}


def test_converted_squad_loads_as_a_dataset(squad_file: Path, tmp_path: Path) -> None:
    questions, _ = convert_squad(squad_file)
    out = tmp_path / "dev.jsonl"
    assert write_jsonl(questions, out) == 4
    items = load_dataset(out)
    assert [i.id for i in items] == ["Q0", "Q1", "Q2", "Q3"]
    assert items[0].evidence == ["《战国无双3》是由光荣和ω-force开发的续作。"] and not items[3].answerable


@pytest.mark.parametrize("content,message", [
    ("not json", "not a readable UTF-8 JSON"),
    ('{"version": 1}', "'data' list"),
    ('{"data": [{"paragraphs": [{"context": "", "qas": []}]}]}', "missing context"),
    ('{"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "x", "question": " "}]}]}]}', "empty question"),
    ('{"data": []}', "no questions"),
])
def test_convert_squad_reports_bad_input(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConversionError, match=message):
        convert_squad(path)


def test_convert_squad_matches_the_cmrc_file_shipped_in_shared() -> None:
    """The real CMRC 2018 dev file, where it is available: same questions and passages as qa.jsonl."""
    shared = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cmrc2018"
    if not (shared / "raw" / "cmrc2018_dev.json").is_file():
        pytest.skip("CMRC 2018 not available")
    questions, passages = convert_squad(shared / "raw" / "cmrc2018_dev.json")
    assert (len(questions), len(passages)) == (3219, 848)
    reference = {r["id"]: r for r in map(json.loads, (shared / "qa.jsonl").read_text(encoding="utf-8").splitlines())}
    same_evidence = sum(q["evidence"] == [reference[q["id"]]["evidence"]] for q in questions)
    assert same_evidence / len(questions) > 0.99


# --- CSV ------------------------------------------------------------------------------------

def _csv(tmp_path: Path, text: str, *, bom: bool = False, name: str = "sheet.csv") -> Path:
    path = tmp_path / name
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8"))
    return path


@pytest.mark.parametrize("bom", [False, True])
def test_convert_csv(tmp_path: Path, bom: bool) -> None:
    path = _csv(tmp_path, "question,answer,source\n"
                          "全球联络点举措是哪年启动的？,2009年1月,001_2e16e2347a6d47f4.txt\n"
                          "\n"
                          "\"哪两个国家, 一起办的？\",中国|泰国,001_2e16e2347a6d47f4\n"
                          "资产追回工作组一年的预算有多少？,,\n", bom=bom)
    records = convert_csv(path)
    assert [r["id"] for r in records] == ["csv001", "csv003", "csv004"]  # ids follow the sheet's rows
    assert records[0] == {"id": "csv001", "question": "全球联络点举措是哪年启动的？", "answers": ["2009年1月"],
                          "list_items": [], "evidence": [], "doc_ids": ["001_2e16e2347a6d47f4"], "answerable": True,
                          "type": "other", "lang": "zh"}
    assert records[1]["question"] == "哪两个国家, 一起办的？" and records[1]["answers"] == ["中国", "泰国"]
    assert not records[2]["answerable"] and records[2]["type"] == "unanswerable"


def test_convert_csv_reads_chinese_headers_optional_columns_and_semicolons(tmp_path: Path) -> None:
    path = _csv(tmp_path, "编号;问题;答案;来源;原文;类型\n"
                          "k1;会议在哪里开？;维也纳;doc-a｜doc-b;在维也纳举行;name\n", bom=True)
    (record,) = convert_csv(path)
    assert record["id"] == "k1" and record["doc_ids"] == ["doc-a", "doc-b"]
    assert record["evidence"] == ["在维也纳举行"] and record["type"] == "name"


def test_convert_csv_lists_every_bad_row(tmp_path: Path) -> None:
    path = _csv(tmp_path, "question,answer,source\n"
                          ",2009年1月,doc\n"  # row 2: no question
                          "问题二,答案,\n"  # row 3: an answer without a source
                          "问题三,答案,doc,extra\n"  # row 4: a stray cell (an unquoted comma)
                          "问题四,答案,doc\n")
    with pytest.raises(ConversionError) as caught:
        convert_csv(path)
    message = str(caught.value)
    assert "3 bad row(s)" in message
    assert "row 2: the question is empty" in message
    assert "row 3: an answer needs a source" in message
    assert "row 4: 4 cells but the header has 3" in message


@pytest.mark.parametrize("content,message", [
    ("问题,答复\n甲,乙\n", "must name the columns question, answer, source"),
    ("", "empty"),
    ("question,answer,source\n", "no question rows"),
    ("question,answer,source\nq,a,s\nq2,a,s\n".replace("q2", "q"), None),  # same question twice is allowed
])
def test_convert_csv_header_and_empty_files(tmp_path: Path, content: str, message: str | None) -> None:
    path = _csv(tmp_path, content)
    if message is None:
        assert len(convert_csv(path)) == 2
        return
    with pytest.raises(ConversionError, match=message):
        convert_csv(path)


def test_convert_csv_refuses_non_utf8_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("question,answer,source\n问题,答案,doc\n".encode("gb18030"))
    with pytest.raises(ConversionError, match="not UTF-8.*CSV UTF-8"):
        convert_csv(path)
    path.write_bytes("question,answer,source\n".encode("utf-16"))
    with pytest.raises(ConversionError, match="UTF-16"):
        convert_csv(path)


def test_convert_command(tmp_path: Path, squad_file: Path) -> None:
    from typer.testing import CliRunner

    from service.cli.main import app

    runner = CliRunner()
    out, corpus = tmp_path / "q.jsonl", tmp_path / "corpus.jsonl"
    result = runner.invoke(app, ["eval", "convert", "squad", str(squad_file), "--out", str(out),
                                 "--corpus-out", str(corpus)])
    assert result.exit_code == 0, result.output
    assert "Wrote 4 questions (1 unanswerable)" in result.output and "Wrote 2 passages" in result.output
    assert len(load_dataset(out)) == 4
    assert [json.loads(line)["doc_id"] for line in corpus.read_text(encoding="utf-8").splitlines()] == \
        ["DEV_0", "DRCD_式_1_0"]

    sheet = _csv(tmp_path, "question,answer,source\n,甲,doc\n", bom=True)
    result = runner.invoke(app, ["eval", "convert", "csv", str(sheet), "--out", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2
    assert "row 2: the question is empty" in result.output
    assert not (tmp_path / "x.jsonl").exists()
