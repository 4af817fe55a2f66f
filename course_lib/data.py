"""Corpora and batching for the language models of the course.

Corpora
-------
``load_corpus()`` returns a :class:`Corpus`. The built-in default, ``"pydocs"``, is the
English text of Python's own documentation topics: 465,048 characters, frozen from
CPython 3.11.7's ``pydoc_data.topics`` and shipped with the course
(``data/pydocs.txt.gz``), so every Python gives the same text, byte for byte (its
sha256 is checked on load), and nothing is downloaded.

``load_corpus("tinyshakespeare")`` downloads Karpathy's 1,115,394-byte char-rnn file
only when asked, checks its sha256, and keeps it under ``data/cache/`` (or
``$COURSE_DATA``); ``load_corpus(path)`` reads your own UTF-8 text file.

The baseline protocol (chapters 01 and 07 must agree on it)
-----------------------------------------------------------
Chapter 01 records the validation loss of its bigram and LSTM models; chapter 07's GPT
must beat it on exactly the same characters::

    corpus = load_corpus()                           # "pydocs"
    tok = CharTokenizer.from_text(corpus.text)  # sorted set of characters, V = 103
    data = torch.tensor(tok.encode(corpus.text))  # (N,)
    train, val = train_val_split(data)  # first 90 % / last 10 %, no shuffle
    # validation loss: mean cross-entropy over every window of
    # TokenDataset(val, block_size=128), in order, no overlap

The split is contiguous, not shuffled: shuffled characters would put the middle of a
validation sentence into training, and the validation loss would flatter the model.

Synthetic tasks
---------------
``toy_translation()`` (chapter 06): a toy language pair with its own word order, for
the encoder-decoder Transformer; see its section at the end of this file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset


@dataclass(frozen=True)
class Corpus:
    """A text and where it came from."""

    text: str
    name: str  # "pydocs", "tinyshakespeare", or the file's name
    source: str  # where the text comes from (module, URL or path)
    licence: str

    def __repr__(self) -> str:  # the text itself is too long to print
        return (
            f"Corpus(name={self.name!r}, {len(self.text):,} characters, "
            f"source={self.source!r}, licence={self.licence!r})"
        )


@dataclass(frozen=True)
class RemoteCorpus:
    """A corpus downloaded on request: where from, and what its bytes must hash to."""

    url: str
    sha256: str
    filename: str
    licence: str


# The checksum is the one TensorFlow Datasets records for the same URL
# (tensorflow_datasets/url_checksums/tiny_shakespeare.txt: 1,115,394 bytes).
REMOTE_CORPORA = {
    "tinyshakespeare": RemoteCorpus(
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
        "tinyshakespeare/input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        filename="tinyshakespeare.txt",
        licence="public domain (Shakespeare's plays; selection by A. Karpathy)",
    ),
}
BUILTIN_CORPORA = ("pydocs",)


def corpus_names() -> list[str]:
    """Every corpus name ``load_corpus`` knows."""
    return [*BUILTIN_CORPORA, *REMOTE_CORPORA]


def cache_dir() -> Path:
    """Where downloads are kept: ``$COURSE_DATA`` if set, else the course checkout's
    ``data/cache/``, else (course_lib installed from pip) ``~/.cache/course_lib``."""
    if os.environ.get("COURSE_DATA"):
        return Path(os.environ["COURSE_DATA"])
    checkout_data = Path(__file__).resolve().parent.parent / "data"
    if (checkout_data / "README.md").exists():
        return checkout_data / "cache"
    return Path.home() / ".cache" / "course_lib"


def course_file(name: str) -> Path:
    """The path of a small artefact the course made and ships in ``data/`` (a trained
    checkpoint, pre-computed results; ``data/README.md`` says which command made
    each). In a checkout that is ``data/NAME``; installed with pip (Colab) the same
    files sit inside the package, in ``course_lib/shipped/`` (see pyproject.toml).
    Raises ``FileNotFoundError`` naming the file when neither has it."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"course_file: name must be a file name (str), got {name!r}.")
    here = Path(__file__).resolve().parent
    for path in (here.parent / "data" / name, here / "shipped" / name):
        if path.exists():
            return path
    raise FileNotFoundError(
        f"course_file: {name} is missing from {here.parent / 'data'} and from "
        f"{here / 'shipped'}. It ships with the course's repository (data/README.md "
        "lists each file and the command that makes it)."
    )


