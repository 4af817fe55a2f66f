"""Tokenizers: text to a list of ids and back.

- :class:`CharTokenizer`: one id per character seen in a text (chapter 01's models).
- :class:`BPETokenizer`: byte-level byte-pair encoding, the teaching version (chapter
  02). Text is split into pre-tokens by GPT-2's regular expression (Radford et al.,
  2019), each pre-token becomes its UTF-8 bytes (ids 0-255), and learned merges glue
  frequent neighbouring pairs into new ids (Sennrich et al., 2016). Any text
  round-trips, Chinese and emoji included, because every byte has an id.

(``course_lib.hf.to_hf_tokenizer`` turns either into a Hugging Face tokenizer that
encodes and decodes exactly like it, chapter 10.)

Both tokenizers have ``encode(str) -> list[int]``, ``decode(list[int]) -> str``,
``vocab_size``, and ``save(path)`` / ``load(path)`` to and from JSON.

The module is named like Hugging Face's ``tokenizers`` package; inside ``course_lib`` it
is always imported as ``course_lib.tokenizers``, so the two never clash.
"""

from __future__ import annotations

import json
import numbers
import os
from collections import Counter
from itertools import pairwise

import regex

# GPT-2's pre-tokenizer: contractions, runs of letters, of digits, of other symbols
# (each with at most one leading space), and whitespace. It is the pattern the
# `tokenizers` library's ByteLevel pre-tokenizer uses, so the two split text alike.
GPT2_PATTERN = (
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


class CharTokenizer:
    """One id per character, in sorted order of the characters of a text.

    A character outside the vocabulary raises ``ValueError`` naming it, unless the
    tokenizer has an ``unk`` character (one of ``chars``, e.g. ``"\ufffd"``): then it
    is encoded as ``unk``'s id, and decodes as ``unk``."""

    def __init__(self, chars: list[str], unk: str | None = None):
        if not isinstance(chars, (list, tuple, str)):
            raise ValueError(
                "CharTokenizer: chars must be a list of single characters, got "
                f"{type(chars).__name__}; to build one from a text use "
                "CharTokenizer.from_text(text)."
            )
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError(
                "CharTokenizer: chars must be distinct single characters, got "
                f"{len(chars)} entries with {len(set(chars))} distinct."
            )
        self.chars = list(chars)
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        if unk is not None and unk not in self.stoi:
            raise ValueError(f"CharTokenizer: unk={unk!r} must be one of the chars.")
        self.unk = unk

    @classmethod
    def from_text(cls, text: str, unk: str | None = None) -> CharTokenizer:
        """The tokenizer whose vocabulary is the sorted set of ``text``'s characters
        (and ``unk``, if given)."""
        if not isinstance(text, str) or not text:
            raise ValueError(
                f"CharTokenizer.from_text: need a non-empty str, got {text!r}"
            )
        return cls(sorted(set(text) | ({unk} if unk else set())), unk)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise ValueError(
                f"CharTokenizer.encode: text must be a str, got {type(text).__name__}."
            )
        if self.unk is not None:
            return [self.stoi.get(c, self.stoi[self.unk]) for c in text]
        try:
            return [self.stoi[c] for c in text]
        except KeyError as error:
            c = error.args[0]
            raise ValueError(
                f"CharTokenizer.encode: the character {c!r} (U+{ord(c):04X}) at index "
                f"{text.index(c)} is not in the vocabulary of {self.vocab_size} "
                "characters this tokenizer was built from."
            ) from None

    def decode(self, ids: list[int]) -> str:
        ids = _as_id_list(ids, self.vocab_size, "CharTokenizer.decode")
        return "".join(self.chars[i] for i in ids)

    def save(self, path: str | os.PathLike) -> None:
        unk = {} if self.unk is None else {"unk": self.unk}
        _write_json(path, {"type": "char", "chars": self.chars, **unk})

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharTokenizer:
        saved = _read_json(path, "char")
        return cls(saved["chars"], saved.get("unk"))

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


class BPETokenizer:
    """Byte-level BPE. Ids 0-255 are the bytes; id 256 + k onward come from merges.

    ``merges`` is the ordered list of learned pairs ``(left_id, right_id)``; a merge's
    position is its rank (lower merges first when encoding). If a merge glues bytes
    that already form a token (``"a"+"bc"`` after ``"ab"+"c"``), it reuses that
    token's id, as the ``tokenizers`` library does, so ids and byte strings stay one
    to one.
    """

    def __init__(self, merges: list[tuple[int, int]], pattern: str = GPT2_PATTERN):
        self.pattern = pattern
        if not isinstance(pattern, str):
            raise ValueError(
                f"BPETokenizer: pattern must be a regex str, got {type(pattern)}."
            )
        self._split = regex.compile(pattern)
        self.vocab: list[bytes] = [bytes([b]) for b in range(256)]
        self._ids = {token: i for i, token in enumerate(self.vocab)}
        self.merges: list[tuple[int, int]] = []
        self._rank: dict[tuple[int, int], tuple[int, int]] = {}  # pair -> (rank, id)
        for pair in merges:
            _check_pair(pair, "BPETokenizer: merges")
            self._add_merge(int(pair[0]), int(pair[1]))
        self._cache: dict[str, list[int]] = {}

    def _add_merge(self, a: int, b: int) -> int:
        if not (0 <= a < len(self.vocab) and 0 <= b < len(self.vocab)):
            raise ValueError(
                f"BPETokenizer: merge ({a}, {b}) refers to an id not yet in the "
                f"vocabulary of {len(self.vocab)}."
            )
        token = self.vocab[a] + self.vocab[b]
        new_id = self._ids.get(token)
        if new_id is None:
            new_id = len(self.vocab)
            self.vocab.append(token)
            self._ids[token] = new_id
        self._rank[(a, b)] = (len(self.merges), new_id)
        self.merges.append((a, b))
        return new_id

    @classmethod
    def train(
        cls, text: str, vocab_size: int, pattern: str = GPT2_PATTERN
    ) -> BPETokenizer:
        """Learn merges on ``text`` until the vocabulary holds ``vocab_size`` tokens
        (or no pair occurs twice). Ties go to the pair with the smaller ids.

        Counts are kept per distinct pre-token and updated only for the pre-tokens a
        merge touches, so training on the course's corpus takes seconds, not minutes.
        """
        if not isinstance(vocab_size, int) or vocab_size < 256:
            raise ValueError(
                f"BPETokenizer.train: vocab_size must be an int >= 256, got "
                f"{vocab_size!r}: a byte-level BPE starts from the 256 byte values, "
                "so that any UTF-8 text can be encoded."
            )
        if not isinstance(text, str):
            raise ValueError(
                f"BPETokenizer.train: text must be a str, got {type(text)}"
            )
        tok = cls([], pattern)
        counts = Counter(tok._split.findall(text))
        words = [list(w.encode("utf-8")) for w in counts]
        freq = list(counts.values())
        pairs: Counter = Counter()
        where: dict[tuple[int, int], set[int]] = {}  # pair -> words that hold it
        for w, (ids, n) in enumerate(zip(words, freq, strict=True)):
            for pair in pairwise(ids):
                pairs[pair] += n
                where.setdefault(pair, set()).add(w)

        while len(tok.vocab) < vocab_size and pairs:
            best, n_best = max(
                pairs.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1])
            )
            if n_best < 2:
                break  # a pair seen once compresses nothing
            new_id = tok._add_merge(*best)
            for w in where.pop(best):
                old = words[w]
                new = merge(old, best, new_id)
                if len(new) == len(old):
                    continue  # an earlier merge already consumed this occurrence
                for pair in pairwise(old):
                    pairs[pair] -= freq[w]
                    if pairs[pair] <= 0:
                        del pairs[pair]
                for pair in pairwise(new):
                    pairs[pair] += freq[w]
                    where.setdefault(pair, set()).add(w)
                words[w] = new
            pairs.pop(best, None)
        return tok

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def _encode_word(self, word: str) -> list[int]:
        ids = list(word.encode("utf-8"))
        while len(ids) >= 2:
            # the learned pair with the lowest rank goes first, as in training
            ranked = [self._rank[p] for p in pairwise(ids) if p in self._rank]
            if not ranked:
                break
            rank, new_id = min(ranked)
            ids = merge(ids, self.merges[rank], new_id)
        return ids

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise ValueError(
                f"BPETokenizer.encode: text must be a str, got {type(text)}"
            )
        out: list[int] = []
        for word in self._split.findall(text):
            if word not in self._cache:
                self._cache[word] = self._encode_word(word)
            out.extend(self._cache[word])
        return out

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids``. A cut through a multi-byte character decodes to U+FFFD,
        as Hugging Face's byte-level decoder does."""
        ids = _as_id_list(ids, self.vocab_size, "BPETokenizer.decode")
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    def save(self, path: str | os.PathLike) -> None:
        data = {"type": "bpe", "pattern": self.pattern, "merges": self.merges}
        _write_json(path, data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> BPETokenizer:
        data = _read_json(path, "bpe")
        return cls([tuple(m) for m in data["merges"]], data["pattern"])

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)})"


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of ``pair`` in ``ids``, left to right, by ``new_id``.

    Occurrences do not overlap: ``merge([7, 7, 7], (7, 7), 9) == [9, 7]``.
    """
    try:
        first, second = pair
    except (TypeError, ValueError):
        raise ValueError(f"merge: pair must be two ids (a, b), got {pair!r}.") from None
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == first and ids[i + 1] == second:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character, used by the ``tokenizers``
    library to store byte-level tokens as strings (printable bytes map to themselves,
    the others to characters from U+0100 on)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def _check_pair(pair, where: str) -> None:
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(i, numbers.Integral) for i in pair)
    ):
        raise ValueError(f"{where} must hold pairs of two int ids, got {pair!r}.")


def _as_id_list(ids, vocab_size: int, where: str) -> list[int]:
    if hasattr(ids, "tolist"):  # a tensor or an array
        ids = ids.tolist()
    ids = list(ids)
    bad = [i for i in ids if not isinstance(i, int) or not 0 <= i < vocab_size]
    if bad:
        raise ValueError(
            f"{where}: ids must be ints in [0, {vocab_size}), got {bad[:5]!r}"
            f"{' and more' if len(bad) > 5 else ''}."
        )
    return ids


def _check_path(path, where: str) -> None:
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"{where}: path must be a str or Path, got {path!r}.")


def _write_json(path, data: dict) -> None:
    _check_path(path, "save")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)


def _read_json(path, kind: str) -> dict:
    _check_path(path, "load")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or data.get("type") != kind:
        seen = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"{path}: holds a tokenizer of type {seen!r}, expected {kind!r}."
        )
    needs = {"char": ("chars",), "bpe": ("merges", "pattern")}[kind]
    missing = [key for key in needs if key not in data]
    if missing:
        raise ValueError(
            f"{path}: a {kind!r} tokenizer file needs the keys {list(needs)}; "
            f"{missing} missing. Save it again with .save(path)."
        )
    return data
