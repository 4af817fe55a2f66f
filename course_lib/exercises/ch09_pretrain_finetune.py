"""Chapter 09: classification accuracy, freezing an encoder for a linear probe, and the
words a test set holds out."""

import torch
from torch import nn

from course_lib.exercises import Fail, exercise


@exercise("finetune.accuracy", "accuracy(logits, labels): share of argmax == label")
def check_accuracy(accuracy) -> str:
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.5], [0.2, 0.1], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 0, 0])  # 3 of 5 right
    out = accuracy(logits, labels)
    if not isinstance(out, (int, float, torch.Tensor)) or (
        isinstance(out, torch.Tensor) and out.numel() != 1
    ):
        raise Fail("return one number (a float or a 0-d tensor), the share correct.")
    value = float(out)
    if abs(value - 0.6) < 1e-6:
        return "accuracy = mean(argmax over the labels == label) = 0.6."
    if abs(value - 3) < 1e-6:
        raise Fail("that is the number correct: divide by the batch size (.mean()).")
    if abs(value - 0.4) < 1e-6:
        raise Fail("that is the error rate: count argmax == label, not !=.")
    wrong_dim = (logits.argmax(0)[labels] == labels).float().mean().item()
    if abs(value - wrong_dim) < 1e-6:
        raise Fail("take the argmax over the labels, dim=-1, not over the batch.")
    raise Fail(f"expected 0.6 for this batch, got {value:.3f}.")


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Embedding(7, 4), nn.Linear(4, 4))
        self.head = nn.Linear(4, 2)


@exercise(
    "finetune.freeze_encoder",
    "freeze_encoder(model): a linear probe: only model.head stays trainable",
)
def check_freeze_encoder(freeze_encoder) -> str:
    model = _Toy()
    freeze_encoder(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    if trainable == {"head.weight", "head.bias"}:
        return "encoder frozen, head trainable: 10 of 66 parameters will learn."
    if not trainable:
        raise Fail("everything is frozen, the head too: leave model.head trainable.")
    if any(n.startswith("encoder") for n in trainable):
        raise Fail(
            "some encoder weights still have requires_grad=True: call "
            "model.encoder.requires_grad_(False)."
        )
    raise Fail(f"trainable parameters: {sorted(trainable)}; expected only head's.")


@exercise(
    "finetune.unseen_words",
    "unseen_words(train, test): the words of test sentences never seen in train",
)
def check_unseen_words(unseen_words) -> str:
    train = ["the film was good", "this book was not bad"]
    test = ["the novel was superb", "this album was not dreadful"]
    expected = {"novel", "superb", "album", "dreadful"}
    out = unseen_words(train, test)
    if not isinstance(out, (set, frozenset, list, tuple)):
        raise Fail(f"return a set of words, got {type(out).__name__}.")
    if not all(isinstance(w, str) for w in out):
        kinds = sorted({type(w).__name__ for w in out})
        raise Fail(f"return a set of words (strings), got one of {kinds}.")
    out = set(out)
    if out == expected:
        return "the held-out words: those in test and in no training sentence."
    if out == {"film", "good", "book", "bad"}:
        raise Fail("that is the other way round: words of test that train lacks.")
    if out >= expected and out - expected <= {"the", "was", "this", "not"}:
        raise Fail("subtract the training words: the, was, this, not occur in both.")
    if out <= expected and out:
        raise Fail(f"you found {sorted(out)}; look at every test sentence.")
    raise Fail(f"expected {sorted(expected)}, got {sorted(out)}.")
