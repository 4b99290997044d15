"""Near-miss unanswerable questions, made from answerable ones by withholding their evidence.

A hand-written unanswerable question is usually far from the notes ("红烧肉怎么做"); the hard case is
the near miss, where the notes speak of the subject but not of the fact asked. Every answerable
question becomes one when the paragraphs that answer it leave the index: the question is asked
again of the snapshot without the paragraphs holding its evidence or a gold answer (of three
characters or more; shorter ones such as "13" are everywhere), or, for an item without evidence,
without its gold documents. The right behaviour is then to abstain. An answer that still contains
a gold alternative means the notes hold the fact elsewhere too: that question is left out and
counted.

The withheld paragraphs are masked, not re-indexed: BM25's IDF stays the whole collection's, so
one question costs a search, not a rebuild (re-indexing CMRC's 848 passages per question would
take most of an hour). Document frequencies used by the answer composer are recounted.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from evaluation.datasets import EvalItem
from evaluation.runner import RANK_DEPTH, ranked_paragraphs, score_item
from evaluation.scoring import answer_correct, evidence_in
from index.builder import indexed_text
from index.dense import DEFAULT_DENSE_INDEX, create_dense_index
from index.normalization import compact
from index.snapshot import Snapshot
from index.tokenization import keyword_tokens

SHORTEST_WITHHELD_ANSWER = 3  # characters (compact) of a gold answer whose every mention is withheld


def snapshot_without(snapshot: Snapshot, rows: set[int], tokens_of: Callable[[int], list[str]]) -> Snapshot:
    """`snapshot` with the searchable `rows` left out of the dense and keyword indexes.

    `tokens_of(row)` gives the keyword tokens a row was indexed with (to recount document frequencies).
    """
    keep = np.array([r for r in range(len(snapshot.searchable)) if r not in rows], dtype=np.int64)
    # an engine's collection is the whole snapshot's and is not rewritten per question: the rest of its
    # vectors are searched exactly in process instead
    spec = DEFAULT_DENSE_INDEX if snapshot.dense.engine else snapshot.dense.spec
    dense = create_dense_index(spec, dimension=snapshot.dense.dimension)
    dense.add(snapshot.dense.vectors(keep))
    df = dict(snapshot.keyword_df)
    for row in rows:
        for token in set(tokens_of(row)):
            if df.get(token, 0) > 1:
                df[token] -= 1
            else:
                df.pop(token, None)
    return dataclasses.replace(snapshot, searchable=snapshot.searchable[keep], dense=dense,
                               keyword=snapshot.keyword.restricted_to(keep), keyword_df=df)


class WithheldEvidence:
    """Asks each answerable question of its snapshot without the paragraphs that answer it."""

    def __init__(self, qa) -> None:  # qa: retrieval.pipeline.NotesQA over the whole snapshot
        self.qa = qa
        self._rows = qa.searchable_paragraphs()
        self._compact = [compact(p.text) for p in self._rows]
        self._tokens: dict[int, list[str]] = {}

    def _tokens_of(self, row: int) -> list[str]:
        if row not in self._tokens:
            paragraph = self._rows[row]
            self._tokens[row] = keyword_tokens(indexed_text(paragraph, self.qa.title(paragraph.doc_id)))
        return self._tokens[row]

    def rows_to_withhold(self, item: EvalItem) -> set[int]:
        """The searchable rows holding the item's evidence or a gold answer; its documents if it has no evidence."""
        answers = [a for a in map(compact, item.answers + item.list_items) if len(a) >= SHORTEST_WITHHELD_ANSWER]
        rows = {r for r, text in enumerate(self._compact)
                if any(a in text for a in answers) or any(evidence_in(e, self._rows[r].text) for e in item.evidence)}
        if not item.evidence:
            rows |= {r for r, p in enumerate(self._rows) if p.doc_id in item.doc_ids}
        return rows

    def ask(self, item: EvalItem, top_k: int) -> tuple[dict, list[dict], float] | None:
        """-> (answer, ranking, latency ms) from the snapshot without the item's evidence; None if none is found."""
        rows = self.rows_to_withhold(item)
        if not rows:
            return None
        # masking works on the index itself: the one place evaluation holds the facade's snapshot
        qa = self.qa.with_snapshot(snapshot_without(self.qa.snapshot, rows, self._tokens_of))
        started = time.perf_counter()
        answer = qa.ask(item.question, top_k=top_k)
        latency = (time.perf_counter() - started) * 1000
        return answer.to_dict(), ranked_paragraphs(qa.search(item.question, top_k=RANK_DEPTH)), latency


def run_withheld(items: Sequence[EvalItem], qa, top_k: int = 5,
                 show_progress: bool = True) -> tuple[list[dict], dict[str, int]]:
    """Every answerable item, its evidence withheld, scored as an unanswerable question.

    -> (records, counts): counts["asked"], ["no_evidence_found"] (nothing to withhold),
    ["answered_from_elsewhere"] (a gold answer came back: left out of the records).
    """
    withheld = WithheldEvidence(qa)
    records: list[dict] = []
    counts = {"asked": 0, "no_evidence_found": 0, "answered_from_elsewhere": 0}
    for item in tqdm([i for i in items if i.answerable], desc="evidence withheld", unit="q", disable=not show_progress):
        result = withheld.ask(item, top_k)
        if result is None:
            counts["no_evidence_found"] += 1
            continue
        answer, ranked, latency = result
        counts["asked"] += 1
        if not answer["abstained"] and answer_correct(answer["answer"], item.answers, item.list_items):
            counts["answered_from_elsewhere"] += 1
            continue
        unanswerable = dataclasses.replace(item, answers=[], list_items=[], evidence=[], doc_ids=[],
                                           answerable=False, type="withheld")
        records.append(score_item(unanswerable, answer, ranked, latency))
    return records, counts
