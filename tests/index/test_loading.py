"""index.loading: folders of .txt/.md, metadata.json, .jsonl bulk files, encodings, bad files."""
from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from index import loading
from index.loading import SourceError, decode_bytes, load_sources, make_doc_id

from .conftest import CORPUS, DOC_000, DOC_001, DOC_002, DOC_003, DOC_004

pytestmark = pytest.mark.unit

ZH = "缔约国会议在第 7/1 号决议中邀请工作组提出今后的议程项目，并确定了有关资产追回问题的四个工作领域。"


def _skipped(result) -> dict[str, str]:
    return {s.source: s.reason for s in result.skipped}


# ---------------------------------------------------------------- the real sample corpus

def test_real_corpus_loads_all_five_notes_with_metadata(corpus_result):
    docs = {d.doc_id: d for d in corpus_result.documents}
    assert sorted(docs) == [DOC_000, DOC_001, DOC_002, DOC_003, DOC_004]
    assert corpus_result.skipped == []
    d1 = docs[DOC_001]
    assert d1.title == "资产追回问题不限成员名额政府间工作组任务授权执行进展报告（秘书处的说明）"
    # the remaining metadata.json fields travel as metadata; title is not duplicated there
    assert d1.metadata == {"symbol": None, "date": "2018-04-04", "language": "zh"}
    assert docs[DOC_003].metadata["date"] == "2023-06-26"
    assert Path(d1.source) == CORPUS / f"{DOC_001}.txt"
    # decoded text, not bytes or a re-encoded copy
    assert "6. 关于资产追回方面的知识积累" in d1.text
    assert d1.text == (CORPUS / f"{DOC_001}.txt").read_text(encoding="utf-8")


# ---------------------------------------------------------------- folders and metadata.json

def test_folder_loads_txt_and_md_and_ignores_other_suffixes(tmp_path):
    (tmp_path / "note one.txt").write_text("资产追回。", encoding="utf-8")
    (tmp_path / "readme.md").write_text("# 标题\n\n正文。", encoding="utf-8")
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4 not a note")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "nested.txt").write_text("不读取子目录。", encoding="utf-8")
    result = load_sources(tmp_path)
    assert sorted(d.doc_id for d in result.documents) == ["note_one", "readme"]
    assert result.skipped == []
    md = next(d for d in result.documents if d.doc_id == "readme")
    assert md.text == "# 标题\n\n正文。"
    assert md.title == ""  # no metadata.json: the builder derives a title later


def test_metadata_json_sets_title_doc_id_and_extra_fields(tmp_path):
    (tmp_path / "a.txt").write_text("第一份说明。", encoding="utf-8")
    (tmp_path / "b.md").write_text("第二份说明。", encoding="utf-8")
    (tmp_path / "metadata.json").write_text(json.dumps({"documents": {
        "a.txt": {"title": "资产追回工作组说明", "date": "2018-03-13", "symbol": "CAC/COSP/WG.2/2018/1"},
        "b.md": {"doc_id": "custom-id.v2", "title": "第二份"},
        "missing.txt": {"title": "没有这个文件"},
    }}, ensure_ascii=False), encoding="utf-8")
    result = load_sources(tmp_path)
    docs = {d.doc_id: d for d in result.documents}
    assert sorted(docs) == ["a", "custom-id.v2"]
    assert docs["a"].title == "资产追回工作组说明"
    assert docs["a"].metadata == {"date": "2018-03-13", "symbol": "CAC/COSP/WG.2/2018/1"}
    assert docs["custom-id.v2"].title == "第二份"
    assert docs["custom-id.v2"].metadata == {}
    assert result.skipped == []


def test_broken_metadata_json_is_reported_and_files_still_load(tmp_path):
    (tmp_path / "a.txt").write_text("第一份说明。", encoding="utf-8")
    (tmp_path / "metadata.json").write_text("{not json", encoding="utf-8")
    result = load_sources(tmp_path)
    assert [d.doc_id for d in result.documents] == ["a"]
    assert result.documents[0].title == ""
    [skip] = result.skipped
    assert skip.source.endswith("metadata.json")
    assert "metadata ignored" in skip.reason


