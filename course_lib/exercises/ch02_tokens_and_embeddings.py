"""Chapter 02: encoding new text with a merge table, two bugs (a merge that lets pairs
overlap, positions read from the wrong axis), three counts to predict and a vocabulary
size to change."""

import functools
import numbers

import torch
from torch import nn

from course_lib.exercises import Fail, exercise

CHINESE = "今天天气很好，明天天气不好，后天天气也不好。"  # the chapter's sentence


def _as_list(value, what: str) -> list[int]:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise Fail(f"{what} should be a list of ints, got {type(value).__name__}.")
    if value and all(isinstance(x, (list, tuple)) for x in value):
        raise Fail(
            f"{what} is a list of lists (one per pre-token?): return one flat list "
            "of ids, the pre-tokens' ids one after the other."
        )
    if not all(isinstance(x, numbers.Integral) for x in value):
        kinds = sorted({type(x).__name__ for x in value})
        raise Fail(f"{what} should be a list of ints, got a list of {kinds}.")
    return [int(x) for x in value]


def _number(answer, what: str) -> float:
    if callable(answer) or isinstance(answer, (str, bytes, bool)):
        raise Fail(f"write {what} as a number, got {type(answer).__name__}.")
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        answer = answer.item()
    if not isinstance(answer, numbers.Real):
        raise Fail(f"write {what} as a number, got {type(answer).__name__}.")
    return float(answer)


# --- find-the-bug: a merge that lets occurrences overlap ------------------------------


def buggy_merge(ids, pair, new_id):
    """Replace each occurrence of pair in ids by new_id."""
    out = []
    for i in range(len(ids)):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)  # the pair starts here
        elif i > 0 and (ids[i - 1], ids[i]) == pair:
            continue  # the second half of a pair merged at i - 1
        else:
            out.append(ids[i])
    return out


@exercise(
    "tokens.merge_overlap",
    "find the bug: a merge that turns '---' into '----'",
    kind="find-the-bug",
    hints=(
        "It goes wrong only when the pair is made of two equal ids and three or "
        "more of them stand in a row. Trace [7, 7, 7] with the pair (7, 7) by hand.",
        "At i = 1 the id was already used by the merge at i = 0, but the loop "
        "looks at (ids[1], ids[2]) and merges again: two merges share one id.",
        "Use a while loop: after a merge jump over BOTH ids (i += 2), otherwise copy "
        "ids[i] and i += 1, as merge_pair in section 3 does.",
    ),
    buggy=buggy_merge,
)
def check_merge_overlap(fn) -> str:
    cases = [
        (([1, 2, 3, 1, 2], (1, 2), 9), [9, 3, 9]),
        (([7, 7, 7], (7, 7), 9), [9, 7]),
        (([7, 7, 7, 7], (7, 7), 9), [9, 9]),
        (([3, 1, 2], (1, 2), 9), [3, 9]),
        (([1, 3, 2], (1, 2), 9), [1, 3, 2]),
        (([], (1, 2), 9), []),
    ]
    for (ids, pair, new_id), expected in cases:
        got = _as_list(fn(list(ids), pair, new_id), "merge(...)")
        if got == expected:
            continue
        where = f"merge({ids}, {pair}, {new_id}) gave {got}, expected {expected}"
        if ids == [7, 7, 7] and got in ([9, 9], [9, 9, 7]):
            raise Fail(
                f"{where}: two merges shared the middle 7, so decoding gives back "
                "four 7s for three (the '---' -> '----' above). After a merge, skip "
                "BOTH ids of the pair."
            )
        if ids == [1, 2, 3, 1, 2] and got == [9, 3, 1, 2]:
            raise Fail(f"{where}: only the first occurrence was merged.")
        if ids and len(got) == len(expected) - 1:
            raise Fail(
                f"{where}: an id was dropped. When i is the last index there is no "
                "pair: copy ids[i] as it is."
            )
        raise Fail(f"{where}.")
    return (
        "merges every occurrence left to right, and an id used by one merge is never "
        "used again: decode(encode(s)) == s."
    )


# --- find-the-bug: positions read from the wrong axis ---------------------------------


def buggy_embed(idx, tokens, positions):
    """Token vectors plus position vectors: idx (B, T) -> (B, T, C)."""
    T = idx.shape[0]
    return tokens(idx) + positions(T)  # (B, T, C) + (T, C)


def _embed_case(B: int, T: int = 5, V: int = 10, C: int = 4):
    from course_lib.layers import LearnedPositions

    g = torch.Generator().manual_seed(B)
    tokens, positions = nn.Embedding(V, C), LearnedPositions(max_len=16, C=C)
    with torch.no_grad():
        tokens.weight.copy_(torch.randn(V, C, generator=g))
        positions.weight.copy_(torch.randn(16, C, generator=g))
    idx = torch.randint(V, (B, T), generator=g)
    return idx, tokens, positions


