"""Chapter 09: a linear probe that does not freeze, a mean that counts padding, an
accuracy that compares the wrong thing (find the bug); the last real token whatever
the padding side (implement); what a causal GPT shares between two sentences and what
a probe trains (predict); how many sentences stop-word removal leaves distinguishable
(modify)."""

import functools
from collections import Counter, defaultdict
from types import SimpleNamespace

import torch
from torch import nn

from course_lib.classification import SequenceClassifier, last_token_pool, mean_pool
from course_lib.exercises import Fail, exercise
from course_lib.exercises.ch05_transformer_block import _close, _tensor

# ---------------------------------------------------------------- find the bug


def buggy_linear_probe(encoder, num_labels):
    """A classifier whose encoder stays as pretrained: only the head learns."""
    probe = SequenceClassifier(encoder, num_labels)
    probe.encoder.eval()  # freeze the pretrained weights
    return probe


class _ToyEncoder(nn.Module):
    """An encoder the size of a toy: ids (B, T) -> hidden (B, T, 4), with dropout."""

    def __init__(self):
        super().__init__()
        self.config = SimpleNamespace(hidden_size=4)
        self.embed = nn.Embedding(7, 4)
        self.mix = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.1)

    def forward(self, input_ids, attention_mask=None):
        return self.drop(self.mix(self.embed(input_ids)))


@exercise(
    "finetune.freeze_encoder",
    "fix buggy_linear_probe: its 'frozen' encoder still trains with the head",
    kind="find-the-bug",
    hints=(
        "Count the parameters with requires_grad=True after buggy_linear_probe: "
        "what does .eval() change, and what does it leave alone?",
        "eval() switches dropout (and batch norm) to inference behaviour; it does "
        "not stop gradients. An optimizer updates every parameter with "
        "requires_grad=True.",
        "Replace the eval() line with probe.encoder.requires_grad_(False) (eval() "
        "may stay as well); probe.head keeps requires_grad=True.",
    ),
    buggy=buggy_linear_probe,
)
def check_freeze_encoder(linear_probe) -> str:
    torch.manual_seed(0)
    encoder = _ToyEncoder()
    before = {n: p.detach().clone() for n, p in encoder.named_parameters()}
    probe = linear_probe(encoder, 3)
    if not isinstance(probe, nn.Module) or not hasattr(probe, "head"):
        raise Fail("return the classifier (a SequenceClassifier with .head).")
    trainable = {n for n, p in probe.named_parameters() if p.requires_grad}
    head = {"head.weight", "head.bias"}
    if not trainable:
        raise Fail(
            "nothing is trainable now, the head neither: freeze the encoder only."
        )
    if trainable - head:
        encoder_left = sorted(n for n in trainable if n.startswith("encoder"))
        raise Fail(
            f"{len(encoder_left)} encoder tensors still have requires_grad=True "
            f"(e.g. {encoder_left[0]}): an optimizer would update them, so the "
            "'probe' fine-tunes the whole model. eval() does not freeze weights."
        )
    if trainable != head:
        raise Fail(
            f"trainable: {sorted(trainable)}; the head's weight and bias should be."
        )
    opt = torch.optim.AdamW((p for p in probe.parameters() if p.requires_grad), lr=0.1)
    ids, labels = torch.tensor([[1, 2, 3], [4, 5, 6]]), torch.tensor([0, 2])
    _, loss = probe(ids, labels)
    loss.backward()
    opt.step()
    for name, p in probe.encoder.named_parameters():
        if not torch.equal(p, before[name]):
            raise Fail(f"the encoder's {name} changed in a training step.")
    return (
        "only the head trains (15 numbers here; 770 on MiniLM). eval() switches "
        "dropout off but freezes nothing; requires_grad_(False) does."
    )


def buggy_mean_pool(hidden, mask):  # (B, T, C), (B, T) -> (B, C)
    m = mask.unsqueeze(-1).float()  # (B, T) -> (B, T, 1)
    return (hidden * m).sum(1) / hidden.shape[1]


@exercise(
    "finetune.mean_pool",
    "fix buggy_mean_pool: a sentence's vector depends on what it is batched with",
    kind="find-the-bug",
    hints=(
        "Pool one sentence alone, then in a batch with a longer sentence: only the "
        "padding differs. Which number in the formula depends on the padding?",
        "The numerator skips the padding (it is multiplied by the mask); the "
        "denominator is the padded length T, the same for every row.",
        "Divide by the number of real tokens of each row: m.sum(1), shape (B, 1).",
    ),
    buggy=buggy_mean_pool,
)
def check_mean_pool(mean_pool_fn) -> str:
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    out = _tensor(mean_pool_fn(hidden, mask), (3, 4))
    expected = mean_pool(hidden, mask)
    if _close(out, expected):
        alone = mean_pool_fn(hidden[1:2, :3], mask[1:2, :3])
        if not _close(alone, expected[1:2]):
            raise Fail("a sentence alone and the same sentence padded still differ.")
        return "the mean over the real tokens: the same vector with or without padding."
    if _close(out, hidden.sum(1) / 5) or _close(out, hidden.mean(1)):
        raise Fail("the padded positions are averaged in: multiply by the mask.")
    if _close(out, (hidden * mask[..., None]).sum(1) / 5):
        raise Fail(
            "every row is divided by the padded length T: a short sentence's vector "
            "shrinks the more padding it gets. Divide by its own number of tokens."
        )
    if _close(out, (hidden * mask[..., None]).sum(1) / mask.sum()):
        raise Fail("you divide by the real tokens of the whole batch; count per row.")
    real = hidden[mask.bool()]
    if _close(out, real.mean(0).expand(3, 4)):
        raise Fail("every row got one mean over the whole batch: average per row.")
    raise Fail("the vectors differ from the mean over each row's real tokens.")


