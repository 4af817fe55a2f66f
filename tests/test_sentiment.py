"""course_lib.sentiment: labels follow the words; test words are never trained on."""

import pytest

from course_lib.tasks import NEGATIVE, POSITIVE, held_out_words, sentiment_split


def test_no_test_word_but_the_shared_function_words_occurs_in_training():
    train, _ = sentiment_split("train", 5000)
    test, _ = sentiment_split("test", 2000)
    train_words = {w for s in train for w in s.split()}
    test_words = {w for s in test for w in s.split()}
    assert not train_words & held_out_words()
    assert test_words - train_words == held_out_words()  # every held-out word is used
    # each test sentence has an adjective the training split has never seen
    assert all(s.split()[-1] in held_out_words() for s in test)


@pytest.mark.parametrize("split", ["train", "test"])
def test_labels_follow_polarity_and_negation(split):
    sentences, labels = sentiment_split(split, 2000)
    for s, y in zip(sentences, labels, strict=True):
        words = s.split()
        positive = words[-1] in POSITIVE
        assert positive or words[-1] in NEGATIVE
        assert y == int(positive != ("not" in words)), s
    share = sum(labels) / len(labels)
    assert 0.4 < share < 0.6  # balanced
    assert sum("not" in s.split() for s in sentences) > 400  # negation is common


def test_deterministic_and_split_dependent():
    assert sentiment_split("train", 50, seed=3) == sentiment_split("train", 50, seed=3)
    assert sentiment_split("train", 50, seed=3) != sentiment_split("train", 50, seed=4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        sentiment_split("val", 10)
    with pytest.raises(ValueError, match="n must"):
        sentiment_split("train", 0)


def test_committed_results_show_the_transfer_chapter_09_claims():
    """data/sentiment_results.json (scripts/make_sentiment_results.py): the fine-tuned
    pretrained encoder reaches >= 85% on held-out words and beats from-scratch by 15."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "data" / "sentiment_results.json"
    results = json.loads(path.read_text())["results"]
    final = {name: r["curve"][-1][1] for name, r in results.items()}
    assert final["fine-tuned"] >= 0.85
    assert final["fine-tuned"] - final["from scratch"] >= 0.15
    assert set(final) == {"fine-tuned", "from scratch", "linear probe"}


def test_pad_batch_batches_and_accuracy():
    import torch

    from course_lib.batching import labelled_batches, pad_batch
    from course_lib.classification import accuracy

    ids = pad_batch([[5, 6, 7], [8], [9, 9]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 9, 0]]
    labels = torch.tensor([1, 0, 0])
    x, y = labelled_batches(ids, labels, 8)(torch.Generator().manual_seed(0))
    assert x.shape == (8, 3) and y.shape == (8,)
    for row, label in zip(x.tolist(), y.tolist(), strict=True):  # rows keep labels
        assert labels[ids.tolist().index(row)].item() == label

    class FirstToken(torch.nn.Module):  # predicts label 1 iff the first id is odd
        def forward(self, ids):
            odd = (ids[:, 0] % 2).float()
            return torch.stack([1 - odd, odd], dim=-1), None

    assert accuracy(FirstToken(), ids, labels) == 2 / 3  # 5 and 8 right, 9 wrong
    assert accuracy(FirstToken(), ids, labels, batch_size=1) == 2 / 3
    with pytest.raises(ValueError, match="labels"):
        labelled_batches(ids, labels[:2], 4)
    with pytest.raises(ValueError, match="pad_batch"):
        pad_batch([], 0)


def test_precomputed_results_meet_the_bar(tmp_path):
    from course_lib.artefacts import load_results

    results = load_results()["results"]
    final = {name: r["curve"][-1][1] for name, r in results.items()}
    assert final["fine-tuned"] >= 0.85
    assert final["fine-tuned"] - final["from scratch"] >= 0.15
    with pytest.raises(FileNotFoundError, match="make_sentiment_results"):
        load_results(tmp_path / "none.json")
