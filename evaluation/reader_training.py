"""`notesqa train reader`: fine-tune the span reader's top layers and head on the training sets.

Training data are the SQuAD-style training sets only (DRCD test, CMRC 2018 trial; never CMRC 2018 dev).
Each question is read against its own passage (windows holding the answer point at it, the others at
"no span") and, for a share of the questions, against another paragraph of the same article (a near miss
that must say "no span"). A share of DRCD's traditional-Chinese questions is read in simplified
characters too, so both scripts are seen. Articles are split once into a training part and a held-out
part; the report gives the held-out figures only.

The frozen lower layers are run once over every window and their states kept, so each epoch runs only
the fine-tuned layers: about 80 minutes on 2 cores for the full sets (10 layers, under bfloat16 autocast
where the CPU has native bfloat16). Fixed seeds and deterministic kernels make a rerun on the same machine
give the same file.
"""
from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from tqdm.auto import tqdm

from evaluation.scoring import char_f1, exact_match
from retrieval.answer.encoder import E5Tokenizer, read_packed
from retrieval.answer.span_reader import (DEFAULT_READER, SpanReader, SpanReaderNet, Window, WindowSettings, Windower,
                                          batch, load_reader)

log = logging.getLogger(__name__)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
READER_SETS = {"drcd": "drcd-test/raw/DRCD_test.json", "cmrc2018-trial": "cmrc2018-trial/raw/cmrc2018_trial.json"}


@dataclass(frozen=True)
class ReaderTrainingSettings:
    frozen_layers: int = 2  # of 12: the top 10 and the head are fine-tuned
    epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 1e-4
    warmup: float = 0.1  # share of the steps the learning rate ramps up over
    weight_decay: float = 0.01
    dropout: float = 0.1  # in the fine-tuned layers, as BERT was pretrained
    # fine-tuning matmuls in bfloat16 (fp32 weights and optimiser): about 1.8x faster on CPUs with
    # AMX/AVX512-BF16, but emulated and several times slower on one without (AVX2 only). None: bfloat16 where
    # the CPU has it (`native_bf16`). Serving stays fp32
    bf16: bool | None = None
    held_out: float = 0.1  # share of each set's articles kept out of training, for the report
    own_negatives: int = 1  # windows of the question's own passage without the answer kept per question
    near_miss_share: float = 0.3  # questions also read against another paragraph of their article
    simplified_share: float = 0.5  # DRCD questions read in simplified characters
    seed: int = 13


@dataclass
class ReaderQuestion:
    set_name: str
    article: str
    question: str
    context: str
    answers: list[str]
    answer_start: int
    other_context: str | None  # another paragraph of the same article


def load_reader_questions(path: Path, set_name: str, cfg: ReaderTrainingSettings,
                          rng: random.Random) -> list[ReaderQuestion]:
    data = json.loads(path.read_text(encoding="utf-8"))
    to_simplified = _simplifier() if set_name == "drcd" else None
    out: list[ReaderQuestion] = []
    for ai, article in enumerate(data["data"]):
        contexts = [p["context"] for p in article["paragraphs"]]
        for pi, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                answers = [a for a in qa.get("answers", []) if a.get("text")]
                if not answers:
                    continue
                first = answers[0]
                context, question, texts = paragraph["context"], qa["question"], [a["text"] for a in answers]
                start = int(first["answer_start"])
                if context[start:start + len(first["text"])] != first["text"]:
                    start = context.find(first["text"])
                    if start < 0:
                        continue
                others = [c for ci, c in enumerate(contexts) if ci != pi]
                other = rng.choice(others) if others and rng.random() < cfg.near_miss_share else None
                if to_simplified and rng.random() < cfg.simplified_share:
                    converted = [to_simplified(t) for t in (context, question, *texts)]
                    if all(len(a) == len(b) for a, b in zip(converted, (context, question, *texts))):
                        context, question, texts = converted[0], converted[1], converted[2:]
                        other = to_simplified(other) if other else None
                out.append(ReaderQuestion(set_name, f"{set_name}/{ai}", question, context, texts, start, other))
    return out