def test_single_file_path_and_unsupported_path(tmp_path):
    note = tmp_path / "单篇 说明.txt"
    note.write_text(ZH, encoding="utf-8")
    result = load_sources(note)
    assert [d.doc_id for d in result.documents] == ["单篇_说明"]
    assert result.documents[0].text == ZH
    other = tmp_path / "x.docx"
    other.write_bytes(b"PK\x03\x04")
    with pytest.raises(SourceError, match="x.docx"):
        load_sources(other)
    with pytest.raises(SourceError, match="does-not-exist"):
        load_sources(tmp_path / "does-not-exist")


def test_make_doc_id():
    assert make_doc_id("001_2e16e2347a6d47f4") == "001_2e16e2347a6d47f4"
    assert make_doc_id("资产 追回/2018 (草案)") == "资产_追回_2018_草案"
    assert make_doc_id("..note.v2..") == "note.v2"
    with pytest.raises(SourceError):
        make_doc_id("/// ")


# ---------------------------------------------------------------- encodings

@pytest.mark.parametrize("encoding,prefix", [
    ("gb18030", b""),
    ("utf-16-le", codecs.BOM_UTF16_LE),
    ("utf-16-be", codecs.BOM_UTF16_BE),
    ("utf-8", codecs.BOM_UTF8),
    ("utf-8", b""),
])
def test_encodings_are_decoded_to_the_same_text(tmp_path, encoding, prefix):
    text = f"{ZH}\n\n2. 资產追回問題（繁体字也可以）。\n"
    (tmp_path / "note.txt").write_bytes(prefix + text.encode(encoding))
    result = load_sources(tmp_path)
    assert result.skipped == []
    [doc] = result.documents
    assert doc.text == text  # no BOM left at the start, no mojibake


def test_gb18030_real_note_decodes(tmp_path):
    """A whole real note re-encoded as GB18030 (as Windows tools in China save it)."""
    original = (CORPUS / f"{DOC_004}.txt").read_text(encoding="utf-8")
    (tmp_path / "gb.txt").write_bytes(original.encode("gb18030"))
    [doc] = load_sources(tmp_path).documents
    assert doc.text == original


def test_binary_and_undecodable_files_are_skipped_naming_the_file(tmp_path):
    (tmp_path / "good.txt").write_text(ZH, encoding="utf-8")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (tmp_path / "garbage.md").write_bytes(b"\x80\x81\x82\xfe\xff\xfa" * 50)
    result = load_sources(tmp_path)
    assert [d.doc_id for d in result.documents] == ["good"]
    skipped = _skipped(result)
    assert set(skipped) == {str(tmp_path / "garbage.md"), str(tmp_path / "image.txt")}
    for source, reason in skipped.items():
        assert Path(source).name in reason  # the reason itself names the file
    assert "binary" in skipped[str(tmp_path / "image.txt")]


def test_empty_and_whitespace_only_files_are_skipped(tmp_path):
    (tmp_path / "good.txt").write_text(ZH, encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text(" \n\n\t \n", encoding="utf-8")
    result = load_sources(tmp_path)
    assert [d.doc_id for d in result.documents] == ["good"]
    skipped = _skipped(result)
    assert set(skipped) == {str(tmp_path / "empty.txt"), str(tmp_path / "blank.md")}
    assert all("empty" in reason for reason in skipped.values())


def test_oversized_file_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "MAX_FILE_BYTES", 1024)
    (tmp_path / "small.txt").write_text("短。", encoding="utf-8")
    (tmp_path / "big.txt").write_text("长" * 2000, encoding="utf-8")
    result = load_sources(tmp_path)
    assert [d.doc_id for d in result.documents] == ["small"]
    [skip] = result.skipped
    assert skip.source == str(tmp_path / "big.txt") and "big.txt" in skip.reason


def test_decode_bytes_refuses_empty_and_nul():
    with pytest.raises(SourceError, match="x.txt: file is empty"):
        decode_bytes(b"  \n", "x.txt")
    with pytest.raises(SourceError, match="x.txt: binary"):
        decode_bytes(b"abc\x00def", "x.txt")
    assert decode_bytes(codecs.BOM_UTF8 + "资产".encode(), "x") == "资产"


# ---------------------------------------------------------------- .jsonl bulk files

