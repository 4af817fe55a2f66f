"""Chapter 06: label smoothing, the teacher-forcing shift, the decoder's causal mask,
the source padding mask, how the warm-up's peak scales, and what a narrower FFN does
to the base model's parameter count."""

import torch
import torch.nn.functional as F

from course_lib.batching import pad_batch
from course_lib.exercises import Fail, exercise
from course_lib.exercises.ch05_transformer_block import _close, _number, _tensor
from course_lib.tasks import PAD_ID
from course_lib.transformer import Transformer, TransformerConfig


def _tiny_model(seed: int, V: int = 11, final_norm: bool = False) -> Transformer:
    """A small random Transformer in float64, in eval mode (no dropout)."""
    torch.manual_seed(seed)
    config = TransformerConfig(
        V, V, d_model=16, num_heads=2, num_encoder_layers=2, num_decoder_layers=2,
        d_ff=32, dropout=0.0, max_len=16, share_vocab=True, final_norm=final_norm,
    )  # fmt: skip
    return Transformer(config).double().eval()


def _batch(seed: int, V: int = 11):
    """src (2, 6) and tgt (2, 6) with <bos>=1 and padding at the end of row 2."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, V, (2, 6), generator=g)
    tgt = torch.randint(3, V, (2, 6), generator=g)
    tgt[:, 0] = 1
    src[1, 4:] = PAD_ID
    tgt[1, 4:] = PAD_ID
    return src, tgt, (src != PAD_ID)[:, None, None, :]


# --- implement: label smoothing (kept from before)
@exercise(
    "transformer.label_smoothing",
    "smoothed_loss(logits, targets, eps, pad_id): equal to F.cross_entropy's",
    kind="implement",
    hints=(
        "Build the target distribution q per row: 1 - eps on the true class plus "
        "eps spread evenly over ALL V classes (the true one included).",
        "loss per row = -(q * logits.log_softmax(-1)).sum(-1); then average over "
        "the rows whose target is not pad_id.",
        "q = torch.full_like(logp, eps / V); q[torch.arange(N), targets] += 1 - eps; "
        "per_row = -(q * logp).sum(-1); return per_row[targets != pad_id].mean()",
    ),
)
def check_label_smoothing(smoothed_loss) -> str:
    g = torch.Generator().manual_seed(9)
    N, V, eps, pad = 12, 7, 0.1, 0
    logits = torch.randn(N, V, generator=g, dtype=torch.float64) * 2
    targets = torch.randint(1, V, (N,), generator=g)
    targets[-3:] = pad
    out = smoothed_loss(logits, targets, eps, pad)
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        raise Fail("return the mean loss as a one-number tensor.")
    expected = F.cross_entropy(logits, targets, ignore_index=pad, label_smoothing=eps)
    if _close(out.reshape(()), expected, atol=1e-6):
        return "equal to F.cross_entropy(..., label_smoothing=eps, ignore_index=pad)."
    logp = logits.log_softmax(-1)
    keep = targets != pad

    def smoothed(off, on, mask=keep):
        q = torch.full_like(logp, off)
        q[torch.arange(N), targets] = on
        per_token = -(q * logp).sum(-1)
        return per_token[mask].mean()

    all_rows = torch.ones(N, dtype=torch.bool)
    if _close(out.reshape(()), smoothed(eps / (V - 1), 1 - eps), atol=1e-6):
        raise Fail(
            "you spread eps over the V-1 wrong classes. PyTorch (and the course) "
            "mixes the one-hot target with a uniform over all V classes: "
            "q = (1 - eps)·onehot + eps / V."
        )
    if _close(out.reshape(()), smoothed(eps / V, 1 - eps + eps / V, all_rows), 1e-6):
        raise Fail(
            "padding positions are counted: drop the rows whose target is pad_id "
            "before averaging."
        )
    if _close(out.reshape(()), F.cross_entropy(logits, targets, ignore_index=pad)):
        raise Fail("that is the plain cross-entropy: there is no smoothing in it.")
    raise Fail(
        "your loss differs. Hint: q = (1 - eps)·onehot + eps/V; loss = -(q · "
        "log_softmax(logits)).sum(-1), averaged over the non-pad rows."
    )


# --- find the bug: teacher forcing
def buggy_translation_loss(model, src, tgt, src_mask):  # tgt: <bos> ... <eos> (B, T+1)
    logits = model(src, tgt[:, :-1], src_mask)  # (B, T, V)
    labels = tgt[:, :-1]  # (B, T)
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),  # (B*T, V)
        labels.reshape(-1),  # (B*T,)
        ignore_index=PAD_ID,
        label_smoothing=0.1,
    )


@exercise(
    "transformer.shift",
    "buggy_translation_loss: a model that translates perfectly scores badly; fix it",
    kind="find-the-bug",
    hints=(
        "What must the logits at position t be compared with: the token the decoder "
        "was given at t, or the one after it?",
        "The decoder input is tgt[:, :-1]; its labels must be the same sequence "
        "moved one step left.",
        "labels = tgt[:, 1:]",
    ),
    buggy=buggy_translation_loss,
)
def check_shift(translation_loss) -> str:
    model = _tiny_model(16)
    src, tgt, src_mask = _batch(16)
    with torch.no_grad():
        out = translation_loss(model, src, tgt, src_mask)
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            raise Fail("return the loss as a one-number tensor.")
        V = model.config.tgt_vocab_size

        def loss(inputs, labels, smoothing=0.1, ignore=PAD_ID):
            logits = model(src, inputs, src_mask).reshape(-1, V)
            return F.cross_entropy(
                logits, labels.reshape(-1), ignore_index=ignore,
                label_smoothing=smoothing,
            )  # fmt: skip

        out = out.reshape(())
        if _close(out, loss(tgt[:, :-1], tgt[:, 1:])):
            return "input tgt[:, :-1], labels tgt[:, 1:]: position t is scored on t+1."
        if _close(out, loss(tgt[:, :-1], tgt[:, :-1])):
            raise Fail(
                "the labels are still the decoder's own input: each position is "
                "scored on the token it was given, not the next one."
            )
        if _close(out, loss(tgt[:, 1:], tgt[:, :-1])):
            raise Fail(
                "input and labels are swapped: the decoder's input starts with <bos>, "
                "the labels end with <eos>."
            )
        if _close(out, loss(tgt[:, :-1], tgt[:, 1:], smoothing=0.0)):
            raise Fail("the shift is right now, but keep label_smoothing=0.1.")
        if _close(out, loss(tgt[:, :-1], tgt[:, 1:], ignore=-100)):
            raise Fail("the shift is right now, but keep ignore_index=PAD_ID.")
    raise Fail("your loss differs from the teacher-forcing loss; change one line.")


# --- find the bug: the decoder's self-attention
def buggy_decode(model, tgt_in, memory, src_mask):  # tgt_in (B, T), memory (B, S, C)
    y = model.embed(tgt_in, model.tgt_emb, "tgt")  # (B, T, C)
    for block in model.decoder.layers:
        y, _, _ = block(y, memory, memory_mask=src_mask)  # (B, T, C)
    return model.lm_head(y)  # (B, T, V)


@exercise(
    "transformer.causal",
    "buggy_decode: early logits change with later tokens; fix it",
    kind="find-the-bug",
    hints=(
        "Position 0's logits moved when only the LAST input token changed: position "
        "0 can see the future. Which mask keeps a query from later keys?",
        "DecoderBlock is not causal by itself: its self-attention needs either "
        "tgt_mask=causal_mask(T) or tgt_is_causal=True.",
        "y, _, _ = block(y, memory, memory_mask=src_mask, tgt_is_causal=True)",
    ),
    buggy=buggy_decode,
)
def check_causal(decode) -> str:
    model = _tiny_model(17)
    src, tgt, src_mask = _batch(17)
    tgt_in = tgt[:, :-1]
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        out = _tensor(decode(model, tgt_in, memory, src_mask), (2, 5, 11))
        if _close(out, model.decode(tgt_in, memory, src_mask)):
            return "causal: position t sees tokens <= t only, as in Transformer.decode."
        if _close(out, buggy_decode(model, tgt_in, memory, src_mask)):
            raise Fail(
                "still no causal mask: change the last input token and position 0's "
                "logits still move."
            )
        if _close(out, model.decode(tgt_in, model.encode(src), None)):
            raise Fail("causal now, but keep memory_mask=src_mask (the padding).")
        T = tgt_in.shape[1]
        future_only = ~torch.tril(torch.ones(T, T, dtype=torch.bool))
        y = model.embed(tgt_in, model.tgt_emb, "tgt")
        for block in model.decoder.layers:
            y, _, _ = block(y, memory, future_only, src_mask)
        if _close(out, model.lm_head(y)):
            raise Fail(
                "your mask is inverted: the course's masks say True = may attend, so "
                "the causal one is torch.tril(...) (or causal_mask(T))."
            )
    raise Fail(
        "your logits differ from Transformer.decode's; add the causal mask to the "
        "self-attention of each block, and change nothing else."
    )


# --- find the bug: padding in a batch
def buggy_encode_batch(model, sentences):  # sentences: lists of token ids
    src = pad_batch(sentences, PAD_ID)  # (B, S), right-padded
    return model.encode(src)  # (B, S, C)


@exercise(
    "transformer.padding",
    "buggy_encode_batch: a sentence's memory depends on its batch; fix it",
    kind="find-the-bug",
    hints=(
        "A sentence alone has no padding; batched with a longer one, it gets PAD "
        "tokens at its end. Who reads them?",
        "Without a mask, every real token attends to the PAD tokens too. "
        "model.encode takes a key-padding mask (B, 1, 1, S), True = real token.",
        "return model.encode(src, (src != PAD_ID)[:, None, None, :])",
    ),
    buggy=buggy_encode_batch,
)
def check_padding(encode_batch) -> str:
    model = _tiny_model(18)
    sentences = [[4, 5, 6, 7, 8, 9], [7, 3, 5], [10, 4, 4, 6]]
    with torch.no_grad():
        out = encode_batch(model, [list(s) for s in sentences])
        out = _tensor(out, (3, 6, 16))
        alone = [model.encode(torch.tensor([s]))[0] for s in sentences]
        if all(_close(out[i, : len(s)], alone[i]) for i, s in enumerate(sentences)):
            return "each sentence's memory is the same alone or in a padded batch."
        src = pad_batch(sentences, PAD_ID)
        if _close(out, model.encode(src)):
            raise Fail(
                "still no mask: the real tokens of the short sentences attend to the "
                "PAD tokens."
            )
        if _close(out, model.encode(src, (src == PAD_ID)[:, None, None, :])):
            raise Fail(
                "your mask is inverted: True = may attend, so the mask is "
                "src != PAD_ID (and the real tokens would see only padding)."
            )
    raise Fail(
        "a sentence's real positions still differ between alone and batched: pass "
        "model.encode a key-padding mask of shape (B, 1, 1, S)."
    )


# --- predict: the warm-up's peak
def paper_lr(step, d_model, warmup):
    return d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


@exercise(
    "transformer.warmup_peak",
    "predict: the paper's peak learning rate with warmup 16,000 instead of 4,000",
    kind="predict",
    hints=(
        "The peak is where the two branches of the min meet: at step = warmup.",
        "Put step = warmup into either branch: the peak is d_model^-0.5 · warmup^-0.5.",
        "Four times the warm-up: the peak is divided by √4 = 2: prediction = 0.5.",
    ),
)
def check_warmup_peak(prediction) -> str:
    value = _number(prediction, "peak(16000) / peak(4000)")
    ratio = paper_lr(16_000, 512, 16_000) / paper_lr(4_000, 512, 4_000)
    if abs(value - ratio) <= 0.02:
        return (
            f"{ratio:.2f}: the peak is d_model^-0.5 · warmup^-0.5, so a warm-up four "
            "times longer climbs to half the rate (and decays along the same "
            "1/√step curve afterwards)."
        )
    if abs(value - 1) <= 0.02:
        raise Fail(
            "the peak is not a fixed number here: the ramp's slope is "
            "warmup^-1.5, so a longer warm-up climbs more slowly and meets the "
            "decay lower."
        )
    if abs(value - 0.25) <= 0.02:
        raise Fail(
            "too low: the ramp's slope falls as warmup^-1.5, but it climbs four "
            "times longer; the peak falls as warmup^-0.5."
        )
    if value > 1:
        raise Fail("a longer warm-up gives a lower peak, not a higher one.")
    raise Fail(
        "not the ratio eq. (3) gives. Work out lr(warmup) for each: where the two "
        "branches of the min meet."
    )


# --- modify: a narrower FFN in the base model
def base_parameters(d_ff: int) -> int:
    """The parameter count of the paper's base model with FFN width ``d_ff``: what
    ``count_parameters`` gives for ``TransformerConfig.base(vocab_size=37_000,
    d_ff=d_ff)`` (one shared embedding, no final norms), counted block by block so
    that nothing 63M-sized is built (tests/test_exercises_ch06.py checks it equal)."""
    from course_lib.layers import DecoderBlock, EncoderBlock
    from course_lib.utils import count_parameters

    c = TransformerConfig.base(vocab_size=37_000, d_ff=d_ff)
    args = (c.d_model, c.num_heads, c.d_ff)
    return (
        c.src_vocab_size * c.d_model
        + c.num_encoder_layers * count_parameters(EncoderBlock(*args))
        + c.num_decoder_layers * count_parameters(DecoderBlock(*args))
    )


@exercise(
    "transformer.narrow_ffn",
    "modify: the base model with d_ff = 1024; report its parameter count",
    kind="modify",
    hints=(
        "In section 3's cell, build TransformerConfig.base(vocab_size=37_000, "
        "d_ff=1024) on the meta device and count it.",
        "count_parameters(Transformer(TransformerConfig.base(vocab_size=37_000, "
        "d_ff=1024))) inside `with torch.device('meta'):`.",
        "Each of the 12 FFNs loses 2·512·1024 + 1024 parameters: 63,082,496 - "
        "12,595,200.",
    ),
)
def check_narrow_ffn(answer) -> str:
    value = _number(answer, "a parameter count")
    narrow, base = base_parameters(1024), base_parameters(2048)
    per_ffn = (base - narrow) // 12  # 6 encoder and 6 decoder blocks
    if value == narrow:
        share = 12 * (2 * 512 * 2048 + 2048 + 512) / (base - 37_000 * 512)
        return (
            f"{narrow:,}: {base - narrow:,} fewer ({(base - narrow) / base:.0%}). "
            f"Outside the embedding, the twelve FFNs held {share:.0%} of the base "
            "model's parameters."
        )
    if value == base:
        raise Fail("that is the unmodified count: pass d_ff=1024 to the config.")
    if value == base - 6 * per_ffn:
        raise Fail("you narrowed only one stack: the decoder has six FFNs too.")
    if abs(value - narrow) <= 0.01 * narrow:
        raise Fail("close, but not exact: count with count_parameters, not by hand.")
    raise Fail("your count differs from the base model's with d_ff=1024.")
