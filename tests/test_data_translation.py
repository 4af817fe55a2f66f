"""course_lib.data, section "synthetic tasks (chapter 06)": the toy language pair."""

import pytest
import torch

from course_lib.data import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    num_translation_pairs,
    toy_translation,
    translate,
    translation_pairs,
    translation_vocab,
)


def test_the_rule_reorders_and_translates():
    assert translate("the big dog chases a red ball") == "ka hund dor ni bol ruk o kasa"
    assert translate("a cat sees the tree") == "ni mao ka arb o mira"


def test_bad_sentences_are_clear_errors():
    with pytest.raises(ValueError, match="exactly one verb"):
        translate("the dog the cat")
    with pytest.raises(ValueError, match="not a noun phrase"):
        translate("dog sees the cat")


def test_pairs_are_distinct_and_seeded():
    g = torch.Generator().manual_seed(0)
    pairs = translation_pairs(500, g)
    assert len({src for src, _ in pairs}) == 500
    assert pairs == translation_pairs(500, torch.Generator().manual_seed(0))
    assert all(translate(src) == tgt for src, tgt in pairs)
    assert num_translation_pairs() == 75_264
    with pytest.raises(ValueError, match=r"n must be in \[1, 75264\], got 0"):
        translation_pairs(0)


def test_toy_translation_tensors_round_trip():
    src, tgt, vocab = toy_translation(50, torch.Generator().manual_seed(1))
    assert src.shape == (50, 7) and tgt.shape == (50, 10) and len(vocab) == 48
    assert vocab.tokens[:3] == ("<pad>", "<bos>", "<eos>")
    assert (tgt[:, 0] == BOS_ID).all() and ((tgt == EOS_ID).sum(1) == 1).all()
    for s, t in zip(src, tgt, strict=True):
        assert translate(vocab.decode(s)) == vocab.decode(t)
        for row in (s, t):  # padding only at the end
            n = int((row != PAD_ID).sum())
            assert (row[:n] != PAD_ID).all() and (row[n:] == PAD_ID).all()
    assert vocab.encode("the dog") == [3, 11]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        translation_vocab().encode("the unicorn")
