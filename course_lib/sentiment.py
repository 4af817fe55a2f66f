"""A small sentiment task the course writes itself (chapter 09).

Templated English reviews: a thing ("the film", "this meal"), an optional intensifier
("very", "truly") and an adjective that is positive or negative, sometimes negated
("was not awful" is positive). Label 1 = positive, 0 = negative.

The point of the task is transfer: the **test split uses adjectives and nouns that never
occur in the training split**. A model that learnt what words mean elsewhere (a
pretrained encoder) can still read them; a model trained from scratch on the training
split has never seen them. Its own module because ``data.py`` is already long.
"""

from __future__ import annotations

import random

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
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}.")
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
