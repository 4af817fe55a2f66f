"""course_lib.tokenizers against Hugging Face's `tokenizers` and `transformers`."""

import random
from collections import Counter
from itertools import pairwise

import pytest
import regex
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from course_lib.corpora import load_corpus
from course_lib.hf import to_hf_tokenizer
from course_lib.tokenizers import (
    GPT2_PATTERN,
    BPETokenizer,
    CharTokenizer,
    bytes_to_unicode,
    merge,
)

SAMPLES = [
    "The weather is warm today, and tomorrow it will rain.",
    "今天天气很好，明天会下雨。",
    "emoji 🙂👍🏽 and a family 👨‍👩‍👧, café naïve Ωμέγα",
    "tabs\tand  double  spaces\n\n  new lines\r\n",
    "non-breaking\xa0space, ideographic\u3000space, separators\x1c\u2028end",
    "",
]


def random_unicode(rng: random.Random, n: int) -> str:
    """Text drawn from all of Unicode's planes, surrogates excluded."""
    chars = []
    for _ in range(n):
        cp = rng.choice([rng.randrange(0x20, 0x80), rng.randrange(0x80, 0x110000)])
        if 0xD800 <= cp < 0xE000:
            cp = 0x20
        chars.append(chr(cp))
    return "".join(chars)


@pytest.fixture(scope="module")
def text():
    return load_corpus().text[:100_000]


@pytest.fixture(scope="module")
def bpe(text):
    return BPETokenizer.train(text + " ".join([SAMPLES[1]] * 50), 400)


def test_char_tokenizer_round_trip_and_save(tmp_path):
    tok = CharTokenizer.from_text("hello world")
    assert tok.chars == [" ", "d", "e", "h", "l", "o", "r", "w"]  # sorted, once each
    assert tok.vocab_size == 8
    assert tok.encode("hello world") == [3, 2, 4, 4, 5, 0, 7, 5, 6, 4, 1]
    assert tok.decode(tok.encode("world hello")) == "world hello"
    tok.save(tmp_path / "char.json")
    again = CharTokenizer.load(tmp_path / "char.json")
    assert again.chars == tok.chars


def test_char_tokenizer_names_an_unseen_character():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"'z' \(U\+007A\) at index 1"):
        tok.encode("az")
    with pytest.raises(ValueError, match=r"ints in \[0, 3\)"):
        tok.decode([0, 3])


def test_merge_does_not_overlap():
    assert merge([7, 7, 7], (7, 7), 9) == [9, 7]
    assert merge([1, 2, 3, 1, 2], (1, 2), 5) == [5, 3, 5]
    assert merge([1], (1, 2), 5) == [1]


def test_bpe_first_merge_is_the_most_frequent_pair():
    tok = BPETokenizer.train("aaabdaaabac", 257, pattern=r"[\s\S]+")
    assert tok.merges == [(ord("a"), ord("a"))]
    assert tok.vocab[256] == b"aa"


def bpe_merges_by_hand(text, vocab_size, pattern):
    """BPE training the slow, obvious way: count every pair of every pre-token again
    before each merge; the most frequent pair wins, ties to the smaller ids; stop at
    vocab_size tokens or when no pair occurs twice."""
    words = [list(w.encode("utf-8")) for w in regex.findall(pattern, text)]
    vocab = [bytes([b]) for b in range(256)]
    merges = []
    while len(vocab) < vocab_size:
        counts = Counter(p for w in words for p in pairwise(w))
        if not counts:
            break
        best = max(counts, key=lambda p: (counts[p], -p[0], -p[1]))
        if counts[best] < 2:
            break
        token = vocab[best[0]] + vocab[best[1]]
        if token not in vocab:
            vocab.append(token)
        new_id = vocab.index(token)
        merges.append(best)
        for n, w in enumerate(words):
            out, i = [], 0
            while i < len(w):
                if tuple(w[i : i + 2]) == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[n] = out
    return merges


@pytest.mark.parametrize("vocab_size", [280, 330])
def test_bpe_training_equals_the_slow_obvious_algorithm(text, vocab_size):
    sample = text[:4000] + " ".join([SAMPLES[1]] * 3)
    ours = BPETokenizer.train(sample, vocab_size)
    assert ours.merges == bpe_merges_by_hand(sample, vocab_size, GPT2_PATTERN)


