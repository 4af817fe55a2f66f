"""Chapter 10: a Conv1D weight copied without its transpose, a loss that is None
because no labels were passed, splitting GPT-2's fused c_attn, mean pooling over real
tokens, and two predictions: the size of GPT-2's tied embedding and the shape of the
attention it returns."""

import torch
import torch.nn.functional as F

from course_lib.exercises import Fail, exercise
from course_lib.exercises.ch05_transformer_block import _close, _tensor


def _tiny_gpt2(num_layers: int = 1, num_heads: int = 2, vocab_size: int = 20):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=vocab_size, n_positions=16, n_embd=16,
                        n_layer=num_layers, n_head=num_heads, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0,
                        eos_token_id=0)  # fmt: skip
    with torch.random.fork_rng():  # the learner's random numbers stay as they were
        torch.manual_seed(10)
        model = GPT2LMHeadModel(config).eval()
    model.set_attn_implementation("eager")
    return model


# ------------------------------------------------ find the bug: Conv1D -> Linear


def buggy_linear_from_conv1d(conv):
    n_in, n_out = conv.weight.shape  # Conv1D stores its weight as (in, out)
    linear = torch.nn.Linear(n_in, n_out)
    with torch.no_grad():
        linear.weight.copy_(conv.weight.reshape(n_out, n_in))  # nn.Linear: (out, in)
        linear.bias.copy_(conv.bias)
    return linear


def _conv1d(n_in: int, n_out: int, seed: int):
    from transformers.pytorch_utils import Conv1D

    conv = Conv1D(n_out, n_in)  # Conv1D(nf=out, nx=in): weight (in, out)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(n_in, n_out, generator=g))
        conv.bias.copy_(torch.randn(n_out, generator=g))
    return conv


@exercise(
    "hf.conv1d_weight",
    "fix linear_from_conv1d: the nn.Linear it builds computes another function",
    kind="find-the-bug",
    hints=(
        "Feed the same x to the Conv1D and to the Linear and compare: the shapes "
        "agree, the numbers do not.",
        "Conv1D computes x @ W with W (in, out); nn.Linear computes x @ W.T with W "
        "(out, in). Which operation turns one layout into the other?",
        "reshape keeps the numbers in memory order; the weight must be transposed: "
        "linear.weight.copy_(conv.weight.t()).",
    ),
    buggy=buggy_linear_from_conv1d,
)
def check_conv1d_weight(linear_from_conv1d) -> str:
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(1))
    for n_out, seed in ((12, 3), (5, 2)):  # (5, 12), then a square weight
        conv = _conv1d(5, n_out, seed)
        try:
            linear = linear_from_conv1d(conv)
        except RuntimeError as error:
            if "size" not in str(error) and "shape" not in str(error):
                raise
            raise Fail(
                "copying Conv1D's (in, out) weight into nn.Linear's (out, in) one "
                "fails on shape: transpose it first (conv.weight.t())."
            ) from None
        if not isinstance(linear, torch.nn.Linear):
            raise Fail(f"return an nn.Linear, got {type(linear).__name__}.")
        w = _tensor(linear.weight.detach(), (n_out, 5))
        with torch.no_grad():
            out, expected = linear(x), conv(x)
        if _close(out, expected):
            continue
        if _close(w, conv.weight.detach()):
            raise Fail(
                "the weight is copied as it is, still in Conv1D's (in, out) layout: "
                "nn.Linear wants (out, in), so transpose it (conv.weight.t())."
            )
        if _close(w, conv.weight.detach().reshape(n_out, 5)):
            raise Fail(
                "the shapes fit but the outputs differ: reshape keeps the memory "
                "order and scrambles the weight. Transpose it instead."
            )
        if not _close(linear.bias.detach(), conv.bias.detach()):
            raise Fail("the weight is right; copy the bias too (conv.bias).")
        raise Fail("your Linear's output differs from the Conv1D's on the same x.")
    return "the Linear equals the Conv1D on every input: W_linear = W_conv1d.T."


# ---------------------------------------------------- find the bug: no labels


def buggy_lm_loss(hf_model, ids):
    out = hf_model(input_ids=ids)  # ids (B, T) -> logits (B, T, V)
    return out.loss  # the mean next-token cross-entropy