def load_corpus(name: str | os.PathLike = "pydocs") -> Corpus:
    """Load a corpus by name (see :func:`corpus_names`) or from a UTF-8 text file.

    Raises ``ValueError`` for a name that is neither a known corpus nor an existing
    file, ``ValueError`` when a download's sha256 is wrong (the file is deleted), and
    ``ConnectionError`` naming the URL and where to put the file by hand when offline.
    """
    if not isinstance(name, (str, os.PathLike)):
        raise ValueError(
            f"load_corpus: name must be a corpus name or a path, got {name!r}; "
            f"valid names are {', '.join(map(repr, corpus_names()))}."
        )
    if isinstance(name, str) and name in BUILTIN_CORPORA:
        return _pydocs()
    if isinstance(name, str) and name in REMOTE_CORPORA:
        return _remote(name, REMOTE_CORPORA[name])
    path = Path(name)
    if path.is_file():
        return Corpus(
            text=path.read_text(encoding="utf-8"),
            name=path.name,
            source=str(path),
            licence="yours",
        )
    raise ValueError(
        f"load_corpus: {str(name)!r} is not a corpus name nor an existing file; "
        f"valid names are {', '.join(map(repr, corpus_names()))}, "
        "or give the path of a UTF-8 text file."
    )


# The built-in corpus is frozen: the text of CPython 3.11.7's pydoc_data.topics (its
# topics joined in sorted key order), built once and shipped gzipped in data/ (so in the
# installed package too). The running Python's own pydoc_data differs from version to
# version (459k characters on 3.10, 511k on 3.13), so reading it would tie every number
# a chapter prints, and the reference checkpoint's vocabulary, to one interpreter.
PYDOCS_FILE = "pydocs.txt.gz"
PYDOCS_SHA256 = "2a95af4ac93f5b719944030ce3769070ddf827d847cba42192afa8da989e5dc4"