def test_bpe_ties_go_to_the_smaller_ids_and_single_pairs_are_not_merged():
    # "ab" and "cd" both occur twice: "ab" (97, 98) has the smaller ids
    tok = BPETokenizer.train("abab cdcd", 257, pattern=r"[\s\S]+")
    assert tok.merges == [(97, 98)]
    # then "cd"; after it every pair ("ab ab", "ab ", ...) occurs once: nothing
    # more is learned, however large the vocabulary asked for
    tok = BPETokenizer.train("abab cdcd", 300, pattern=r"[\s\S]+")
    assert tok.merges == [(97, 98), (99, 100)]
    assert tok.vocab_size == 258


def test_bpe_rejects_a_vocab_below_256():
    with pytest.raises(ValueError, match="256 byte values"):
        BPETokenizer.train("hello", 100)


@pytest.mark.parametrize("seed", range(5))
def test_bpe_round_trips_any_unicode(bpe, seed):
    sample = random_unicode(random.Random(seed), 300)
    assert bpe.decode(bpe.encode(sample)) == sample


def test_bpe_round_trips_samples_and_compresses_chinese(bpe):
    for sample in SAMPLES:
        assert bpe.decode(bpe.encode(sample)) == sample
    chinese = SAMPLES[1]
    assert len(bpe.encode(chinese)) < len(chinese.encode("utf-8"))


def test_bpe_save_load_is_identical(bpe, tmp_path, text):
    bpe.save(tmp_path / "bpe.json")
    again = BPETokenizer.load(tmp_path / "bpe.json")
    assert again.vocab == bpe.vocab and again.merges == bpe.merges
    assert again.encode(text[:5000]) == bpe.encode(text[:5000])
    with pytest.raises(ValueError, match="expected 'char'"):
        CharTokenizer.load(tmp_path / "bpe.json")


def test_bpe_ids_and_byte_strings_are_one_to_one(bpe):
    assert len(set(bpe.vocab)) == len(bpe.vocab) == bpe.vocab_size == 400


@pytest.mark.parametrize("vocab_size", [300, 512])
def test_bpe_compresses_like_the_tokenizers_library(text, vocab_size):
    ours = BPETokenizer.train(text, vocab_size)
    lib = Tokenizer(models.BPE())
    lib.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lib.train_from_iterator([text], trainer)
    assert lib.get_vocab_size() == ours.vocab_size == vocab_size
    n_ours, n_lib = len(ours.encode(text)), len(lib.encode(text).ids)
    assert abs(n_ours - n_lib) / n_lib < 0.03, (n_ours, n_lib)


def test_bytes_to_unicode_matches_the_tokenizers_library():
    ours = set(bytes_to_unicode().values())
    assert ours == set(pre_tokenizers.ByteLevel.alphabet())
    assert len(ours) == 256


def test_hf_bpe_encodes_and_decodes_like_ours(bpe, text):
    hf = to_hf_tokenizer(bpe)
    assert isinstance(hf, PreTrainedTokenizerFast)
    assert len(hf) == bpe.vocab_size
    rng = random.Random(0)
    for sample in [*SAMPLES, text[:20_000], random_unicode(rng, 500)]:
        ids = bpe.encode(sample)
        assert hf(sample)["input_ids"] == ids
        assert hf.decode(ids) == bpe.decode(ids) == sample
    cut = bpe.encode("天")[:1]  # half a character decodes to U+FFFD in both
    assert hf.decode(cut) == bpe.decode(cut)
    # "天" is the bytes E5 A4 A9; ids 0-255 are bytes: two of its three bytes are
    # one replacement character, not nothing
    assert bpe.decode([0xE5, 0xA4]) == hf.decode([0xE5, 0xA4]) == "\ufffd"
    assert bpe.decode([0xE5, 0xA4, 0xA9]) == "天"


def test_hf_char_encodes_and_decodes_like_ours(text):
    tok = CharTokenizer.from_text(text)
    hf = to_hf_tokenizer(tok)
    sample = text[:20_000]
    ids = tok.encode(sample)
    assert hf(sample)["input_ids"] == ids
    assert hf.decode(ids) == sample
    assert hf.convert_ids_to_tokens(ids[:5]) == list(sample[:5])


def test_to_hf_tokenizer_rejects_other_objects():
    with pytest.raises(ValueError, match="CharTokenizer or BPETokenizer"):
        to_hf_tokenizer("gpt2")


def test_the_library_decoder_is_byte_level():
    # guards the bridge's assumption: HF's ByteLevel decoder maps bytes_to_unicode back
    dec = decoders.ByteLevel()
    chars = bytes_to_unicode()
    assert dec.decode(["".join(chars[b] for b in "é".encode())]) == "é"