def _simplifier():
    import opencc  # type: ignore

    return opencc.OpenCC("t2s").convert


@dataclass
class LabelledWindow:
    window: Window
    start: int  # index into window.ids; 0 (<s>) for "no span"
    end: int


def label_windows(windower: Windower, q: ReaderQuestion, cfg: ReaderTrainingSettings,
                  rng: random.Random) -> list[LabelledWindow]:
    qids = windower.question_ids(q.question)
    a, b = q.answer_start, q.answer_start + len(q.answers[0])
    positives, negatives = [], []
    for w in windower.windows(qids, q.context):
        first = next((i for i, (s, e) in enumerate(w.offsets) if e > a), None)
        last = next((i for i in range(len(w.offsets) - 1, -1, -1) if w.offsets[i][0] < b), None)
        inside = (first is not None and last is not None and first <= last and w.offsets[first][0] <= a
                  and w.offsets[last][1] >= b)
        if inside:
            positives.append(LabelledWindow(w, w.context_start + first, w.context_start + last))
        else:
            negatives.append(LabelledWindow(w, 0, 0))
    rng.shuffle(negatives)
    out = positives + negatives[:cfg.own_negatives]
    if q.other_context:
        out.append(LabelledWindow(rng.choice(windower.windows(qids, q.other_context)), 0, 0))
    return out


def split_articles(questions: list[ReaderQuestion], share: float, seed: int) -> tuple[list, list]:
    articles = sorted({q.article for q in questions})
    rng = random.Random(seed)
    rng.shuffle(articles)
    held = set(articles[:max(1, int(len(articles) * share))])
    return [q for q in questions if q.article not in held], [q for q in questions if q.article in held]