def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_records_keep_doc_id_title_and_extra_fields(tmp_path):
    path = _jsonl(tmp_path / "notes.jsonl", [
        json.dumps({"doc_id": "CAC-2018-1", "title": "进展报告", "text": ZH, "date": "2018-04-04",
                    "tags": ["资产追回"], "pages": 3}, ensure_ascii=False),
        json.dumps({"doc_id": "note.2", "text": "第二条。"}, ensure_ascii=False),
    ])
    result = load_sources(path)
    assert result.skipped == []
    a, b = result.documents
    assert (a.doc_id, a.title, a.text) == ("CAC-2018-1", "进展报告", ZH)
    assert a.metadata == {"date": "2018-04-04", "tags": ["资产追回"], "pages": 3}
    assert a.source == f"{path}:1"
    assert (b.doc_id, b.title, b.metadata, b.source) == ("note.2", "", {}, f"{path}:2")


def test_jsonl_bad_lines_are_skipped_with_file_and_line(tmp_path):
    path = _jsonl(tmp_path / "bulk.jsonl", [
        json.dumps({"doc_id": "good-1", "text": "第一条。"}, ensure_ascii=False),     # 1
        '{"doc_id": "broken", "text": "缺少右括号"',                                   # 2 invalid JSON
        json.dumps({"doc_id": "no-text", "title": "没有正文"}, ensure_ascii=False),   # 3 missing text
        json.dumps({"doc_id": "good-1", "text": "重复的编号。"}, ensure_ascii=False),  # 4 duplicate doc_id
        "",                                                                            # 5 blank: ignored
        json.dumps({"doc_id": "blank-text", "text": "   "}),                           # 6 empty text
        json.dumps(["not", "an", "object"]),                                           # 7
        json.dumps({"text": "没有编号。"}, ensure_ascii=False),                         # 8 missing doc_id
        json.dumps({"doc_id": "good-2", "text": "第二条。"}, ensure_ascii=False),     # 9
    ])
    result = load_sources(path)
    assert [(d.doc_id, d.text) for d in result.documents] == [("good-1", "第一条。"), ("good-2", "第二条。")]
    skipped = _skipped(result)
    assert sorted(skipped) == sorted(f"{path}:{n}" for n in (2, 3, 4, 6, 7, 8))
    assert "text" in skipped[f"{path}:3"]
    assert "duplicate" in skipped[f"{path}:4"] and "good-1" in skipped[f"{path}:4"]
    assert "doc_id" in skipped[f"{path}:8"]


def test_jsonl_inside_folder_is_loaded_with_the_text_files(tmp_path):
    (tmp_path / "a.txt").write_text("文本文件。", encoding="utf-8")
    _jsonl(tmp_path / "more.jsonl", [json.dumps({"doc_id": "j1", "text": "批量文件。"}, ensure_ascii=False),
                                     "not json"])
    result = load_sources(tmp_path)
    assert sorted(d.doc_id for d in result.documents) == ["a", "j1"]
    assert list(_skipped(result)) == [f"{tmp_path / 'more.jsonl'}:2"]


def test_undecodable_jsonl_is_skipped_as_a_whole(tmp_path):
    path = tmp_path / "bin.jsonl"
    path.write_bytes(b"\x00\x01\x02" * 10)
    result = load_sources(path)
    assert result.documents == []
    [skip] = result.skipped
    assert skip.source == str(path) and "bin.jsonl" in skip.reason


def test_gb18030_jsonl(tmp_path):
    path = tmp_path / "gb.jsonl"
    path.write_bytes((json.dumps({"doc_id": "g", "title": "资产追回", "text": ZH}, ensure_ascii=False)
                      + "\n").encode("gb18030"))
    [doc] = load_sources(path).documents
    assert (doc.title, doc.text) == ("资产追回", ZH)


def test_metadata_json_saved_with_a_utf8_bom_is_applied(tmp_path):
    """Windows editors save metadata.json with a BOM; the notes themselves may carry one too."""
    (tmp_path / "a.txt").write_text("第一份说明。", encoding="utf-8")
    (tmp_path / "metadata.json").write_bytes(codecs.BOM_UTF8 + json.dumps(
        {"documents": {"a.txt": {"title": "资产追回工作组说明"}}}, ensure_ascii=False).encode("utf-8"))
    result = load_sources(tmp_path)
    assert result.skipped == []
    assert result.documents[0].title == "资产追回工作组说明"