@exercise(
    "hf.labels",
    "fix lm_loss: the loss of a GPT2LMHeadModel comes back as None",
    kind="find-the-bug",
    hints=(
        "Print type(out.loss). When does a Hugging Face model compute a loss at all?",
        "GPT2LMHeadModel computes the loss only when it is given the targets, as the "
        "keyword labels=. It shifts them by one position itself.",
        "hf_model(input_ids=ids, labels=ids).loss: the same ids, unshifted.",
    ),
    buggy=buggy_lm_loss,
)
def check_labels(lm_loss) -> str:
    model = _tiny_gpt2()
    ids = torch.randint(0, 20, (2, 10), generator=torch.Generator().manual_seed(4))
    loss = lm_loss(model, ids)
    if loss is None:
        raise Fail(
            "the loss is None: transformers' models return a loss only when you "
            "pass labels=."
        )
    loss = _tensor(loss, ())
    with torch.no_grad():
        logits = model(ids).logits  # (B, T, V)
        expected = F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())
        unshifted = F.cross_entropy(logits.flatten(0, 1), ids.flatten())
        twice = model(ids[:, :-1], labels=ids[:, 1:]).loss
    if _close(loss.detach(), expected):
        return "the next-token loss: labels=ids, which the model shifts itself."
    if _close(loss.detach(), twice):
        raise Fail(
            "shifted twice: GPT2LMHeadModel shifts labels by one itself, so pass "
            "input_ids=ids and labels=ids unshifted."
        )
    if _close(loss.detach(), unshifted):
        raise Fail(
            "position t must predict token t+1: your loss compares every position "
            "with its own token (pass labels=ids and let the model shift)."
        )
    raise Fail("your loss differs from the model's next-token loss with labels=ids.")


# ------------------------------------------------------- implement: split c_attn