def _pydocs() -> Corpus:
    import gzip

    path = course_file(PYDOCS_FILE)
    raw = gzip.decompress(path.read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != PYDOCS_SHA256:
        raise ValueError(
            f"load_corpus: {path} is damaged (sha256 of its text {digest[:12]}..., "
            f"expected {PYDOCS_SHA256[:12]}...). Restore it with "
            f"`git checkout data/{PYDOCS_FILE}` or reinstall course_lib."
        )
    return Corpus(
        text=raw.decode("utf-8"),
        name="pydocs",
        source=f"pydoc_data.topics of CPython 3.11.7, frozen in data/{PYDOCS_FILE}",
        licence="PSF License",
    )


def _remote(name: str, remote: RemoteCorpus) -> Corpus:
    path = cache_dir() / remote.filename
    if path.exists() and _sha256(path) != remote.sha256:
        path.unlink()  # a stale or corrupted cache: fetch it again
    if not path.exists():
        _download(remote, path)
    return Corpus(
        text=path.read_text(encoding="utf-8"),
        name=name,
        source=remote.url,
        licence=remote.licence,
    )


def _download(remote: RemoteCorpus, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temporary file beside the target, then rename: an interrupted download
    # never leaves a half file under the final name.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as f,
            urllib.request.urlopen(remote.url, timeout=30) as r,
        ):
            while chunk := r.read(1 << 16):
                f.write(chunk)
    except (urllib.error.URLError, OSError) as error:
        tmp.unlink(missing_ok=True)
        raise ConnectionError(
            f"load_corpus: could not download {remote.url} ({error}). If this machine "
            f"is offline, download that file elsewhere and save it as {path}."
        ) from error
    digest = _sha256(tmp)
    if digest != remote.sha256:
        tmp.unlink()
        raise ValueError(
            f"load_corpus: the file downloaded from {remote.url} has sha256 {digest}, "
            f"expected {remote.sha256}; the partial file was deleted. Try again, or "
            f"download it by hand and save it as {path}."
        )
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def train_val_split(
    data: torch.Tensor, val_fraction: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a 1-D tensor of token ids into its first ``1 - val_fraction`` (training)
    and its last ``val_fraction`` (validation), in order, without shuffling."""
    if not isinstance(data, torch.Tensor) or data.dim() != 1:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data)
        raise ValueError(
            f"train_val_split: data must be a 1-D tensor of token ids, got {shape}."
        )
    if not isinstance(val_fraction, (int, float)) or not 0.0 < val_fraction < 1.0:
        raise ValueError(
            f"train_val_split: val_fraction must lie strictly between 0 and 1, "
            f"got {val_fraction}."
        )
    n_train = int(len(data) * (1.0 - val_fraction))
    return data[:n_train], data[n_train:]


def get_batch(
    data: torch.Tensor,
    block_size: int,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``block_size`` tokens from ``data``.

    Returns ``(x, y)``, both ``(B, T)`` long tensors, with ``y`` the window shifted by
    one: ``y[b, t]`` is the token that follows ``x[b, t]``.
    """
    _check_ids(data, block_size, "get_batch")
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise ValueError(
            f"get_batch: batch_size must be an int >= 1, got {batch_size!r}."
        )
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            "get_batch: generator must be a torch.Generator or None, got "
            f"{type(generator).__name__}."
        )
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = data[starts[:, None] + offsets]  # (B, T)
    y = data[starts[:, None] + offsets + 1]  # (B, T)
    return x, y


class TokenDataset(Dataset):
    """Consecutive, non-overlapping windows of ``block_size`` tokens, in order, so
    one epoch (or one evaluation) sees every token once.

    Item ``i`` is ``(x, y)``: ``x = data[i*T : (i+1)*T]`` and ``y`` the same window
    shifted by one. The last ``< T`` tokens that do not fill a window are left out.
    """

    def __init__(self, data: torch.Tensor, block_size: int):
        _check_ids(data, block_size, "TokenDataset")
        self.data = data
        self.block_size = block_size

    def __len__(self) -> int:
        return (len(self.data) - 1) // self.block_size

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"TokenDataset: index {i} out of range({len(self)}).")
        i = i % len(self)
        start = i * self.block_size
        chunk = self.data[start : start + self.block_size + 1]  # (T + 1,)
        return chunk[:-1], chunk[1:]


def _check_ids(data: torch.Tensor, block_size: int, where: str) -> None:
    if not isinstance(data, torch.Tensor) or data.dim() != 1:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data)
        raise ValueError(
            f"{where}: data must be a 1-D tensor of token ids, got {shape}."
        )
    if data.is_floating_point() or data.dtype == torch.bool:
        raise ValueError(
            f"{where}: data must hold integer token ids, got {data.dtype}."
        )
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(
            f"{where}: block_size must be an int >= 1, got {block_size!r}."
        )
    if len(data) <= block_size:
        raise ValueError(
            f"{where}: data has {len(data)} tokens, need more than block_size="
            f"{block_size} to make one window and its shifted target."
        )


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
class Vocab:
    """Token strings and their ids; ids 0, 1, 2 are ``<pad>``, ``<bos>``, ``<eos>``."""

    tokens: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Space-separated words -> ids. Raises ``ValueError`` for an unknown word."""
        if not isinstance(text, str):
            raise ValueError(f"Vocab.encode: text must be a str, got {text!r}.")
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
                f"Vocab.decode: ids must be a 1-D sequence of ints, got {ids.dtype} "
                f"of shape {tuple(ids.shape)}."
            )
        bad = [i for i in ids.reshape(-1).tolist() if not 0 <= i < len(self)]
        if bad:
            raise ValueError(
                f"Vocab.decode: ids must be in [0, {len(self)}), got {bad[:5]}."
            )
        words = []
        for i in ids.reshape(-1).tolist():
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
) -> tuple[torch.Tensor, torch.Tensor, Vocab]:
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