@exercise(
    "tokens.positions_axis",
    "find the bug: token + position vectors that forget word order",
    kind="find-the-bug",
    hints=(
        "With one sentence (B = 1) the same character at two places got the same "
        "vector. Which position vectors were added?",
        "idx is (B, T): which of its two sizes is the number of positions?",
        "T = idx.shape[1] (or idx.shape[-1]).",
    ),
    buggy=buggy_embed,
)
def check_positions_axis(fn) -> str:
    for B in (1, 3):
        idx, tokens, positions = _embed_case(B)
        T = idx.shape[1]
        got = fn(idx.clone(), tokens, positions)
        if not isinstance(got, torch.Tensor):
            raise Fail(f"expected a (B, T, C) tensor, got {type(got).__name__}.")
        ref = tokens(idx) + positions(T)
        if tuple(got.shape) != tuple(ref.shape):
            raise Fail(
                f"for idx of shape {tuple(idx.shape)} expected (B, T, C) = "
                f"{tuple(ref.shape)}, got {tuple(got.shape)}."
            )
        if torch.allclose(got, tokens(idx) + positions(1)):
            raise Fail(
                "with one sequence (B = 1) every position got position 0's vector, "
                "so a token gets the same vector wherever it stands: word order is "
                "lost. The number of positions is idx.shape[1], not idx.shape[0]."
            )
        if torch.allclose(got, tokens(idx) + positions(T + 1)[1:]):
            raise Fail("the positions are shifted by one: position t takes row t.")
        if torch.allclose(got, tokens(idx)):
            raise Fail("no position vector was added.")
        if not torch.allclose(got, ref):
            raise Fail(
                "the shape is right, the values are not tokens(idx) + rows 0..T-1."
            )
    return (
        "each position t adds its own row: the same token at two places now has two "
        "vectors, which is all attention will know of order."
    )


# --- predict: the cost of a Chinese phrase -------------------------------------------


@exercise(
    "tokens.chinese_cost",
    "predict: how many tokens 天气很好 costs with the chapter's 8 Chinese merges",
    kind="predict",
    hints=(
        "Merges apply to new text in the order they were learned. Look at the eight "
        "merges printed in section 3: which characters became one token?",
        "天, 好 and 气 became one token each. 很 occurs once in the sentence, so its "
        "three bytes were never merged. Is 天气 (one 天, then 气) a merge?",
        "天 + 气 + 很's 3 bytes + 好 = 6 tokens: merge 263 is 天天气, which needs "
        "two 天.",
    ),
)
def check_chinese_cost(answer) -> str:
    from course_lib.tokenizers import BPETokenizer

    got = _number(answer, "your prediction (a count of tokens)")
    if got != int(got) or got < 0:
        raise Fail(f"a count of tokens is a whole number, got {got}.")
    tokenizer = BPETokenizer.train(CHINESE, 256 + 8)
    ids = tokenizer.encode("天气很好")
    ref = len(ids)
    pieces = " ".join(repr(tokenizer.vocab[i]) for i in ids)
    if got == ref:
        return (
            f"{ref}: {pieces}. Four characters, six tokens: 很 appeared once in the "
            "training sentence, so BPE never merged its bytes."
        )
    wrong = {
        4: "one token per character: 很 occurs once in the sentence, so its three "
        "bytes were never merged",
        12: "that is the bytes: the merges apply to new text too",
        3: "天气 is not one token: the merge 263 is 天天气 and needs two 天",
    }
    if got in wrong:
        raise Fail(f"{int(got)}: {wrong[got]}.")
    raise Fail(
        f"{int(got)} is not it. Apply the merges in order to the 12 bytes of 天气很好."
    )


# --- predict: the embedding tables of GPT-2 ------------------------------------------


@exercise(
    "tokens.gpt2_tables",
    "predict: parameters in GPT-2 small's token and position tables",
    kind="predict",
    hints=(
        "An embedding table has one row of C numbers per token; a learned position "
        "table one row per position.",
        "GPT-2 small: V = 50,257 tokens, C = 768, 1,024 learned positions.",
        "50,257 × 768 + 1,024 × 768 = 39,383,808.",
    ),
)
def check_gpt2_tables(answer) -> str:
    got = _number(answer, "your prediction (a count of parameters)")
    V, C, P = 50_257, 768, 1_024
    ref = (V + P) * C
    if got == ref:
        return (
            f"{ref:,}: nearly a third of GPT-2 small's 124 million parameters sit in "
            "these two tables, nearly all in the token table. A vocabulary of 50,257 "
            "is expensive."
        )
    wrong = {
        V * C: "that is the token table alone; add the 1,024 position rows",
        P * C: "that is the position table alone; add the 50,257 token rows",
        V + P: "that counts rows; each row holds C = 768 numbers",
        2 * V * C + P * C: "GPT-2 ties its output layer to the token table: the "
        "read-out reuses it, so count it once",
    }
    if got in wrong:
        raise Fail(f"{int(got):,}: {wrong[got]}.")
    raise Fail(f"{got:,.0f} is not it: rows times C, for each of the two tables.")


