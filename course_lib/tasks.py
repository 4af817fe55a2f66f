"""The synthetic tasks the course writes itself, so they run offline and every learner
gets the same data.

**Toy translation** (chapter 06), for the encoder-decoder Transformer. The source is a
tiny English ("the big dog chases a red ball"); the target is a made-up language with
its own words and word order, so that translating needs both a lexicon and
reordering, and the cross-attention has something to show:

1. the verb moves to the end (subject-object-verb, as in Japanese or Turkish);
2. an adjective follows its noun (as in French);
3. the object is followed by the marker "o" (a word with no source word).

``the big dog chases a red ball  ->  ka hund dor ni bol ruk o kasa``

Both languages share one :class:`WordTokenizer` (``translation_tokenizer()``).

**Sentiment** (chapter 09): templated English reviews, a thing ("the film"), an
optional intensifier ("very") and an adjective that is positive or negative,
sometimes negated ("was not awful" is positive). Label 1 = positive, 0 = negative.
The **test split uses adjectives, nouns and intensifiers that never occur in the
training split**: a model that learnt what words mean elsewhere (a pretrained
encoder) can still read them; one trained from scratch on the training split cannot.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from course_lib.checks import is_int

# ---------------------------------------------------------------- toy translation
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2

_DETERMINERS = {"the": "ka", "a": "ni"}
_ADJECTIVES = {
    "big": "dor",
    "small": "pim",
    "red": "ruk",
    "tall": "ven",
    "happy": "jol",
    "quiet": "sil",
}
_NOUNS = {
    "dog": "hund",
    "cat": "mao",
    "bird": "tori",
    "fish": "sak",
    "child": "kin",
    "teacher": "lem",
    "ball": "bol",
    "tree": "arb",
}
_VERBS = {
    "sees": "mira",
    "likes": "ama",
    "chases": "kasa",
    "finds": "tova",
    "helps": "ayu",
    "follows": "sigu",
}
_OBJECT_MARKER = "o"


@dataclass(frozen=True)
class WordTokenizer:
    """A word-level tokenizer: the words of a fixed vocabulary and their ids; ids 0,
    1, 2 are ``<pad>``, ``<bos>``, ``<eos>``. Text is split at spaces."""

    tokens: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Space-separated words -> ids. Raises ``ValueError`` for an unknown word."""
        if not isinstance(text, str):
            raise ValueError(f"WordTokenizer.encode: text must be a str, got {text!r}.")
        index = {token: i for i, token in enumerate(self.tokens)}
        unknown = [w for w in text.split() if w not in index]
        if unknown:
            raise ValueError(f"words not in the vocabulary: {unknown}.")
        return [index[w] for w in text.split()]

    def decode(self, ids) -> str:
        """Ids -> text, skipping ``<pad>`` and ``<bos>`` and stopping at ``<eos>``."""
        ids = torch.as_tensor(ids)
        if ids.is_floating_point() or ids.dim() > 1:
            raise ValueError(
                "WordTokenizer.decode: ids must be a 1-D sequence of ints, got "
                f"{ids.dtype} of shape {tuple(ids.shape)}."
            )
        bad = [i for i in ids.reshape(-1).tolist() if not 0 <= i < len(self)]
        if bad:
            raise ValueError(
                f"WordTokenizer.decode: ids must be in [0, {len(self)}), got {bad[:5]}."
            )
        words = []
        for i in ids.reshape(-1).tolist():
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                words.append(self.tokens[i])
        return " ".join(words)


def translation_tokenizer() -> WordTokenizer:
    """One vocabulary for both languages: the special tokens, then the source words,
    then the target words (48 tokens)."""
    tables = (_DETERMINERS, _ADJECTIVES, _NOUNS, _VERBS)
    source = [w for table in tables for w in table]
    target = [w for table in tables for w in table.values()] + [_OBJECT_MARKER]
    return WordTokenizer(SPECIAL_TOKENS + tuple(source) + tuple(target))


def _noun_phrases() -> list[tuple[str, str]]:
    """Every (source, target) noun phrase: det [adj] noun -> det noun [adj]."""
    phrases = []
    for det, det_t in _DETERMINERS.items():
        for adj, adj_t in [("", ""), *_ADJECTIVES.items()]:
            for noun, noun_t in _NOUNS.items():
                src = " ".join(w for w in (det, adj, noun) if w)
                tgt = " ".join(w for w in (det_t, noun_t, adj_t) if w)
                phrases.append((src, tgt))
    return phrases


def translate(sentence: str) -> str:
    """The rule, applied to one source sentence "det [adj] noun verb det [adj] noun"."""
    if not isinstance(sentence, str):
        raise ValueError(f"translate: sentence must be a str, got {sentence!r}.")
    words = sentence.split()
    verbs = [i for i, w in enumerate(words) if w in _VERBS]
    if len(verbs) != 1:
        raise ValueError(f"need exactly one verb in {sentence!r}, found {len(verbs)}.")
    v = verbs[0]
    phrases = dict(_noun_phrases())
    subject, obj = " ".join(words[:v]), " ".join(words[v + 1 :])
    for phrase in (subject, obj):
        if phrase not in phrases:
            raise ValueError(f"{phrase!r} is not a noun phrase 'det [adj] noun'.")
    return f"{phrases[subject]} {phrases[obj]} {_OBJECT_MARKER} {_VERBS[words[v]]}"


