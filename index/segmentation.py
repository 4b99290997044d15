"""Clean PDF-converted notes and cut them into citable paragraphs.

The conversions this product meets break paragraphs at page boundaries,
drop footnotes between the halves, print paragraph numbers ("20. …"), use
several heading styles (一. / A. / 1. / (a) / markdown #) and render schedules
as tab-separated tables.  `segment_document` turns such text into
`Paragraph` records that keep exact offsets into the source.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial

from index.models import Paragraph, SourceDocument
from index.normalization import compact, is_cjk_char

# Sentence-final punctuation: a block ending in anything else continues after a page break.
TERMINAL = tuple("。！？；;!?：:”\"’）)」』…．.")
HEADING_MAX_CHARS = 70

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BOLD_LINE = re.compile(r"^\*\*(.+?)\*\*$")
_ROMAN_CN = re.compile(r"^([一二三四五六七八九十]{1,3})[.、．]\s*(\S.*)$")
_LATIN = re.compile(r"^([A-Z])[.．]\s+(\S.*)$")
_ARABIC = re.compile(r"^(\d{1,3})[.．]\s*(\S.*)$")
_PAREN = re.compile(r"^[-*]?\s*[(（]([a-z]|[ivx]{1,4})[)）]\s*(\S.*)$")
_DASH = re.compile(r"^[-*•]\s+(\S.*)$")
_FOOTNOTE = re.compile(r"^(?:\*\s+|[¹²³⁴⁵⁶⁷⁸⁹⁰]+\s*|<sup>\w{1,3}</sup>\s*|\^\w{1,3}\s+)\S")
_HEADER_END = re.compile(r"^Original:\s*(\w+)", re.I)
_MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december".split(), 1)}
_LANGUAGES = {"chinese": "zh", "english": "en", "french": "fr", "spanish": "es", "russian": "ru",
              "arabic": "ar"}
_DATE_LIKE = re.compile(r"\d{4}\s*年|\d{1,2}\s*月\s*\d{1,2}\s*日")
_HEADING_RANK = {"roman": 10, "latin": 11, "arabic": 12, "paren": 13}
_LEAF_RANK = 99


@dataclass(frozen=True)
class SegmentationSettings:
    # A longer paragraph is cut into chunks (at sentence ends, else clause ends, else anywhere), each its own
    # citable paragraph: the embedder reads about this much in one window, so a build's cost grows linearly
    # with the text, and no single embedding call of a 1.5 MB one-line file takes minutes.
    max_paragraph_chars: int = 1000


@dataclass
class _Line:
    text: str  # without the line break
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    @property
    def stripped(self) -> str:
        return self.text.strip()


@dataclass
class _Block:
    lines: list[_Line]
    joined_at: list[int] = field(default_factory=list)  # line indexes where a page break was rejoined
    gap_before: int = 0  # blank lines before the block: a page break leaves several

    @property
    def start(self) -> int:
        return self.lines[0].start + (len(self.lines[0].text) - len(self.lines[0].text.lstrip()))

    @property
    def end(self) -> int:
        last = self.lines[-1]
        return last.start + len(last.text.rstrip())

    @property
    def is_table(self) -> bool:
        return any("\t" in ln.text for ln in self.lines)

    @property
    def is_footnote(self) -> bool:
        return bool(_FOOTNOTE.match(self.lines[0].stripped)) and not self.lines[0].stripped.startswith("**")


@dataclass
class _Unit:
    kind: str
    text: str
    start: int
    end: int
    number: str | None = None
    heading: tuple[str, int] | None = None  # (title, rank) for headings
    context: str = ""


@dataclass
class SegmentedDocument:
    metadata: dict
    paragraphs: list[Paragraph] = field(default_factory=list)


# --- sentences: the one splitter of the project -------------------------------------------------

SENTENCE_ENDS = "。！？!?"  # what ends a sentence by default
CLAUSE_ENDS = "，,；;"  # what ends a clause (pass as `ends` to cut a sentence into clauses)


@lru_cache(maxsize=64)
def _sentence_breaks(ends: str, breaks: str) -> re.Pattern[str]:
    alternatives = ([f"(?<=[{re.escape(ends)}])"] if ends else []) + ([f"[{re.escape(breaks)}]"] if breaks else [])
    return re.compile("|".join(alternatives))


def split_sentences(text: str, ends: str = SENTENCE_ENDS, *, breaks: str = "") -> list[str]:
    r"""`text` cut after every character of `ends`, which stays at the end of its piece, and at every
    character of `breaks` (e.g. "\n"), which is dropped.

    Pieces are returned as they stand in the text, not stripped, so that the lengths of the pieces and
    of the dropped `breaks` add up to offsets; empty pieces are left out, blank ones are kept.
    Callers differ in what ends a sentence for them and say so through `ends` ("。；" for the sentence
    a footnote mark follows, `CLAUSE_ENDS` for the clauses of a long sentence, "。！？!?；\n" for a
    dataset's evidence sentence).
    """
    if not ends and not breaks:
        return [text] if text else []
    return [piece for piece in _sentence_breaks(ends, breaks).split(text) if piece]


# a long paragraph is cut at sentence ends, else at clause marks (and "、"), else after a space
_CHUNK_BREAKS = (split_sentences, partial(split_sentences, ends="；;，,、"), re.compile(r"(?<=\s)").split)


def clean_inline(text: str) -> str:
    """Drop conversion markup (bold, links, HTML tags) that is not part of the note."""
    text = text.replace("\x0c", "").replace("\r", "")
    text = re.sub(r"<sup>(\w{1,3})</sup>", r"^\1", text)
    text = re.sub(r"</?(?:b|i|u|strong|em|br)\s*/?>", "", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = text.replace("**", "")
    return re.sub(r"[ \t]+", " ", text).strip()


def join_fragments(left: str, right: str) -> str:
    """Join two halves of a paragraph: no space between CJK text, one between Latin words."""
    if not left or not right:
        return left + right
    if is_cjk_char(left[-1]) or is_cjk_char(right[0]) or not left[-1].isalnum():
        return left + right
    return f"{left} {right}"


def _split_lines(text: str) -> list[_Line]:
    lines, pos = [], 0
    for raw in text.split("\n"):  # not splitlines(): a form feed inside a paragraph is no line break
        lines.append(_Line(raw.rstrip("\r"), pos))
        pos += len(raw) + 1
    return lines


def _blocks(lines: list[_Line]) -> list[_Block]:
    blocks, current, gap = [], [], 0
    for line in lines:
        if line.stripped:
            current.append(line)
            continue
        if current:
            blocks.append(_Block(current, gap_before=gap))
            current, gap = [], 0
        gap += 1
    if current:
        blocks.append(_Block(current, gap_before=gap))
    return blocks


def parse_header(blocks: list[_Block]) -> tuple[dict, int]:
    """UN front header (organ, Distr., date, language, Original) -> metadata, blocks consumed."""
    meta: dict = {}
    flat = [(bi, ln.stripped.lstrip("#").strip()) for bi, b in enumerate(blocks[:6]) for ln in b.lines]
    end_index = next((i for i, (_, t) in enumerate(flat) if _HEADER_END.match(t)), None)
    if end_index is None or not any(t.startswith("Distr") for _, t in flat[:end_index]):
        return meta, 0
    organ = []
    for _, text in flat[:end_index + 1]:
        if text.startswith("Distr"):
            meta["distribution"] = text.split(":", 1)[-1].strip()
        elif m := re.fullmatch(r"(\d{1,2})\s+([A-Za-z]+)\s+(\d{4})", text):
            month = _MONTHS.get(m.group(2).lower())
            if month:
                meta["date"] = datetime(int(m.group(3)), month, int(m.group(1))).date().isoformat()
        elif text.lower() in _LANGUAGES:
            meta["language"] = _LANGUAGES[text.lower()]
        elif m := _HEADER_END.match(text):
            meta["original_language"] = _LANGUAGES.get(m.group(1).lower(), m.group(1))
        elif "distribution" not in meta:
            organ.append(text)
    if organ:
        meta["organ"] = "".join(organ) if all(re.search(r"[\u4e00-\u9fff]", o) for o in organ) else " ".join(organ)
    return meta, flat[end_index][0] + 1


def _ends_open(text: str) -> bool:
    return bool(text) and not text.rstrip().endswith(TERMINAL)


def _is_continuation(block: _Block) -> bool:
    first = block.lines[0].stripped
    if block.is_table or block.is_footnote or _MD_HEADING.match(first) or _BOLD_LINE.match(first):
        return False
    return not any(rx.match(first) for rx in (_ROMAN_CN, _LATIN, _ARABIC, _PAREN, _DASH))


def _rejoin_page_breaks(blocks: list[_Block]) -> list[_Block]:
    """Merge a paragraph cut by a page break (and maybe a footnote) with its other half.

    Footnotes found between the halves stay separate and follow the joined paragraph.
    """
    pending = list(blocks)
    out: list[_Block] = []
    i = 0
    while i < len(pending):
        block = pending[i]
        while not (block.is_table or block.is_footnote):
            last = block.lines[-1].stripped
            if not _ends_open(last) or _PAREN.match(last) or _DASH.match(last):
                break  # list items often end without punctuation
            j = i + 1
            while j < len(pending) and pending[j].is_footnote:
                j += 1
            if j >= len(pending) or not _is_continuation(pending[j]) or (
                    len(pending[j].lines) == 1 and _heading_of(pending[j].lines[0].stripped)):
                break
            page_break = max(b.gap_before for b in pending[i + 1:j + 1]) >= 2
            heading = _heading_of(last)
            long_plain_line = heading is not None and heading[1] == _LEAF_RANK and len(heading[0]) >= 30
            if heading and not (page_break or long_plain_line):
                break  # a heading followed by its first paragraph
            joined = _Block(block.lines + pending[j].lines, block.joined_at + [len(block.lines)], block.gap_before)
            pending = pending[:i] + [joined] + pending[i + 1:j] + pending[j + 1:]
            block = joined
        out.append(block)
        i += 1
    return out


def _heading_of(line: str) -> tuple[str, int] | None:
    """(title, rank) when a single line reads as a heading."""
    if m := _MD_HEADING.match(line):
        return clean_inline(m.group(2)), len(m.group(1))
    bold = _BOLD_LINE.match(line)
    text = clean_inline(bold.group(1) if bold else line)
    if not text or len(text) > HEADING_MAX_CHARS or "。" in text or text.endswith(TERMINAL + ("，", ",", "、")):
        return None
    if "，" in text and not _DATE_LIKE.search(text) and not (_PAREN.match(text) and len(text) <= 30):
        return None
    for style, rx in (("roman", _ROMAN_CN), ("latin", _LATIN), ("arabic", _ARABIC), ("paren", _PAREN)):
        if rx.match(text):
            return text, _HEADING_RANK[style]
    if _DASH.match(text):
        return None
    return text, _LEAF_RANK


_WHEN_COLUMN = re.compile(r"日期|时间|date|time", re.I)


def _table_units(block: _Block, context: str) -> list[_Unit]:
    """Each schedule row becomes a unit carrying its date, time and column names.

    Empty leading cells repeat the row above (the schedule prints a date or a
    time once for several items); a row with only its first cell is a group
    heading such as "6月7日，星期四" that applies to the rows below it.
    """
    units: list[_Unit] = []
    columns: list[str] = []
    group = ""
    carried: list[str] = []
    for line in block.lines:
        cells = [clean_inline(c) for c in line.text.split("\t")]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        if not columns and all(cells) and len(cells) >= 2:
            columns = cells
            continue
        if len(cells) == 1 and len(columns) > 2:
            group, carried = cells[0], []
            continue
        first = next(i for i, c in enumerate(cells) if c)
        values = [carried[i] if i < first and i < len(carried) else c for i, c in enumerate(cells)]
        carried = values
        when_cols = [i for i, name in enumerate(columns) if _WHEN_COLUMN.search(name)] or [0]
        when = " ".join(x for x in [group] + [values[i] for i in when_cols if i < len(values)] if x)
        rest = [(columns[i] if i < len(columns) else "", v) for i, v in enumerate(values)
                if i not in when_cols and v]
        if len(rest) >= 2 and re.fullmatch(r"[\w()（）\s]{1,8}", rest[0][1]):
            text = f"{when}，{rest[0][0]} {rest[0][1]}：" + "；".join(v for _, v in rest[1:])
        else:
            text = f"{when}：" + "；".join(v for _, v in rest)
        start = line.start + (len(line.text) - len(line.text.lstrip()))
        units.append(_Unit("table_row", text.strip("，："), start, line.start + len(line.text.rstrip()),
                           context="\n".join(x for x in (context, " / ".join(columns)) if x)))
    return units


def _text_units(block: _Block) -> list[_Unit]:
    """A block of text lines -> one unit per paragraph or list item.

    Consecutive numbered lines are separate paragraphs (the conversion often
    drops the blank line between them); sub-items follow an item ending in a
    colon; halves rejoined across a page break become one unit.
    """
    lines = block.lines
    joined_at = set(block.joined_at)
    markers = sum(1 for ln in lines if any(rx.match(ln.stripped) for rx in (_ARABIC, _PAREN, _DASH)))
    is_list = len(lines) > 1 and markers >= (len(lines) - len(joined_at)) / 2
    units: list[_Unit] = []
    attaching = False
    for idx, ln in enumerate(lines):
        text = clean_inline(ln.text)
        start, end = ln.start + len(ln.text) - len(ln.text.lstrip()), ln.start + len(ln.text.rstrip())
        if units and idx in joined_at:
            units[-1].text = join_fragments(units[-1].text, text)
            units[-1].end = end
            continue
        is_sub = ln.text[:1].isspace() or bool(_PAREN.match(ln.stripped) or _DASH.match(ln.stripped))
        if units and (not is_list or (is_sub and (attaching or units[-1].text.endswith(("：", ":"))))):
            units[-1].text += "\n" + text
            units[-1].end = end
            attaching = is_list
            continue
        attaching = False
        units.append(_Unit("list_item" if is_list else "lines", text, start, end))
    if len(units) == 1 and (len(lines) == 1 or joined_at == set(range(1, len(lines)))):
        units[0].kind = "paragraph"
    for unit in units:
        first_line = unit.text.split("\n", 1)[0]
        if unit.kind == "list_item" and _ARABIC.match(first_line) and (
                len(first_line) >= 50 or "。" in first_line[:-1]):
            unit.kind = "paragraph"  # a printed, numbered paragraph rather than an agenda item
    return units


def _pieces(text: str, max_chars: int, level: int = 0) -> list[str]:
    """`text` cut into pieces of at most `max_chars`, at the coarsest break that allows it."""
    if len(text) <= max_chars:
        return [text]
    if level == len(_CHUNK_BREAKS):
        return [text[i:i + max_chars] for i in range(0, len(text), max_chars)]
    pieces: list[str] = []
    run = ""
    for part in _CHUNK_BREAKS[level](text):
        if not part:
            continue
        if len(part) > max_chars:
            if run:
                pieces.append(run)
                run = ""
            pieces.extend(_pieces(part, max_chars, level + 1))
        elif len(run) + len(part) > max_chars:
            pieces.append(run)
            run = part
        else:
            run += part
    if run:
        pieces.append(run)
    return pieces


def _chunked(doc: SourceDocument, units: list[_Unit], max_chars: int) -> list[_Unit]:
    """Units longer than `max_chars` cut into chunks; a chunk found verbatim in the source keeps its offsets."""
    out: list[_Unit] = []
    for unit in units:
        if len(unit.text) <= max_chars or unit.kind == "heading":
            out.append(unit)
            continue
        cursor = unit.start
        for piece in _pieces(unit.text, max_chars):
            chunk = piece.strip()
            if not chunk:
                continue
            found = doc.text.find(chunk, cursor, unit.end)
            start, end = (found, found + len(chunk)) if found >= 0 else (unit.start, unit.end)
            cursor = end if found >= 0 else cursor
            out.append(_Unit(unit.kind, chunk, start, end, number=unit.number, context=unit.context))
    return out


def segment_document(doc: SourceDocument,
                     settings: SegmentationSettings = SegmentationSettings()) -> SegmentedDocument:
    blocks = _blocks(_split_lines(doc.text))
    header, consumed = parse_header(blocks)
    blocks = _rejoin_page_breaks(blocks[consumed:])

    units: list[_Unit] = []
    seen_structure = False
    for block in blocks:
        first = block.lines[0].stripped
        if block.is_table:
            units.extend(_table_units(block, ""))
            seen_structure = True
        elif block.is_footnote:
            units.append(_Unit("footnote", clean_inline(" ".join(ln.stripped for ln in block.lines)),
                               block.start, block.end))
        elif len(block.lines) == 1 and (heading := _heading_of(first)):
            is_date_line = _DATE_LIKE.search(first) and heading[1] == _LEAF_RANK
            if not seen_structure and is_date_line:
                units.append(_Unit("front_matter", clean_inline(first), block.start, block.end))
            else:
                units.append(_Unit("heading", heading[0], block.start, block.end, heading=heading))
                seen_structure = seen_structure or heading[1] != _LEAF_RANK
        else:
            produced = _text_units(block)
            lead = units[-1] if units else None
            if (lead and lead.kind == "paragraph" and lead.text.endswith(("：", ":"))
                    and all(u.kind == "list_item" and (_PAREN.match(u.text) or _DASH.match(u.text)) for u in produced)
                    and sum(len(u.text) for u in produced) <= 300):
                # a short enumeration belongs to the paragraph that introduces it
                lead.text += "\n" + "\n".join(u.text for u in produced)
                lead.end = produced[-1].end
                continue
            for u in produced:
                if u.kind == "lines" and not seen_structure:
                    u.kind = "front_matter"
                elif u.kind == "lines":
                    u.kind = "paragraph"
            units.extend(produced)
            seen_structure = seen_structure or any(u.kind != "front_matter" for u in produced)

    return SegmentedDocument(header, _assign_structure(doc, _chunked(doc, units, settings.max_paragraph_chars)))


def _assign_structure(doc: SourceDocument, units: list[_Unit]) -> list[Paragraph]:
    """Section paths, printed paragraph numbers, list lead-ins and stable ids."""
    stack: list[tuple[str, int]] = []
    paragraphs: list[Paragraph] = []
    last_number: str | None = None
    lead_in = ""
    id_counts: dict[str, int] = {}
    for unit in sorted(units, key=lambda u: u.start):
        if unit.kind == "heading":
            title, rank = unit.heading
            if rank == _LEAF_RANK and not any(0 < r < _LEAF_RANK for _, r in stack):
                rank = 0  # a plain heading before any numbered or markdown structure is a root
            while stack and stack[-1][1] >= rank:
                stack.pop()
            stack.append((title, rank))
            last_number, lead_in = None, ""
        section = " > ".join(t for t, _ in stack) or None
        number = None
        text = unit.text
        context = unit.context
        if unit.kind == "paragraph" and (m := _ARABIC.match(text.split("\n", 1)[0])) and not unit.heading:
            number = m.group(1)
            last_number = number
            lead_in = text if text.endswith(("：", ":")) else ""
        elif unit.kind in ("paragraph", "list_item") and (m := _PAREN.match(text)) and last_number and lead_in:
            number = f"{last_number}({m.group(1)})"
            unit.kind = "list_item"
            context = _last_sentence(lead_in)
        elif unit.kind == "paragraph":
            lead_in = text if text.endswith(("：", ":")) else ""
        if unit.kind == "footnote":
            context = _footnote_reference(text, paragraphs)
        if unit.kind == "heading":
            context = " > ".join(t for t, _ in stack[:-1])
        elif section and unit.kind != "table_row":
            context = "\n".join(x for x in (section, context) if x)
        elif unit.kind == "table_row":
            context = "\n".join(x for x in (section, context) if x)
        key = hashlib.sha1(f"{doc.doc_id}\x1f{unit.kind}\x1f{compact(text)}".encode()).hexdigest()[:12]
        occurrence = id_counts.get(key, 0)
        id_counts[key] = occurrence + 1
        paragraph_id = f"p{key}" if occurrence == 0 else f"p{key}-{occurrence + 1}"
        paragraphs.append(Paragraph(
            paragraph_id=paragraph_id, doc_id=doc.doc_id, ordinal=len(paragraphs), kind=unit.kind,
            text=text, start=unit.start, end=unit.end, paragraph_number=number, section=section,
            context=context,
        ))
    return paragraphs


_FOOTNOTE_MARK = re.compile(r"^(\*|[¹²³⁴⁵⁶⁷⁸⁹⁰]+|\^\w{1,3})")


def _footnote_reference(footnote: str, before: list[Paragraph]) -> str:
    """The sentence that carries the footnote's mark: a footnote alone rarely says what it is about."""
    m = _FOOTNOTE_MARK.match(footnote)
    if not m:
        return ""
    mark = m.group(1)
    for p in reversed(before[-40:]):
        if p.kind == "footnote":
            continue
        text = p.text.replace("**", "")
        at = text.find(mark)
        if at > 0:  # the mark follows the sentence it annotates
            pieces = [x for x in split_sentences(text[:at], "。；", breaks="\n") if x.strip()]
            return (pieces[-1].strip() if pieces else text[:at])[-160:]
    return ""


def _last_sentence(text: str) -> str:
    parts = [p for p in split_sentences(text, "。！？") if p.strip()]
    return parts[-1].strip() if parts else text