# --- implement: encode new text with a merge table ------------------------------------


def _encode_ref(text, merges, pretokenize=True, leftmost=False, once=False):
    import regex

    from course_lib.tokenizers import GPT2_PATTERN

    rank = {pair: 256 + i for i, pair in enumerate(merges)}
    words = regex.findall(GPT2_PATTERN, text) if pretokenize else [text]
    out = []
    for word in words:
        ids = list(word.encode("utf-8"))
        done = set()
        while True:
            pairs = [p for p in zip(ids, ids[1:], strict=False) if p in rank]
            if once:
                pairs = [p for p in pairs if p not in done]
            if not pairs:
                break
            pair = pairs[0] if leftmost else min(pairs, key=rank.get)
            done.add(pair)
            new, i = [], 0
            while i < len(ids):
                if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
                    new.append(rank[pair])
                    i += 2
                    if once:
                        new.extend(ids[i:])
                        break
                else:
                    new.append(ids[i])
                    i += 1
            ids = new
        out.extend(ids)
    return out


_T, _H, _E, _SP, _A = 116, 104, 101, 32, 97
_ENCODE_CASES = [
    ("the the", [(_E, _SP), (_T, _H), (257, _E)]),  # 'e ' may not cross words
    ("the", [(_H, _E), (_T, _H)]),  # rank, not position in the text
    ("aaaa aaaaa", [(_A, _A), (256, 256)]),  # every occurrence, again and again
]


@exercise(
    "tokens.bpe_encode",
    "bpe_encode(text, merges): new text to ids with a learned merge table",
    kind="implement",
    hints=(
        "Split the text into pre-tokens with GPT-2's pattern first (regex.findall("
        "GPT2_PATTERN, text)); each pre-token is encoded on its own, from its UTF-8 "
        "bytes.",
        "Merge number i made id 256 + i. Apply the merges in the order they were "
        "learned, each to every occurrence: merge_pair from section 3 does one.",
        "out = []; for word in regex.findall(GPT2_PATTERN, text): ids = "
        "list(word.encode()); for i, pair in enumerate(merges): ids = "
        "merge_pair(ids, pair, 256 + i); out += ids. Return out.",
    ),
)
def check_bpe_encode(fn) -> str:
    from course_lib.tokenizers import BPETokenizer

    english = "The weather is warm today; the weather will be wet the day after."
    trained = [
        (english, BPETokenizer.train(english, 266).merges, "the weather was wet"),
        (CHINESE, BPETokenizer.train(CHINESE, 264).merges, "明天天气很好。"),
    ]
    cases = [*_ENCODE_CASES, *((new, merges) for _, merges, new in trained)]
    for text, merges in cases:
        got = _as_list(fn(text, list(merges)), f"bpe_encode({text!r}, merges)")
        ref = BPETokenizer(list(merges)).encode(text)
        if got == ref:
            continue
        where = f"bpe_encode({text!r}, {merges[:4]}...) gave {got}, expected {ref}"
        if got == list(text.encode("utf-8")):
            raise Fail(f"{where}: no merge was applied.")
        if got == _encode_ref(text, merges, pretokenize=False):
            raise Fail(
                f"{where}: a merge crossed from one word into the next. Split the "
                "text into pre-tokens (regex.findall(GPT2_PATTERN, text)) and "
                "encode each on its own, as training did."
            )
        if got == _encode_ref(text, merges, leftmost=True):
            raise Fail(
                f"{where}: you merged the leftmost pair found in the table. Merges "
                "must be applied in the order they were learned (lowest new id "
                "first), whatever their place in the text."
            )
        if got == _encode_ref(text, merges, once=True):
            raise Fail(f"{where}: each merge replaced only its first occurrence.")
        raise Fail(f"{where}.")
    return (
        "encodes new text exactly as BPETokenizer.encode: pre-tokens first, then the "
        "merges in the order they were learned."
    )


# --- modify: fewer merges ---