@exercise(
    "hf.split_c_attn",
    "split_c_attn(w): GPT-2's fused (C, 3C) c_attn weight -> q, k, v Linear weights",
    kind="implement",
    hints=(
        "c_attn's weight is (in, out) = (C, 3C): the outputs of q, k and v sit side "
        "by side along dim 1.",
        "w.chunk(3, dim=1) gives three (C, C) blocks, still in Conv1D's (in, out) "
        "layout.",
        "tuple(block.t() for block in w.chunk(3, dim=1))",
    ),
)
def check_split_c_attn(split_c_attn) -> str:
    g = torch.Generator().manual_seed(11)
    C = 6
    q, k, v = (torch.randn(C, C, generator=g) for _ in range(3))  # Linear (out, in)
    fused = torch.cat([q, k, v], dim=0).t()  # (3C, C) -> Conv1D (C, 3C)
    out = split_c_attn(fused)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise Fail("return three tensors: (q_weight, k_weight, v_weight).")
    if all(isinstance(t, torch.Tensor) and t.shape == (C // 3, 3 * C) for t in out):
        raise Fail(
            "you split the input axis (dim 0, size C): q, k and v sit side by side "
            "along dim 1 (size 3C)."
        )
    got = [_tensor(t, (C, C)) for t in out]
    if all(_close(a, b) for a, b in zip(got, (q, k, v), strict=True)):
        return "q, k, v recovered: split the 3C axis in three, then transpose each."
    if all(_close(a, b.t()) for a, b in zip(got, (q, k, v), strict=True)):
        raise Fail(
            "right blocks, but still in Conv1D's (in, out) layout: transpose each "
            "one for nn.Linear."
        )
    if all(_close(a, b) for a, b in zip(got, (v, k, q), strict=True)):
        raise Fail("the order is q, k, v (as GPT-2 concatenates them), not v, k, q.")
    raise Fail("your weights differ from the q, k, v blocks of c_attn, transposed.")


# ------------------------------------------------------- implement: mean pooling


@exercise(
    "hf.mean_pool",
    "mean_pool(hidden, mask): average of (B, T, C) hidden states over real tokens",
    kind="implement",
    hints=(
        "hidden.mean(dim=1) averages the padding in too.",
        "Zero the padded positions with hidden * mask[..., None], sum over T, and "
        "divide by the number of real tokens of each row.",
        "m = mask.unsqueeze(-1).float(); (hidden * m).sum(1) / m.sum(1)",
    ),
)
def check_mean_pool(mean_pool) -> str:
    g = torch.Generator().manual_seed(12)
    hidden = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    out = _tensor(mean_pool(hidden, mask), (3, 4))
    m = mask.unsqueeze(-1).float()
    expected = (hidden * m).sum(1) / m.sum(1)
    if _close(out, expected):
        return "equal to sentence-transformers' mean pooling: padding is left out."
    if _close(out, hidden.mean(1)):
        raise Fail(
            "padding is averaged in: multiply by the mask and divide by the number "
            "of real tokens (mask.sum(1)), not by T."
        )
    if _close(out, (hidden * m).sum(1) / hidden.shape[1]):
        raise Fail("divide by the number of real tokens, mask.sum(1), not by T.")
    if _close(out, hidden[:, 0]):
        raise Fail("that is the first token ([CLS] pooling); average over tokens.")
    raise Fail("your output differs from sum(hidden * mask) / mask.sum() over T.")


# ------------------------------------------------- predict: the tied embedding


@exercise(
    "hf.tied_params",
    "predict how many parameters GPT-2 small's token embedding and output layer hold",
    kind="predict",
    hints=(
        "The token embedding wte is a (V, C) matrix: one row of C numbers per token. "
        "The output layer lm_head maps C numbers to V logits.",
        "GPT-2 small: V = 50,257 tokens, C = 768. Is lm_head.weight a tensor of its "
        "own? (The chapter's round trip asserts it for ours.)",
        "50,257 x 768 = 38,597,376 (about 31 % of the 124M).",
    ),
)
def check_tied_params(prediction) -> str:
    from transformers import GPT2Config

    if isinstance(prediction, bool) or not isinstance(prediction, (int, float)):
        raise Fail("write your prediction as a number, e.g. 1_000_000.")
    c = GPT2Config()  # GPT-2 small's sizes are the defaults
    tied = c.vocab_size * c.n_embd
    tiny = _tiny_gpt2()
    assert tiny.lm_head.weight is tiny.transformer.wte.weight  # one tensor, two uses
    if abs(prediction - tied) <= 0.01 * tied:
        return (
            f"right: {c.vocab_size:,} x {c.n_embd} = {tied:,}, counted once since "
            "lm_head.weight is wte.weight; about 31 % of GPT-2 small's 124M."
        )
    if abs(prediction - 2 * tied) <= 0.01 * tied:
        raise Fail(
            "you count the output layer as a second matrix, but it is tied: "
            "lm_head.weight is wte.weight, one tensor, and model.parameters() holds "
            "it once."
        )
    if abs(prediction - tied - c.n_positions * c.n_embd) <= 0.01 * tied:
        raise Fail("that adds the position embedding wpe; count the token one only.")
    raise Fail("the token embedding is a (vocabulary, width) matrix: multiply them.")


# ----------------------------------------------- predict: the attention's shape


@exercise(
    "hf.attentions_shape",
    "predict the shape of torch.stack(outputs.attentions) for a (2, 10) batch",
    kind="predict",
    hints=(
        "outputs.attentions is a tuple with one tensor per layer; torch.stack puts "
        "the layers first.",
        "Each layer's tensor holds, for every sequence and every head, a T x T map: "
        "queries by keys.",
        "(layers, B, heads, T, T) = (4, 2, 4, 10, 10) for our 4-layer, 4-head model.",
    ),
)
def check_attentions_shape(prediction) -> str:
    if not isinstance(prediction, (tuple, list, torch.Size)) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in prediction
    ):
        raise Fail("write the shape as a tuple of whole numbers, e.g. (1, 2, 3).")
    model = _tiny_gpt2(num_layers=4, num_heads=4, vocab_size=103)
    ids = torch.zeros(2, 10, dtype=torch.long)
    with torch.no_grad():
        shape = tuple(torch.stack(model(ids, output_attentions=True).attentions).shape)
    guess = tuple(prediction)
    if guess == shape:
        return f"right, {shape}: (layers, B, heads, T queries, T keys)."
    if guess == shape[1:]:
        raise Fail("that is one layer's tensor; stacking the 4 layers adds a dim.")
    if len(guess) == 4 and guess[0] == 4:
        raise Fail("every head has its own map: keep a heads dim after B.")
    if len(guess) == 5 and guess[:4] == shape[:4]:
        raise Fail("an attention map is queries x keys: T x T, not T x a width.")
    raise Fail("count: layers, sequences, heads, then queries x keys.")