def fit_reader(questions: list[ReaderQuestion], cfg: ReaderTrainingSettings,
               windows_cfg: WindowSettings) -> tuple[SpanReaderNet, dict]:
    import torch

    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(True)
    bf16 = native_bf16() if cfg.bf16 is None else cfg.bf16
    rng = random.Random(cfg.seed)
    net = SpanReaderNet(read_packed(), cfg.frozen_layers, cfg.dropout)
    windower = _windower(net, windows_cfg)
    labelled = [lw for q in questions for lw in label_windows(windower, q, cfg, rng)]
    log.info("%d questions -> %d windows", len(questions), len(labelled))
    # the frozen layers see every window once: their states are the fine-tuned layers' input in every epoch
    order = sorted(range(len(labelled)), key=lambda i: len(labelled[i].window.ids))
    # one buffer for every window's states: thousands of separate tensors between the freed activations of
    # each batch fragment the heap to several times their size
    lengths = [len(lw.window.ids) for lw in labelled]
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    states = torch.empty((int(starts[-1]), net.packed.hidden), dtype=torch.float16)
    net.eval()
    t0 = time.time()
    with torch.inference_mode():
        for at in tqdm(range(0, len(order), 32), desc="frozen layers", unit="batch"):
            group = order[at:at + 32]
            ids, mask = batch([labelled[i].window for i in group], net.packed.pad)
            hidden = net.lower(ids, torch.from_numpy(mask))
            for row, i in enumerate(group):
                states[starts[i]:starts[i + 1]] = hidden[row, :lengths[i]]
    frozen_s = time.time() - t0
    batches = [order[at:at + cfg.batch_size] for at in range(0, len(order), cfg.batch_size)]
    steps = len(batches) * cfg.epochs
    params = net.trainable()
    optimiser = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    warm = max(1, int(steps * cfg.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    net.train()
    losses = []
    t0 = time.time()
    progress = tqdm(total=steps, desc="fine-tuning", unit="step")
    for epoch in range(cfg.epochs):
        rng.shuffle(batches)
        for group in batches:
            longest = max(lengths[i] for i in group)
            hidden = torch.zeros((len(group), longest, net.packed.hidden))
            mask = torch.zeros((len(group), longest), dtype=torch.long)
            for row, i in enumerate(group):
                hidden[row, :lengths[i]] = states[starts[i]:starts[i + 1]].float()
                mask[row, :lengths[i]] = 1
            gold_s = torch.tensor([labelled[i].start for i in group])
            gold_e = torch.tensor([labelled[i].end for i in group])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                start, end = net.upper(hidden, mask)
            start, end = start.float(), end.float()
            loss = (torch.nn.functional.cross_entropy(start, gold_s) + torch.nn.functional.cross_entropy(end, gold_e)) / 2
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
            progress.update(1)
            progress.set_postfix(epoch=epoch, loss=f"{np.mean(losses[-50:]):.3f}")
    progress.close()
    net.eval()
    return net, {"windows": len(labelled), "questions": len(questions), "steps": steps, "bf16": bf16,
                 "frozen_layers_seconds": round(frozen_s), "fine_tuning_seconds": round(time.time() - t0),
                 "final_loss": round(float(np.mean(losses[-50:])), 4) if losses else None}


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 matmuls natively (AVX512-BF16 or AMX), as torch detects it."""
    import torch

    return any(getattr(torch.cpu, probe, lambda: False)() for probe in ("_is_avx512_bf16_supported",
                                                                         "_is_amx_tile_supported"))


def _windower(net: SpanReaderNet, settings: WindowSettings) -> Windower:
    return Windower(E5Tokenizer(net.packed), settings)


def held_out_report(reader: SpanReader, questions: list[ReaderQuestion]) -> dict:
    """EM / char F1 of the best span in the question's own passage, and how well the best span's
    probability tells the own passage from a near miss (ROC AUC), on questions training never saw."""
    from sklearn.metrics import roc_auc_score

    em, f1, own, near = [], [], [], []
    for q in tqdm(questions, desc="held-out", unit="q"):
        spans = reader.read(q.question, [q.context], top=1)
        got = q.context[spans[0].start:spans[0].end] if spans else ""
        em.append(exact_match(got, q.answers))
        f1.append(char_f1(got, q.answers))
        own.append(spans[0].probability if spans else 0.0)
        if q.other_context:
            other = reader.read(q.question, [q.other_context], top=1)
            near.append(other[0].probability if other else 0.0)
    auc = None
    if near:
        auc = float(roc_auc_score([1] * len(own) + [0] * len(near), own + near))
    return {"questions": len(questions), "exact_match": round(float(np.mean(em)), 4),
            "char_f1": round(float(np.mean(f1)), 4), "near_misses": len(near),
            "own_vs_near_miss_auc": None if auc is None else round(auc, 4)}


def reference_readings(reader: SpanReader, questions: list[ReaderQuestion], count: int) -> list[dict]:
    """A few held-out questions with the span the written file reads for them: a test reads them again."""
    out = []
    for q in questions[:count]:
        spans = reader.read(q.question, [q.context], top=1)
        out.append({"question": q.question, "context": q.context,
                    "span": [spans[0].start, spans[0].end] if spans else None})
    return out


def held_out_question_ids(shared: Path, cfg: ReaderTrainingSettings) -> set[str]:
    """The ids (as the SQuAD files give them) of every question in the articles `cfg`'s split holds out: the
    questions a reader trained with `cfg` never saw."""
    articles = {q.article for q in reader_questions(shared, cfg)[1]}
    ids: set[str] = set()
    for name, relative in READER_SETS.items():
        path = shared / relative
        if not path.exists():
            continue
        for ai, article in enumerate(json.loads(path.read_text(encoding="utf-8"))["data"]):
            if f"{name}/{ai}" in articles:
                ids.update(str(qa["id"]) for paragraph in article["paragraphs"] for qa in paragraph["qas"]
                           if qa.get("id"))
    return ids


def reader_questions(shared: Path, cfg: ReaderTrainingSettings, limit: int = 0,
                     sets: list[str] | None = None) -> tuple[list[ReaderQuestion], list[ReaderQuestion]]:
    """(training, held-out) questions of the training sets, split by article."""
    rng = random.Random(cfg.seed)
    train, held = [], []
    for name in sets or list(READER_SETS):
        path = shared / READER_SETS[name]
        if not path.exists():
            log.warning("training set %s not found at %s: left out", name, path)
            continue
        questions = load_reader_questions(path, name, cfg, rng)
        questions = questions[:limit] if limit else questions
        part_train, part_held = split_articles(questions, cfg.held_out, cfg.seed)
        train += part_train
        held += part_held
    return train, held


def write_report(path: Path, held: list[ReaderQuestion], fit: dict, cfg: ReaderTrainingSettings,
                 references: int = 10) -> dict:
    """Read the written file back (its fp16 weights are what serves), score it on the held-out questions
    and store the report, with reference readings, in the file."""
    reader = load_reader_file(path)
    by_set = {name: held_out_report(reader, [q for q in held if q.set_name == name])
              for name in sorted({q.set_name for q in held})}
    reader.report = {"settings": asdict(cfg), "fit": fit, "held_out": by_set,
                     "references": reference_readings(reader, held, references)}
    reader.save(path)
    return reader.report


def load_reader_file(path: Path) -> SpanReader:
    return load_reader(path, fresh=True)


def reader_command(
        out: Annotated[Path, typer.Option(help="Where the reader file goes.")] = DEFAULT_READER,
        shared: Annotated[Path, typer.Option(help="The shared datasets folder.")] = SHARED,
        epochs: Annotated[int, typer.Option(help="Passes over the training windows.")] = ReaderTrainingSettings.epochs,
        frozen_layers: Annotated[int, typer.Option(help="Lower encoder layers kept as shipped (of 12).")]
        = ReaderTrainingSettings.frozen_layers,
        learning_rate: Annotated[float, typer.Option(help="Peak AdamW learning rate.")]
        = ReaderTrainingSettings.learning_rate,
        bf16: Annotated[bool | None, typer.Option(
            "--bf16/--no-bf16", help="Fine-tune under bfloat16 autocast (fp32 weights) [default: where the CPU "
                                     "has native bfloat16, AVX512-BF16 or AMX].")] = ReaderTrainingSettings.bf16,
        limit: Annotated[int, typer.Option(help="At most this many questions per set (0: all).")] = 0,
        sets: Annotated[str, typer.Option(help="Comma-separated training sets.")] = ",".join(READER_SETS),
        report_only: Annotated[bool, typer.Option(help="Only re-score the existing file on the held-out part.")]
        = False,
) -> None:
    """Fine-tune the span reader (top encoder layers and start/end head) on DRCD test and CMRC 2018 trial;
    write the reader file and print the held-out report. About 80 minutes on 2 cores."""
    cfg = ReaderTrainingSettings(epochs=epochs, frozen_layers=frozen_layers, learning_rate=learning_rate, bf16=bf16)
    wanted = [s.strip() for s in sets.split(",") if s.strip()]
    unknown = set(wanted) - set(READER_SETS)
    if unknown:
        raise typer.BadParameter(f"unknown training set(s) {sorted(unknown)}; choose from {list(READER_SETS)}")
    train, held = reader_questions(shared, cfg, limit, wanted)
    if report_only:
        fit = load_reader_file(out).report.get("fit", {})
    else:
        if not train:
            raise typer.BadParameter(f"no training questions found under {shared}")
        net, fit = fit_reader(train, cfg, WindowSettings())
        out.parent.mkdir(parents=True, exist_ok=True)
        SpanReader(net, WindowSettings()).save(out)
    report = write_report(out, held, fit, cfg)
    report = {k: v for k, v in report.items() if k != "references"}
    typer.echo(json.dumps(report, ensure_ascii=False, indent=1))
    typer.echo(f"wrote {out}")