@functools.lru_cache(maxsize=4)
def _corpus_bpe(vocab_size: int):
    """Byte-level BPE with ``vocab_size`` tokens trained on the chapter's (English)
    corpus by the `tokenizers` library: seconds, where ours takes longer, and it
    compresses like ours (the chapter shows it at 1,024)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from course_lib.corpora import load_corpus

    lib = Tokenizer(models.BPE())
    lib.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    lib.train_from_iterator([load_corpus("pydocs").text], trainer)
    return lib


def _tokens_per_char(vocab_size: int) -> float:
    """Tokens per character of the corpus under :func:`_corpus_bpe` (equal to ours to
    4 decimals)."""
    from course_lib.corpora import load_corpus

    text = load_corpus("pydocs").text
    return len(_corpus_bpe(vocab_size).encode(text).ids) / len(text)


@exercise(
    "tokens.fewer_merges",
    "modify: a vocabulary of 512 instead of 1,024; report tokens per character",
    kind="modify",
    hints=(
        "In the cell above, set VOCAB_TRY = 512, run it, and copy the tokens per "
        "character it prints.",
        "512 = 256 bytes + 256 merges, a third of the 768 merges of the chapter's "
        "tokenizer. Expect more tokens per character than 0.3421, fewer than 1.",
        "It prints 0.4653: 36% more tokens than with 1,024.",
    ),
)
def check_fewer_merges(answer) -> str:
    got = _number(answer, "the tokens per character you saw")
    if not 0 < got < 10:
        raise Fail(
            f"{got} cannot be tokens per character of a byte-level BPE (0 to 1)."
        )
    ref, full = _tokens_per_char(512), _tokens_per_char(1024)
    if got > 1 and abs(1 / got - ref) <= 0.001:
        raise Fail(
            f"{got:.4f} is characters per token; the chapter measures tokens per "
            "character (1.0 for characters, lower is shorter)."
        )
    if abs(got - ref) <= 0.001:
        return (
            f"{ref:.4f} tokens per character, {ref / full:.2f}x the tokens of the "
            f"1,024 vocabulary ({full:.4f}). BPE takes the most frequent pair "
            f"first: the first 256 merges cut {1 - ref:.0%} of the tokens, the next "
            f"512 only {1 - full / ref:.0%} of what remained."
        )
    if abs(got - full) <= 0.001:
        raise Fail(f"{got:.4f} is the 1,024 vocabulary's figure; set VOCAB_TRY = 512.")
    raise Fail(f"{got:.4f} is not what the cell prints with VOCAB_TRY = 512.")


# --- predict: a Chinese sentence under the English-trained BPE -----------------------

KITTEN = "小猫追着球跑，它很开心。"  # "The kitten chased the ball; it was happy."


@exercise(
    "tokens.english_bpe_chinese",
    "predict: tokens for a 12-character Chinese sentence under the English BPE",
    kind="predict",
    hints=(
        "Section 5's table: how many tokens per Chinese character did the English "
        "BPE spend, and why that many?",
        "None of its merges joins bytes of a Chinese character, so each byte is one "
        "token. Count the bytes, punctuation included: ，and 。 are not ASCII.",
        "12 characters of 3 bytes each (the full-width ，and 。 too): 36 tokens.",
    ),
)
def check_english_bpe_chinese(answer) -> str:
    got = _number(answer, "your prediction (a count of tokens)")
    if got != int(got) or got < 0:
        raise Fail(f"a count of tokens is a whole number, got {got}.")
    ref = len(_corpus_bpe(1024).encode(KITTEN).ids)
    n_bytes = len(KITTEN.encode("utf-8"))
    if got == ref:
        return (
            f"{ref}: one token per byte, {n_bytes} bytes for {len(KITTEN)} characters. "
            "The chapter's merges, learned on English text, join none of these bytes, "
            "and the full-width ，and 。 take 3 bytes like the characters."
        )
    wrong = {
        len(KITTEN): "one token per character: a tokenizer trained on English has no "
        "merge that joins a Chinese character's bytes",
        len(KITTEN) - 2: "that counts the characters without the punctuation, and a "
        "Chinese character is more than one token here",
        3 * (len(KITTEN) - 2) + 2: "，and 。 are not ASCII: full-width punctuation "
        "takes 3 bytes in UTF-8, like the characters",
        3 * (len(KITTEN) - 2): "the punctuation costs tokens too: ，and 。 are 3 "
        "bytes each",
        2 * len(KITTEN): "a Chinese character is 3 bytes in UTF-8, not 2",
    }
    if got in wrong:
        raise Fail(f"{int(got)}: {wrong[got]}.")
    raise Fail(f"{int(got)} is not it. Count the UTF-8 bytes of {KITTEN}.")