def num_translation_pairs() -> int:
    """How many different sentences the toy language has (75,264)."""
    return len(_noun_phrases()) ** 2 * len(_VERBS)


def translation_pairs(
    n: int, generator: torch.Generator | None = None
) -> list[tuple[str, str]]:
    """``n`` different (source, target) sentence pairs, drawn without replacement, so
    the first k and the rest never share a sentence (a clean held-out split)."""
    total = num_translation_pairs()
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= total:
        raise ValueError(
            f"translation_pairs: n must be in [1, {total}], got {n!r} (an int)."
        )
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            "translation_pairs: generator must be a torch.Generator or None, got "
            f"{type(generator).__name__}."
        )
    phrases, verbs = _noun_phrases(), list(_VERBS)
    P = len(phrases)
    pairs = []
    for k in torch.randperm(total, generator=generator)[:n].tolist():
        # k is a number in mixed radix (subject, verb, object)
        subject, rest = divmod(k, len(verbs) * P)
        verb, obj = divmod(rest, P)
        src = f"{phrases[subject][0]} {verbs[verb]} {phrases[obj][0]}"
        pairs.append((src, translate(src)))
    return pairs


def toy_translation(
    n: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, WordTokenizer]:
    """``n`` sentence pairs of the toy language pair as padded id tensors.

    Returns ``(src, tgt, vocab)``: ``src`` ``(n, 7)`` source ids padded with
    ``PAD_ID``; ``tgt`` ``(n, 10)`` = ``<bos>`` target ids ``<eos>``, then padding.
    Feed the decoder ``tgt[:, :-1]`` and train it to predict ``tgt[:, 1:]``.
    """
    vocab = translation_tokenizer()
    pairs = translation_pairs(n, generator)
    src = torch.full((n, 7), PAD_ID, dtype=torch.long)
    tgt = torch.full((n, 10), PAD_ID, dtype=torch.long)
    for i, (s, t) in enumerate(pairs):
        s_ids = vocab.encode(s)
        t_ids = [BOS_ID, *vocab.encode(t), EOS_ID]
        src[i, : len(s_ids)] = torch.tensor(s_ids)
        tgt[i, : len(t_ids)] = torch.tensor(t_ids)
    return src, tgt, vocab


# ---------------------------------------------------------------------- sentiment
# (positive, negative) adjectives; the last third of each list is held out for test
POSITIVE = [
    "good", "great", "nice", "lovely", "wonderful", "excellent", "fun", "charming",
    "pleasant", "beautiful", "enjoyable", "brilliant",
    "superb", "delightful", "splendid", "marvelous", "fantastic", "terrific",
]  # fmt: skip
NEGATIVE = [
    "bad", "awful", "boring", "ugly", "terrible", "poor", "dull", "annoying",
    "horrible", "weak", "unpleasant", "sad",
    "dreadful", "lousy", "mediocre", "miserable", "tedious", "atrocious",
]  # fmt: skip
NOUNS_TRAIN = ["film", "movie", "book", "meal", "song", "show", "game", "hotel"]
NOUNS_TEST = ["novel", "dinner", "album", "concert", "restaurant", "play"]
INTENSIFIERS_TRAIN = ["very", "really", "so"]
INTENSIFIERS_TEST = ["truly", "extremely", "incredibly"]
N_TRAIN_ADJ = 12  # per polarity

# {det} {noun} {verb} [not] [{intens}] {adj}
DETERMINERS = ["the", "this", "that"]
VERBS = ["was", "is", "seemed", "felt"]


def _sentence(rng: random.Random, adjectives, nouns, intensifiers) -> tuple[str, int]:
    positive = rng.random() < 0.5
    adj = rng.choice(adjectives[0] if positive else adjectives[1])
    negated = rng.random() < 0.3
    words = [rng.choice(DETERMINERS), rng.choice(nouns), rng.choice(VERBS)]
    if negated:
        words.append("not")
    if rng.random() < 0.4:
        words.append(rng.choice(intensifiers))
    words.append(adj)
    return " ".join(words), int(positive != negated)