def buggy_accuracy(logits, labels):  # (B, L) logits, (B,) labels -> a float
    predicted = logits.max(dim=-1)[0]
    return (predicted == labels).float().mean().item()


@exercise(
    "finetune.accuracy",
    "fix buggy_accuracy: a classifier that is right 9 times in 10 scores 0",
    kind="find-the-bug",
    hints=(
        "Print predicted for a small batch: are those label numbers (0, 1)?",
        "torch.max over a dim returns two things, (values, indices); [0] is the "
        "values: the largest logit of each row, not where it is.",
        "predicted = logits.argmax(dim=-1) (or logits.max(dim=-1)[1]).",
    ),
    buggy=buggy_accuracy,
)
def check_accuracy(accuracy_fn) -> str:
    logits = torch.tensor([[2.5, 1.0], [0.0, 3.5], [1.5, 0.5], [0.2, 0.1], [0.0, 1.5]])
    labels = torch.tensor([0, 1, 1, 0, 0])  # 3 of 5 right
    out = accuracy_fn(logits, labels)
    if not isinstance(out, (int, float, torch.Tensor)) or (
        isinstance(out, torch.Tensor) and out.numel() != 1
    ):
        raise Fail("return one number (a float or a 0-d tensor), the share correct.")
    value = float(out)
    if abs(value - 0.6) < 1e-6:
        return "accuracy = mean(argmax over the labels == label) = 0.6 here."

    def share(predicted):
        return float((predicted == labels).float().mean())

    if abs(value - share(logits.max(-1)[0])) < 1e-6:
        raise Fail(
            "0 right: you compare the largest logit (a value like 2.5 or 0.2) with "
            "the label; compare where it is: the argmax, .max(dim=-1)[1]."
        )
    if abs(value - share(torch.softmax(logits, -1).max(-1)[0])) < 1e-6:
        raise Fail(
            "a softmax keeps the order but gives probabilities: take the argmax."
        )
    if abs(value - 3) < 1e-6:
        raise Fail("that is the number correct: divide by the batch size (.mean()).")
    if abs(value - 0.4) < 1e-6:
        raise Fail("that is the error rate: count argmax == label, not !=.")
    if abs(value - share(logits.argmax(0)[labels])) < 1e-6:
        raise Fail("take the argmax over the labels, dim=-1, not over the batch.")
    raise Fail(f"expected 0.6 for this batch, got {value:.3f}.")


# ---------------------------------------------------------------- implement


@exercise(
    "finetune.last_real",
    "last_real_any_side(hidden, mask): the last real token with left or right padding",
    kind="implement",
    hints=(
        "The chapter's last_real uses mask.sum(1) - 1: right only when the real "
        "tokens come first. With left padding they come last.",
        "The position you want is the largest t with mask[b, t] == 1. Multiply the "
        "mask by the positions 1..T and take the argmax over T.",
        "last = (mask * torch.arange(1, T + 1)).argmax(1); "
        "return hidden[torch.arange(B), last]",
    ),
)
def check_last_real(last_real) -> str:
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(3, 5, 4, generator=g)
    right = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    left = right.flip(1)  # the same lengths, padding first
    for mask, side in ((right, "right"), (left, "left")):
        out = _tensor(last_real(hidden, mask), (3, 4))
        expected = last_token_pool(hidden, mask)
        if _close(out, expected):
            continue
        if _close(out, hidden[:, -1]):
            raise Fail(
                f"with {side} padding you took position T-1 for every row: for a "
                "right-padded short row that is padding. Use the mask."
            )
        if side == "left" and _close(out, hidden[torch.arange(3), mask.sum(1) - 1]):
            raise Fail(
                "mask.sum(1) - 1 counts tokens, which is the last position only when "
                "they come first: with left padding it lands on a pad."
            )
        if _close(out, hidden[torch.arange(3), mask.argmax(1)]):
            raise Fail(
                "mask.argmax(1) finds the FIRST real token (argmax takes the "
                "first maximum); you want the last."
            )
        raise Fail(
            f"with {side} padding some rows got another position than the "
            "last real token."
        )
    return "the last real token, whichever side the padding is on."


# ---------------------------------------------------------------- predict


@functools.cache
def _gpt_hidden(sentences: tuple[str, ...]) -> list[torch.Tensor]:
    from course_lib.artefacts import load_reference_gpt
    from course_lib.classification import GPTEncoder

    gpt, tok, _ = load_reference_gpt()
    with torch.no_grad():
        return [GPTEncoder(gpt)(torch.tensor([tok.encode(s)]))[0] for s in sentences]


