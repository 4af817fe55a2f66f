"""course_lib.data, section "synthetic tasks (chapter 06)": the toy language pair."""

import pytest
import torch

from course_lib.tasks import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    num_translation_pairs,
    toy_translation,
    translate,
    translation_pairs,
    translation_tokenizer,
)


def test_the_rule_reorders_and_translates():
    assert translate("the big dog chases a red ball") == "ka hund dor ni bol ruk o kasa"
    assert translate("a cat sees the tree") == "ni mao ka arb o mira"


def test_bad_sentences_are_clear_errors():
    with pytest.raises(ValueError, match="exactly one verb"):
        translate("the dog the cat")
    with pytest.raises(ValueError, match="not a noun phrase"):
        translate("dog sees the cat")


# Translated by hand with the rule (subject and object: det noun [adj]; then "o" and
# the verb), not with translate(): the first pairs that seed 0 and seed 1 draw.
SEED0_PAIRS = [
    ("the red bird follows a child", "ka tori ruk ni kin o sigu"),
    ("the tall ball likes the tall tree", "ka bol ven ka arb ven o ama"),
    ("a big teacher follows the cat", "ni lem dor ka mao o sigu"),
    ("the red fish follows a small tree", "ka sak ruk ni arb pim o sigu"),
    ("a red bird finds the happy tree", "ni tori ruk ka arb jol o tova"),
    ("the red cat finds a tall bird", "ka mao ruk ni tori ven o tova"),
]
SEED1_PAIRS = [
    ("a cat likes the small teacher", "ni mao ka lem pim o ama"),
    ("the quiet child likes a big teacher", "ka kin sil ni lem dor o ama"),
    ("a small bird follows a big bird", "ni tori pim ni tori dor o sigu"),
]
VOCAB = (
    "<pad> <bos> <eos> the a big small red tall happy quiet dog cat bird fish child "
    "teacher ball tree sees likes chases finds helps follows ka ni dor pim ruk ven "
    "jol sil hund mao tori sak kin lem bol arb mira ama kasa tova ayu sigu o"
).split()


def test_every_word_translates_as_the_lexicon_says():
    lexicon = {
        "the": "ka",
        "a": "ni",
        "big": "dor",
        "small": "pim",
        "red": "ruk",
        "tall": "ven",
        "happy": "jol",
        "quiet": "sil",
        "dog": "hund",
        "cat": "mao",
        "bird": "tori",
        "fish": "sak",
        "child": "kin",
        "teacher": "lem",
        "ball": "bol",
        "tree": "arb",
        "sees": "mira",
        "likes": "ama",
        "chases": "kasa",
        "finds": "tova",
        "helps": "ayu",
        "follows": "sigu",
    }
    adjectives = ["big", "small", "red", "tall", "happy", "quiet"]
    nouns = ["dog", "cat", "bird", "fish", "child", "teacher", "ball", "tree"]
    verbs = ["sees", "likes", "chases", "finds", "helps", "follows"]
    for i, verb in enumerate(verbs):
        adj, noun = adjectives[i], nouns[i]
        obj_adj, obj = adjectives[-1 - i], nouns[-1 - i]
        src = f"the {adj} {noun} {verb} a {obj_adj} {obj}"
        tgt = " ".join(lexicon[w] for w in ["the", noun, adj, "a", obj, obj_adj])
        assert translate(src) == f"{tgt} o {lexicon[verb]}"
    assert translate("a fish helps the dog") == "ni sak ka hund o ayu"


def test_pairs_are_distinct_seeded_and_follow_the_rule():
    g = torch.Generator().manual_seed(0)
    pairs = translation_pairs(500, g)
    assert len({src for src, _ in pairs}) == 500
    assert pairs[:6] == SEED0_PAIRS
    assert pairs == translation_pairs(500, torch.Generator().manual_seed(0))
    # (2 determiners x (no adjective or one of 6) x 8 nouns)^2 x 6 verbs
    assert num_translation_pairs() == (2 * 7 * 8) ** 2 * 6 == 75_264
    with pytest.raises(ValueError, match=r"n must be in \[1, 75264\], got 0"):
        translation_pairs(0)


def test_toy_translation_tensors_hold_the_pairs():
    src, tgt, vocab = toy_translation(50, torch.Generator().manual_seed(1))
    assert src.shape == (50, 7) and tgt.shape == (50, 10)
    assert list(vocab.tokens) == VOCAB
    assert (tgt[:, 0] == BOS_ID).all() and ((tgt == EOS_ID).sum(1) == 1).all()
    for i, (want_s, want_t) in enumerate(SEED1_PAIRS):
        assert vocab.decode(src[i]) == want_s and vocab.decode(tgt[i]) == want_t
    # the first row, id by id: "a cat likes the small teacher" and its translation
    assert src[0].tolist() == [4, 12, 20, 3, 6, 16, PAD_ID]
    assert tgt[0].tolist() == [BOS_ID, 26, 34, 25, 38, 28, 47, 42, EOS_ID, PAD_ID]
    for row in (*src, *tgt):  # padding only at the end
        n = int((row != PAD_ID).sum())
        assert (row[:n] != PAD_ID).all() and (row[n:] == PAD_ID).all()
    assert vocab.encode("the dog") == [3, 11]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        translation_tokenizer().encode("the unicorn")
