"""Chapter 02's checkers: a right answer passes; each typical mistake gets its own
message, and the buggy originals fail with the symptom named."""

import pytest
import regex

from course_lib.exercises import ch02_tokens_and_embeddings as ch02
from course_lib.exercises import check
from course_lib.tokenizers import GPT2_PATTERN
from tests.helpers import assert_fails


def run(exercise_id, answer):
    return check(exercise_id, answer, quiet=True)


# --- tokens.merge_overlap ---


def merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def first_only(ids, pair, new_id):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair:
            return ids[:i] + [new_id] + ids[i + 2 :]
    return ids


def drops_last(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids) - 1:
        if (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def test_merge_overlap():
    assert run("tokens.merge_overlap", merge).passed
    assert_fails("tokens.merge_overlap", ch02.buggy_merge, "shared the middle 7")
    assert_fails("tokens.merge_overlap", first_only, "only the first occurrence")
    assert_fails("tokens.merge_overlap", drops_last, "dropped")
    assert_fails("tokens.merge_overlap", lambda ids, p, n: ids, "gave")


def test_the_buggy_merge_really_breaks_a_round_trip():
    # what the chapter shows: '---' comes back as '----'
    ids = ch02.buggy_merge(list(b"a --- b"), (45, 45), 256)
    vocab = {i: bytes([i]) for i in range(256)} | {256: b"--"}
    assert b"".join(vocab[i] for i in ids) == b"a ---- b"


# --- tokens.positions_axis ---


def test_positions_axis():
    assert run(
        "tokens.positions_axis", lambda idx, tok, pos: tok(idx) + pos(idx.shape[1])
    ).passed
    assert_fails("tokens.positions_axis", ch02.buggy_embed, "position 0's vector")
    assert_fails(
        "tokens.positions_axis",
        lambda idx, tok, pos: tok(idx) + pos(idx.shape[1] + 1)[1:],
        "shifted by one",
    )
    assert_fails("tokens.positions_axis", lambda idx, tok, pos: tok(idx), "no position")
    assert_fails(
        "tokens.positions_axis",
        lambda idx, tok, pos: tok(idx) * pos(idx.shape[1]),
        "values are not",
    )
    assert_fails(
        "tokens.positions_axis",
        lambda idx, tok, pos: (tok(idx) + pos(idx.shape[1]))[0],
        "expected \\(B, T, C\\)",
    )


# --- tokens.chinese_cost ---


def test_chinese_cost():
    assert run("tokens.chinese_cost", 6).passed
    assert_fails("tokens.chinese_cost", 4, "never merged")
    assert_fails("tokens.chinese_cost", 12, "bytes")
    assert_fails("tokens.chinese_cost", 3, "天天气")
    assert_fails("tokens.chinese_cost", 7, "not it")
    assert_fails("tokens.chinese_cost", 6.5, "whole number")
    assert_fails("tokens.chinese_cost", "6", "as a number")


# --- tokens.english_bpe_chinese ---


def test_english_bpe_chinese():
    assert run("tokens.english_bpe_chinese", 36).passed
    assert_fails("tokens.english_bpe_chinese", 12, "one token per character")
    assert_fails("tokens.english_bpe_chinese", 10, "without the punctuation")
    assert_fails("tokens.english_bpe_chinese", 32, "full-width")
    assert_fails("tokens.english_bpe_chinese", 30, "punctuation costs")
    assert_fails("tokens.english_bpe_chinese", 24, "not 2")
    assert_fails("tokens.english_bpe_chinese", 35, "not it")
    assert_fails("tokens.english_bpe_chinese", 36.5, "whole number")
    assert_fails("tokens.english_bpe_chinese", "36", "as a number")


@pytest.mark.slow
def test_the_checkers_tokenizer_counts_like_the_chapters_own():
    # the exercise asks about the chapter's BPETokenizer; the checker uses the faster
    # `tokenizers` library trained alike: on this sentence they must agree
    from course_lib.corpora import load_corpus
    from course_lib.tokenizers import BPETokenizer

    ours = BPETokenizer.train(load_corpus("pydocs").text, 1024)
    lib = ch02._corpus_bpe(1024)
    assert len(ours.encode(ch02.KITTEN)) == len(lib.encode(ch02.KITTEN).ids) == 36


# --- tokens.gpt2_tables ---


def test_gpt2_tables():
    assert run("tokens.gpt2_tables", 39_383_808).passed
    assert_fails("tokens.gpt2_tables", 50_257 * 768, "token table alone")
    assert_fails("tokens.gpt2_tables", 1_024 * 768, "position table alone")
    assert_fails("tokens.gpt2_tables", 50_257 + 1_024, "counts rows")
    assert_fails("tokens.gpt2_tables", 2 * 50_257 * 768 + 1_024 * 768, "ties")
    assert_fails("tokens.gpt2_tables", 1e6, "not it")


# --- tokens.bpe_encode ---


def encode(text, merges):
    out = []
    for word in regex.findall(GPT2_PATTERN, text):
        ids = list(word.encode("utf-8"))
        for i, pair in enumerate(merges):
            ids = merge(ids, pair, 256 + i)
        out += ids
    return out


def no_pretokens(text, merges):
    ids = list(text.encode("utf-8"))
    for i, pair in enumerate(merges):
        ids = merge(ids, pair, 256 + i)
    return ids


def per_word(text, merges):
    return [encode(word, merges) for word in regex.findall(GPT2_PATTERN, text)]


def test_bpe_encode():
    assert run("tokens.bpe_encode", encode).passed
    assert_fails("tokens.bpe_encode", no_pretokens, "crossed from one word")
    assert_fails(
        "tokens.bpe_encode",
        lambda text, merges: ch02._encode_ref(text, merges, leftmost=True),
        "leftmost pair",
    )
    assert_fails(
        "tokens.bpe_encode",
        lambda text, merges: ch02._encode_ref(text, merges, once=True),
        "only its first occurrence",
    )
    assert_fails(
        "tokens.bpe_encode", lambda text, m: list(text.encode()), "no merge was"
    )
    assert_fails("tokens.bpe_encode", per_word, "list of lists")


# --- tokens.fewer_merges ---


@pytest.mark.parametrize(
    "answer, message",
    [
        (0.3421, "1,024 vocabulary's figure"),
        (1 / 0.4653, "characters per token"),
        (0.5, "not what the cell prints"),
        (42, "cannot be"),
    ],
)
def test_fewer_merges_mistakes(answer, message):
    assert_fails("tokens.fewer_merges", answer, message)


def test_fewer_merges_right():
    # 0.4653 is also what our BPETokenizer.train(text, 512) gives (measured: 0.46533)
    assert run("tokens.fewer_merges", 0.4653).passed