def sentiment_split(split: str, n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """``n`` sentences and labels (1 positive, 0 negative) of ``split``.

    ``split`` is ``"train"`` or ``"test"``: the test split's adjectives, nouns and
    intensifiers never occur in the training split. Deterministic in ``seed``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    if not is_int(n) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}.")
    if not is_int(seed):
        raise ValueError(f"sentiment_split: seed must be an int, got {seed!r}.")
    k = N_TRAIN_ADJ
    if split == "train":
        adjectives = (POSITIVE[:k], NEGATIVE[:k])
        nouns, intensifiers = NOUNS_TRAIN, INTENSIFIERS_TRAIN
    else:
        adjectives = (POSITIVE[k:], NEGATIVE[k:])
        nouns, intensifiers = NOUNS_TEST, INTENSIFIERS_TEST
    # a different stream per split, so train and test seeds never coincide
    rng = random.Random(f"{split}-{seed}")
    pairs = [_sentence(rng, adjectives, nouns, intensifiers) for _ in range(n)]
    return [s for s, _ in pairs], [y for _, y in pairs]


def held_out_words() -> set[str]:
    """The words of the test split that the training split never uses."""
    k = N_TRAIN_ADJ
    return set(POSITIVE[k:] + NEGATIVE[k:] + NOUNS_TEST + INTENSIFIERS_TEST)


# ------------------------------------------------- associative recall (chapter 04)
def associative_recall(
    batch_size: int,
    num_pairs: int = 64,
    num_queries: int = 8,
    num_keys: int = 64,
    num_values: int = 16,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batches of a recall task that needs a token from far back (chapter 04).

    Each sequence lists ``num_pairs`` key-value pairs, ``k v k v ...``, with distinct
    keys (ids ``0 .. num_keys-1``) and random values (ids ``num_keys ..
    num_keys+num_values-1``), then ``num_queries`` of those pairs again, drawn at
    random among all the pairs and each asked at most once: at a repeated key the
    model must predict the value seen with that key before. Nothing else is
    predictable, so only those positions have targets. With fewer queries than pairs
    (the defaults ask 8 of 64), the values not yet asked do not give the answer away.

    Returns ``(x, y, distance)``, each ``(B, L)`` with ``L = 2 * (num_pairs +
    num_queries) - 1`` (143 by default): ``x`` the tokens, ``y`` the value to predict
    at a query key and -1 (no target) elsewhere, ``distance`` how many positions back
    that key appeared first (0 where there is no target): from 2 up to ``2 *
    (num_pairs + num_queries - 1)``, 142 by default.
    """
    sizes = dict(batch_size=batch_size, num_pairs=num_pairs, num_queries=num_queries)
    sizes.update(num_keys=num_keys, num_values=num_values)
    if not all(is_int(v) and v >= 1 for v in sizes.values()):
        raise ValueError(f"associative_recall: sizes must be ints >= 1, got {sizes}.")
    if not num_queries <= num_pairs <= num_keys:
        raise ValueError(
            "associative_recall: need num_queries <= num_pairs <= num_keys, got "
            f"{num_queries}, {num_pairs}, {num_keys}."
        )
    B, n, m = batch_size, num_pairs, num_queries
    keys = torch.rand(B, num_keys, generator=generator).argsort(-1)[:, :n]  # distinct
    values = torch.randint(num_keys, num_keys + num_values, (B, n), generator=generator)
    asked = torch.rand(B, n, generator=generator).argsort(-1)[:, :m]  # (B, m) pairs
    asked_keys, asked_values = keys.gather(1, asked), values.gather(1, asked)
    pairs = torch.stack(
        [torch.cat([keys, asked_keys], 1), torch.cat([values, asked_values], 1)], -1
    )  # (B, n + m, 2)
    seq = pairs.view(B, 2 * (n + m))  # k v k v ...
    x = seq[:, :-1]  # (B, L): the last value is a target, never an input
    y = torch.full_like(x, -1)
    distance = torch.zeros_like(x)
    query_pos = 2 * (n + torch.arange(m))  # (m,): where the repeated keys stand
    y[:, query_pos] = seq[:, query_pos + 1]
    distance[:, query_pos] = query_pos - 2 * asked
    return x, y, distance


def copy_task(
    batch_size: int,
    length: int = 64,
    vocab: int = 16,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batches of a copy task (chapter 04): ``length`` random tokens (ids ``0 ..
    vocab-1``), a separator (id ``vocab``), then the same tokens again. Every token of
    the copy is a target, the first half has none: it is random.

    Returns ``(x, y, distance)``, each ``(B, 2 * length)``, as ``associative_recall``:
    ``y`` the next token at positions ``length ..`` (the separator and the copy but its
    last token) and -1 before; ``distance`` is ``length + 1`` at every target (the
    token to predict stood that many positions before its copy, so at input position
    ``t - length``, as in ``associative_recall``) and 0 elsewhere.
    """
    sizes = dict(batch_size=batch_size, length=length, vocab=vocab)
    if not all(is_int(v) and v >= 1 for v in sizes.values()):
        raise ValueError(f"copy_task: sizes must be ints >= 1, got {sizes}.")
    tokens = torch.randint(0, vocab, (batch_size, length), generator=generator)
    sep = torch.full((batch_size, 1), vocab, dtype=tokens.dtype)
    seq = torch.cat([tokens, sep, tokens], 1)  # (B, 2 * length + 1)
    x, y = seq[:, :-1], seq[:, 1:].clone()  # (B, 2 * length) each
    y[:, :length] = -1  # random tokens, then the separator: nothing to learn there
    distance = torch.zeros_like(x)
    distance[:, length:] = length + 1
    return x, y, distance