def _number(answer, what: str) -> float:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise Fail(f"write your prediction as a number ({what}), got {answer!r}.")
    return float(answer)


@exercise(
    "finetune.causal_prefix",
    "predict: at how many positions are our GPT's hidden vectors of 'the film was "
    "superb' and 'the film was dreadful' equal?",
    kind="predict",
    hints=(
        "In a causal model, which characters can position t's vector depend on?",
        "Position t sees characters 0..t only. Where do the two sentences first "
        "differ?",
        "They share 'the film was ' (13 characters, the space included): positions "
        "0 to 12 are equal, so 13.",
    ),
)
def check_causal_prefix(prediction) -> str:
    guess = _number(prediction, "a count of positions")
    a, b = _gpt_hidden(("the film was superb", "the film was dreadful"))
    same = 0
    while same < min(len(a), len(b)) and torch.allclose(a[same], b[same], atol=1e-5):
        same += 1
    why = (
        f"{same}: position t attends only to characters 0..t, so the vectors stay "
        f"equal over the shared prefix 'the film was ' ({same} characters) and "
        "part at the first different letter."
    )
    if guess == same:
        return why
    if guess == 0:
        raise Fail(
            "not 0: in a causal model no position sees the end of the sentence. "
            f"The answer is {why}"
        )
    if guess == same - 1:
        raise Fail(f"off by one: the space before 'superb' is shared too. {why}")
    if guess >= len(b) - 1:
        raise Fail(
            f"they do differ: a causal vector includes what came before it. {why}"
        )
    raise Fail(f"you predicted {guess:g}; the answer is {why}")


@exercise(
    "finetune.probe_params",
    "predict: how many parameters does a linear probe on MiniLM (width 384, 2 "
    "labels) train?",
    kind="predict",
    hints=(
        "A probe trains only the head: a Linear layer from the pooled vector to the "
        "labels.",
        "nn.Linear(C, L) holds a weight (L, C) and a bias (L,).",
        "384 x 2 + 2 = 770, of MiniLM's 22.7 million.",
    ),
)
def check_probe_params(prediction) -> str:
    guess = _number(prediction, "a parameter count")
    head = nn.Linear(384, 2)  # what SequenceClassifier puts on MiniLM
    n = sum(p.numel() for p in head.parameters())
    if guess == n:
        return (
            f"{n} = 384 x 2 weights + 2 biases: the probe measures what 22.7 million "
            "frozen parameters already hold by training 0.003 % of the count."
        )
    if guess == n - 2:
        raise Fail(f"the head has a bias too: {n}.")
    if guess > 1e6:
        raise Fail(f"that counts the encoder; a probe freezes it. The head has {n}.")
    if guess in (384, 386):
        raise Fail(f"one weight row per label, 2 labels: {n}.")
    raise Fail(f"you predicted {guess:g}; the head nn.Linear(384, 2) has {n}.")


# ---------------------------------------------------------------- modify

# The words of the task that scikit-learn's English stop-word list holds (as shown in
# the chapter's cell that defines STOP_WORDS).
STOP_WORDS = {"is", "not", "seemed", "show", "so", "that", "the", "this", "very", "was"}


def best_possible_accuracy(sentences, labels, stop_words=STOP_WORDS) -> float:
    """The accuracy of the best classifier that sees the sentences without their stop
    words: it predicts the majority label of every group that becomes identical."""
    groups = defaultdict(Counter)
    for s, y in zip(sentences, labels, strict=True):
        groups[" ".join(w for w in s.split() if w not in stop_words)][y] += 1
    return sum(max(c.values()) for c in groups.values()) / len(sentences)


@exercise(
    "finetune.stop_ceiling",
    "modify: the best accuracy after stop-word removal on the first 100 training "
    "sentences",
    kind="modify",
    hints=(
        "Change train_x, train_y in the provided cell to train_x[:100], train_y[:100] "
        "and run it; report the number it prints.",
        "Fewer sentences, fewer collisions: a sentence and its negation must both be "
        "drawn to collide.",
        "best_possible_accuracy(train_x[:100], train_y[:100]) is 0.96.",
    ),
)
def check_stop_ceiling(answer) -> str:
    from course_lib.tasks import sentiment_split

    guess = _number(answer, "an accuracy between 0 and 1")
    x, y = sentiment_split("train", 1000)
    small, full = best_possible_accuracy(x[:100], y[:100]), best_possible_accuracy(x, y)
    if abs(guess - small) <= 0.005:
        return (
            f"{small:.2f} on 100 sentences against {full:.2f} on 1000: with little "
            "data few negated sentences meet their un-negated twin, so the damage "
            "hides; the more data, the more pairs collide and the lower the ceiling."
        )
    if abs(guess - full) <= 0.005:
        raise Fail(f"{full:.2f} is the ceiling on all 1000: take the first 100.")
    if abs(guess - 100 * small) <= 0.5:
        raise Fail("write it as a share between 0 and 1, not a percentage.")
    raise Fail(f"you reported {guess:g}; run the provided cell on the first 100.")
