"""Data for the course: corpora, synthetic tasks, batching.

Sections are owned by the chapters that use them; each is self-contained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

# --- synthetic tasks (chapter 06)
# A toy language pair for the encoder-decoder of chapter 06. The source is a tiny
# English ("the big dog chases a red ball"); the target is a made-up language with
# its own words and word order, so that translating needs both a lexicon and
# reordering, and the cross-attention has something to show:
#   1. the verb moves to the end (subject-object-verb, as in Japanese or Turkish);
#   2. an adjective follows its noun (as in French);
#   3. the object is followed by the marker "o" (a word with no source word).
#   the big dog chases a red ball  ->  ka hund dor ni bol ruk o kasa

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2

_DETERMINERS = {"the": "ka", "a": "ni"}
_ADJECTIVES = {
    "big": "dor",
    "small": "pim",
    "red": "ruk",
    "old": "ven",
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
class Vocab:
    """Token strings and their ids; ids 0, 1, 2 are ``<pad>``, ``<bos>``, ``<eos>``."""

    tokens: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Space-separated words -> ids. Raises ``ValueError`` for an unknown word."""
        index = {token: i for i, token in enumerate(self.tokens)}
        unknown = [w for w in text.split() if w not in index]
        if unknown:
            raise ValueError(f"words not in the vocabulary: {unknown}.")
        return [index[w] for w in text.split()]

    def decode(self, ids) -> str:
        """Ids -> text, skipping ``<pad>`` and ``<bos>`` and stopping at ``<eos>``."""
        words = []
        for i in torch.as_tensor(ids).tolist():
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                words.append(self.tokens[i])
        return " ".join(words)


def translation_vocab() -> Vocab:
    """One vocabulary for both languages: the special tokens, then the source words,
    then the target words (48 tokens)."""
    tables = (_DETERMINERS, _ADJECTIVES, _NOUNS, _VERBS)
    source = [w for table in tables for w in table]
    target = [w for table in tables for w in table.values()] + [_OBJECT_MARKER]
    return Vocab(SPECIAL_TOKENS + tuple(source) + tuple(target))


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
    if not 1 <= n <= total:
        raise ValueError(f"n must be in [1, {total}], got {n}.")
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
) -> tuple[Tensor, Tensor, Vocab]:
    """``n`` sentence pairs of the toy language pair as padded id tensors.

    Returns ``(src, tgt, vocab)``: ``src`` ``(n, 7)`` source ids padded with
    ``PAD_ID``; ``tgt`` ``(n, 10)`` = ``<bos>`` target ids ``<eos>``, then padding.
    Feed the decoder ``tgt[:, :-1]`` and train it to predict ``tgt[:, 1:]``.
    """
    vocab = translation_vocab()
    pairs = translation_pairs(n, generator)
    src = torch.full((n, 7), PAD_ID, dtype=torch.long)
    tgt = torch.full((n, 10), PAD_ID, dtype=torch.long)
    for i, (s, t) in enumerate(pairs):
        s_ids = vocab.encode(s)
        t_ids = [BOS_ID, *vocab.encode(t), EOS_ID]
        src[i, : len(s_ids)] = torch.tensor(s_ids)
        tgt[i, : len(t_ids)] = torch.tensor(t_ids)
    return src, tgt, vocab
