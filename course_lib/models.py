"""The course's models, each described fully by a config dataclass.

- ``BigramLanguageModel``, ``LSTMLanguageModel``: the baselines of chapter 01.
- ``Transformer``: the encoder-decoder of "Attention Is All You Need" (chapter 06).
- ``GPT``: a decoder-only Transformer shaped exactly like GPT-2 (Radford et al., 2019),
  trained in chapter 07; ``course_lib.hf`` maps it weight for weight to
  ``transformers.GPT2LMHeadModel``.

Language models share one interface: ``forward(idx, targets=None) -> (logits, loss)``
with ``idx`` ``(B, T)`` token ids, ``logits`` ``(B, T, V)``, and ``loss`` the mean
cross-entropy against ``targets`` ``(B, T)`` (None without targets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.attention import KVCache, _is_int
from course_lib.layers import (
    DecoderBlock,
    EncoderBlock,
    _activation,
    _check_dropout,
    copy_block_from_torch,
    sinusoidal_positions,
)


def _check_token_ids(
    idx: Tensor,
    vocab_size: int,
    name: str = "idx",
    ignore_index: int | None = None,
    what: str = "token id",
) -> None:
    """Integer ids in ``[0, vocab_size)`` (``ignore_index`` allowed too), read with
    one host sync: the smallest and the largest id come back together. ``what``
    names an id in the message (a class label is checked the same way)."""
    if not isinstance(idx, Tensor):
        raise ValueError(f"{name} must be a tensor of token ids, got {type(idx)}.")
    if idx.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{name} must hold integer token ids, got dtype {idx.dtype}.")
    if idx.numel() == 0:
        return
    if ignore_index is not None:  # the ignored id stands for "no target here"
        idx = idx.masked_fill(idx == ignore_index, 0)
    low, high = torch.stack(torch.aminmax(idx)).tolist()
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        also = "" if ignore_index is None else f" (or {ignore_index} to ignore one)"
        if what == "token id":
            raise ValueError(
                f"{name} holds token id {bad}, outside the vocabulary [0, {vocab_size})"
                f"{also}; was it encoded with the tokenizer this model was built for?"
            )
        raise ValueError(f"{name} holds {what} {bad}, outside [0, {vocab_size}){also}.")


def _check_positive_ints(where: str, obj) -> None:
    """Each named field of a config must be an int >= 1 (bool is not an int here)."""
    for field, value in obj.items():
        if not _is_int(value) or value < 1:
            raise ValueError(f"{where}.{field} must be a positive int, got {value!r}.")


def _check_config(config, cls, where: str) -> None:
    if not isinstance(config, cls):
        raise ValueError(
            f"{where}: config must be a {cls.__name__}, got {type(config).__name__}; "
            f"build one with {cls.__name__}(...)."
        )


# --- baselines (chapter 01): bigram and LSTM language models --------------------------


def _check_idx(idx: torch.Tensor, vocab_size: int, where: str, name: str = "idx"):
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2:
        shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx)
        raise ValueError(
            f"{where}: {name} must be a (B, T) tensor of ids, got {shape}."
        )
    if idx.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{where}: {name} must hold integer ids, got {idx.dtype}.")
    if idx.numel() and (idx.min() < 0 or idx.max() >= vocab_size):
        raise ValueError(
            f"{where}: {name} holds ids in [{idx.min().item()}, {idx.max().item()}], "
            f"expected [0, {vocab_size}) for vocab_size={vocab_size}."
        )


def _lm_loss(
    logits: torch.Tensor, targets: torch.Tensor | None, where: str
) -> torch.Tensor | None:
    if targets is None:
        return None
    B, T, V = logits.shape
    _check_idx(targets, V, where, "targets")
    if tuple(targets.shape) != (B, T):
        raise ValueError(
            f"{where}: targets has shape {tuple(targets.shape)}, expected (B, T) = "
            f"{(B, T)} like idx."
        )
    return F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))


class BigramLanguageModel(nn.Module):
    """P(next | current) read from a ``(V, V)`` table of logits: row ``a`` holds the
    scores of every token that may follow token ``a``. Trained to convergence it
    equals the normalised bigram counts."""

    def __init__(self, vocab_size: int):
        super().__init__()
        if not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(
                "BigramLanguageModel: vocab_size must be an int >= 1, "
                f"got {vocab_size!r}."
            )
        self.vocab_size = vocab_size
        # an embedding of width V is the table of logits, one row per current token
        self.logits_table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        _check_idx(idx, self.vocab_size, "BigramLanguageModel")
        logits = self.logits_table(idx)  # (B, T) -> (B, T, V)
        return logits, _lm_loss(logits, targets, "BigramLanguageModel")


class LSTMLanguageModel(nn.Module):
    """Embedding -> ``n_layers`` stacked LSTMs -> linear read-out to ``V`` logits.

    The recurrent baseline of chapter 01 (Hochreiter & Schmidhuber, 1997): the whole
    past is squeezed into a state of ``n_hidden`` numbers carried from step to step,
    the bottleneck attention removes. Each call starts from a zero state.
    """

    def __init__(
        self,
        vocab_size: int,
        n_embd: int = 64,
        n_hidden: int = 256,
        n_layers: int = 1,
        dropout: float = 0.0,
    ):
        super().__init__()
        for name, value in [
            ("vocab_size", vocab_size),
            ("n_embd", n_embd),
            ("n_hidden", n_hidden),
            ("n_layers", n_layers),
        ]:
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"LSTMLanguageModel: {name} must be an int >= 1, got {value!r}."
                )
        _check_dropout(dropout, "LSTMLanguageModel")
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, n_embd)
        # PyTorch applies dropout between stacked layers only
        self.lstm = nn.LSTM(
            n_embd,
            n_hidden,
            num_layers=n_layers,
            batch_first=True,
            dropout=dropout if n_layers > 1 else 0.0,
        )
        self.head = nn.Linear(n_hidden, vocab_size)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        _check_idx(idx, self.vocab_size, "LSTMLanguageModel")
        x = self.embed(idx)  # (B, T) -> (B, T, n_embd)
        h, _ = self.lstm(x)  # (B, T, n_embd) -> (B, T, n_hidden)
        logits = self.head(h)  # (B, T, n_hidden) -> (B, T, V)
        return logits, _lm_loss(logits, targets, "LSTMLanguageModel")


# --- end of baselines -----------------------------------------------------------------


# ============================================================== Transformer (06)
@dataclass
class TransformerConfig:
    """Everything that defines an encoder-decoder Transformer; the defaults are the
    paper's base model (Table 3) apart from the vocabulary sizes, which have none."""

    src_vocab_size: int  # source vocabulary size
    tgt_vocab_size: int  # V: target vocabulary size (the output layer's width)
    d_model: int = 512  # C: model width
    num_heads: int = 8  # H: attention heads; each gets d_model // num_heads
    num_encoder_layers: int = 6  # N encoder blocks
    num_decoder_layers: int = 6  # N decoder blocks
    d_ff: int = 2048  # hidden width of the feed-forward network
    dropout: float = 0.1  # on embeddings+positions, attention weights, sub-layers
    max_len: int = 5000  # longest source or target sequence (positions precomputed)
    norm_first: bool = False  # False: post-norm (the paper); True: pre-norm (GPT)
    final_norm: bool = False  # a LayerNorm after each stack (nn.Transformer has one)
    tie_embeddings: bool = True  # the output layer reuses the target embedding matrix
    share_vocab: bool = False  # one vocabulary, one embedding for source and target
    activation: str = "relu"  # of the feed-forward network: "relu" (paper) or "gelu"

    def __post_init__(self) -> None:
        fields = (
            "src_vocab_size",
            "tgt_vocab_size",
            "d_model",
            "num_heads",
            "num_encoder_layers",
            "num_decoder_layers",
            "d_ff",
            "max_len",
        )
        _check_positive_ints("TransformerConfig", {f: getattr(self, f) for f in fields})
        if self.d_model % self.num_heads:
            raise ValueError(
                f"TransformerConfig.d_model={self.d_model} must be divisible by "
                f"num_heads={self.num_heads}."
            )
        if self.share_vocab and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(
                "TransformerConfig.share_vocab=True needs src_vocab_size == "
                f"tgt_vocab_size, got {self.src_vocab_size} and {self.tgt_vocab_size}."
            )
        _check_dropout(self.dropout, "TransformerConfig")
        _activation(self.activation)

    @classmethod
    def base(cls, vocab_size: int = 37000, **overrides) -> TransformerConfig:
        """The paper's base model: N=6, d_model=512, d_ff=2048, h=8, one shared
        vocabulary (37,000 BPE tokens for English-German) and tied embeddings."""
        fields = dict(src_vocab_size=vocab_size, tgt_vocab_size=vocab_size)
        return cls(**{**fields, "share_vocab": True, **overrides})


class TransformerEncoder(nn.Module):
    """N encoder blocks, then (``final_norm``) one LayerNorm, like
    ``nn.TransformerEncoder`` with ``norm=``. Works on embedded input ``(B, S, C)``."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        _check_config(config, TransformerConfig, type(self).__name__)
        c = config
        self.layers = nn.ModuleList(
            EncoderBlock(
                c.d_model, c.num_heads, c.d_ff, c.dropout, c.norm_first, c.activation
            )
            for _ in range(c.num_encoder_layers)
        )
        # a pre-norm stack leaves its output un-normalised: it needs this final norm
        self.norm = nn.LayerNorm(c.d_model) if c.final_norm else None

    def forward(
        self, x: Tensor, mask: Tensor | None = None, need_weights: bool = False
    ) -> tuple[Tensor, list[Tensor] | None]:
        """``x`` ``(B, S, C)`` -> ``(memory (B, S, C), weights)``: one ``(B, H, S, S)``
        tensor per layer when ``need_weights``, else None. ``mask`` hides padded source
        positions: ``(B, 1, 1, S)``, True = may attend."""
        weights = []
        for layer in self.layers:
            x, w = layer(x, mask, need_weights=need_weights)
            weights.append(w)
        if self.norm is not None:
            x = self.norm(x)
        return x, weights if need_weights else None


class TransformerDecoder(nn.Module):
    """N decoder blocks, then (``final_norm``) one LayerNorm. Works on embedded input
    ``(B, T, C)`` and the encoder's output ``memory`` ``(B, S, C)``.

    Causal by default (``tgt_is_causal=True``), unlike one ``DecoderBlock``: a
    Transformer decoder that can see the tokens it must predict learns to copy them,
    so forgetting the mask is not an option we offer silently."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        _check_config(config, TransformerConfig, type(self).__name__)
        c = config
        self.layers = nn.ModuleList(
            DecoderBlock(
                c.d_model, c.num_heads, c.d_ff, c.dropout, c.norm_first, c.activation
            )
            for _ in range(c.num_decoder_layers)
        )
        self.norm = nn.LayerNorm(c.d_model) if c.final_norm else None

    def forward(
        self,
        y: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_is_causal: bool = True,
        need_weights: bool = False,
    ) -> tuple[Tensor, list[Tensor] | None, list[Tensor] | None]:
        """``y`` ``(B, T, C)`` -> ``(y (B, T, C), self_weights, cross_weights)``; with
        ``need_weights`` one ``(B, H, T, T)`` and one ``(B, H, T, S)`` tensor per layer,
        else None. ``tgt_mask`` is combined with the causal mask; ``memory_mask`` hides
        padded source positions, ``(B, 1, 1, S)``."""
        self_weights, cross_weights = [], []
        for layer in self.layers:
            y, sw, cw = layer(
                y, memory, tgt_mask, memory_mask, tgt_is_causal, need_weights
            )
            self_weights.append(sw)
            cross_weights.append(cw)
        if self.norm is not None:
            y = self.norm(y)
        if not need_weights:
            return y, None, None
        return y, self_weights, cross_weights


class Transformer(nn.Module):
    """The encoder-decoder of "Attention Is All You Need": token embeddings scaled by
    √d_model plus sinusoidal positions, ``encoder``, ``decoder``, and ``lm_head``, the
    output layer to target-vocabulary logits (tied to the target embedding).

    ``src`` ``(B, S)`` and ``tgt`` ``(B, T)`` are token ids. ``src_mask`` is a
    key-padding mask ``(B, 1, 1, S)`` (``padding_mask(lengths, S)``, or
    ``(src != pad_id)[:, None, None, :]``); the decoder is always causal, and
    ``tgt_mask`` (optional) is combined with the causal mask.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        _check_config(config, TransformerConfig, "Transformer")
        self.config = c = config
        self.src_emb = nn.Embedding(c.src_vocab_size, c.d_model)
        self.tgt_emb = (
            self.src_emb if c.share_vocab else nn.Embedding(c.tgt_vocab_size, c.d_model)
        )
        # fixed, not learned: a buffer moves with .to() but is not in the state_dict
        positions = sinusoidal_positions(c.max_len, c.d_model)  # (max_len, C)
        self.register_buffer("positions", positions, persistent=False)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = TransformerEncoder(c)
        self.decoder = TransformerDecoder(c)
        self.lm_head = nn.Linear(c.d_model, c.tgt_vocab_size, bias=False)
        if c.tie_embeddings:  # paper 3.4: one (V, C) matrix embeds and un-embeds
            self.lm_head.weight = self.tgt_emb.weight
        for p in self.parameters():  # as the reference implementations do
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def embed(self, ids: Tensor, table: nn.Embedding, name: str) -> Tensor:
        """``(B, L)`` ids -> ``(B, L, C)``: embedding · √C + position (paper 3.4-3.5).

        The √C keeps the embeddings' size comparable to the positions', which lie in
        [-1, 1]; with a tied output layer the embeddings themselves stay small."""
        if not isinstance(ids, Tensor) or ids.dim() != 2:
            seen = tuple(ids.shape) if isinstance(ids, Tensor) else type(ids).__name__
            raise ValueError(f"{name} must be (B, L) token ids, got shape {seen}.")
        _check_token_ids(ids, table.num_embeddings, name)
        L = ids.shape[1]
        if L > self.config.max_len:
            raise ValueError(
                f"{name} has {L} tokens, longer than max_len={self.config.max_len}."
            )
        x = table(ids) * math.sqrt(self.config.d_model)  # (B, L) -> (B, L, C)
        return self.drop(x + self.positions[:L])  # (B, L, C)

    def encode(self, src: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """``src`` ``(B, S)`` -> ``memory`` ``(B, S, C)``."""
        _check_src_mask(src_mask)
        memory, _ = self.encoder(self.embed(src, self.src_emb, "src"), src_mask)
        return memory

    def decode(
        self,
        tgt: Tensor,
        memory: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
    ) -> Tensor:
        """``tgt`` ``(B, T)`` and ``memory`` ``(B, S, C)`` -> logits ``(B, T, V)``;
        position t predicts token t+1."""
        y = self.embed(tgt, self.tgt_emb, "tgt")  # (B, T, C)
        y, _, _ = self.decoder(y, memory, tgt_mask, src_mask)
        return self.lm_head(y)  # (B, T, C) -> (B, T, V)

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
    ) -> Tensor:
        """``src`` ``(B, S)``, ``tgt`` ``(B, T)`` -> logits ``(B, T, V)``."""
        return self.decode(tgt, self.encode(src, src_mask), src_mask, tgt_mask)

    @torch.no_grad()
    def greedy_decode(
        self,
        src: Tensor,
        max_len: int,
        bos_id: int,
        eos_id: int,
        src_mask: Tensor | None = None,
    ) -> Tensor:
        """Translate ``src`` ``(B, S)`` by taking the most likely token at each step.

        Returns ``(B, L)`` ids that start with ``bos_id``, with at most ``max_len``
        tokens after it; it stops early once every sequence has produced ``eos_id``,
        and a finished sequence is filled with ``eos_id`` from there on. The source is
        encoded once; the decoder re-reads the whole prefix at each step (no KV cache:
        chapter 08 adds one to the GPT)."""
        if not _is_int(max_len) or max_len < 1 or max_len + 1 > self.config.max_len:
            raise ValueError(
                f"max_len={max_len} must be in [1, {self.config.max_len - 1}] "
                f"(the model's max_len={self.config.max_len} counts the BOS token)."
            )
        V = self.config.tgt_vocab_size
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if not _is_int(value) or not 0 <= value < V:
                raise ValueError(
                    f"greedy_decode: {name} must be a target token id in [0, {V}), "
                    f"got {value!r}."
                )
        memory = self.encode(src, src_mask)  # (B, S, C)
        out = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = self.decode(out, memory, src_mask)  # (B, t, V)
            next_id = logits[:, -1].argmax(dim=-1)  # (B,)
            next_id = next_id.masked_fill(done, eos_id)
            out = torch.cat([out, next_id[:, None]], dim=1)  # (B, t) -> (B, t+1)
            done |= next_id == eos_id
            if done.all():
                break
        return out

    @torch.no_grad()
    def attention_weights(
        self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None
    ) -> dict[str, list[Tensor]]:
        """Every layer's attention weights, for the explorers (computed, never
        stashed): ``"encoder"`` ``(B, H, S, S)``, ``"decoder"`` ``(B, H, T, T)`` and
        ``"cross"`` ``(B, H, T, S)``, one tensor per layer each."""
        _check_src_mask(src_mask)
        x = self.embed(src, self.src_emb, "src")
        memory, enc_w = self.encoder(x, src_mask, need_weights=True)
        y = self.embed(tgt, self.tgt_emb, "tgt")
        _, dec_w, cross_w = self.decoder(
            y, memory, memory_mask=src_mask, need_weights=True
        )
        return {"encoder": enc_w, "decoder": dec_w, "cross": cross_w}


def _check_src_mask(src_mask: Tensor | None) -> None:
    # the same mask hides padding from encoder self-attention and from cross-attention,
    # so it must broadcast over both query lengths: a singleton query axis
    if src_mask is not None and (src_mask.dim() != 4 or src_mask.shape[-2] != 1):
        raise ValueError(
            f"src_mask must be a key-padding mask of shape (B, 1, 1, S), got "
            f"{tuple(src_mask.shape)}; make one with padding_mask(lengths, S)."
        )


def copy_from_torch(model: Transformer, reference: nn.Transformer) -> None:
    """Copy the encoder and decoder weights of a ``batch_first`` ``nn.Transformer`` of
    the same size into ``model`` (built with ``final_norm=True``: ``nn.Transformer``
    ends each stack with a LayerNorm). ``nn.Transformer`` has no embeddings or output
    layer; those of ``model`` are left as they are."""
    if not isinstance(model, Transformer) or not isinstance(reference, nn.Transformer):
        raise ValueError(
            "copy_from_torch: expected (Transformer, nn.Transformer), got "
            f"({type(model).__name__}, {type(reference).__name__})."
        )
    c = model.config
    layer = reference.encoder.layers[0]
    if not c.final_norm:
        raise ValueError(
            "model has final_norm=False, but nn.Transformer ends each stack with a "
            "LayerNorm; build the model with TransformerConfig(final_norm=True)."
        )
    if not layer.self_attn.batch_first:
        raise ValueError("reference must be built with batch_first=True.")
    if layer.norm_first != c.norm_first:
        raise ValueError(
            f"reference has norm_first={layer.norm_first}, model {c.norm_first}."
        )
    for ours, theirs in (
        (model.encoder, reference.encoder),
        (model.decoder, reference.decoder),
    ):
        if len(ours.layers) != len(theirs.layers):
            raise ValueError(
                f"reference has {len(theirs.layers)} layers in a stack where the model "
                f"has {len(ours.layers)}."
            )
        for mine, ref in zip(ours.layers, theirs.layers, strict=True):
            copy_block_from_torch(mine, ref)
        with torch.no_grad():
            ours.norm.weight.copy_(theirs.norm.weight)
            ours.norm.bias.copy_(theirs.norm.bias)


# ====================================================================== GPT (07)
@dataclass
class GPTConfig:
    """Everything that defines a GPT. ``asdict(config)`` is the JSON of a checkpoint."""

    vocab_size: int = 50257  # V: GPT-2's byte-level BPE vocabulary
    block_size: int = 1024  # the longest context the model can attend to
    n_layer: int = 12  # number of Transformer blocks
    n_head: int = 12  # H: attention heads per block
    n_embd: int = 768  # C: model width; each head gets C // H
    dropout: float = 0.0  # on embeddings, attention weights and residual branches
    bias: bool = True  # biases in Linear and LayerNorm layers, as GPT-2 has

    def __post_init__(self) -> None:
        fields = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd")
        _check_positive_ints("GPTConfig", {f: getattr(self, f) for f in fields})
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig.n_embd={self.n_embd} must be divisible by "
                f"n_head={self.n_head}."
            )
        _check_dropout(self.dropout, "GPTConfig")

    @classmethod
    def gpt2_small(cls, **overrides) -> GPTConfig:
        """GPT-2 small: 12 layers, 12 heads, width 768, 124M parameters."""
        return cls(**{**dict(n_layer=12, n_head=12, n_embd=768), **overrides})


class GPT(nn.Module):
    """Token and learned position embeddings, ``n_layer`` pre-norm causal blocks, a
    final LayerNorm, and an output layer tied to the token embedding."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        _check_config(config, GPTConfig, "GPT")
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.n_embd)
        self.pos_emb = nn.Embedding(c.block_size, c.n_embd)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(
                c.n_embd,
                c.n_head,
                4 * c.n_embd,
                c.dropout,
                norm_first=True,
                activation="gelu_tanh",
                bias=c.bias,
            )
            for _ in range(c.n_layer)
        )
        self.norm_f = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # tied: one (V, C) matrix, used twice
        self.apply(self._init_weights)
        # GPT-2 scales the layers that write into the residual stream by 1/√(2·n_layer),
        # so the stream's variance does not grow with depth.
        for block in self.blocks:
            for proj in (block.self_attn.out_proj, block.ffn.linear2):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self,
        idx: Tensor,
        targets: Tensor | None = None,
        caches: list[KVCache] | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """``idx`` ``(B, T)`` -> ``(logits (B, T, V), loss or None)``.

        ``caches``: one :class:`KVCache` per block (see ``new_caches``); ``idx`` then
        holds only the tokens not yet cached, placed after the cached ones.
        Raises ``ValueError`` for token ids outside ``[0, vocab_size)``, targets that
        are not ``(B, T)`` ids in ``[0, vocab_size)`` (or -1, ignored), a sequence
        longer than ``block_size`` (``course_lib.generation.generate`` crops prompts),
        or ``caches`` that are not one ``KVCache`` per block.
        """
        if caches is not None and (
            not isinstance(caches, (list, tuple)) or len(caches) != len(self.blocks)
        ):
            seen = len(caches) if isinstance(caches, (list, tuple)) else type(caches)
            raise ValueError(
                f"GPT: caches must be a list of {len(self.blocks)} KVCache (one per "
                f"block, from model.new_caches()), got {seen}."
            )
        x = self.embed(idx, start=0 if caches is None else len(caches[0]))
        if targets is not None:
            if not isinstance(targets, Tensor) or targets.shape != idx.shape:
                seen = (
                    tuple(targets.shape)
                    if isinstance(targets, Tensor)
                    else type(targets).__name__
                )
                raise ValueError(
                    f"GPT: targets must be (B, T) = {tuple(idx.shape)} like idx, got "
                    f"{seen}."
                )
            _check_token_ids(targets, self.config.vocab_size, "targets", -1)
        for i, block in enumerate(self.blocks):
            # with a cache, causal_mask(T, S) lets the T new tokens see all cached ones
            x, _ = block(x, is_causal=True, cache=None if caches is None else caches[i])
        logits = self.lm_head(self.norm_f(x))  # (B, T, C) -> (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)),
                targets.reshape(-1).long(),
                ignore_index=-1,
            )
        return logits, loss

    def embed(self, idx: Tensor, start: int = 0) -> Tensor:
        """Token plus position embeddings of ``idx`` ``(B, T)`` placed at positions
        ``start .. start+T-1``: ``(B, T) -> (B, T, C)``."""
        if not isinstance(idx, Tensor) or idx.dim() != 2:
            seen = tuple(idx.shape) if isinstance(idx, Tensor) else type(idx).__name__
            raise ValueError(f"idx must be (B, T) token ids, got shape {seen}.")
        if not _is_int(start) or start < 0:
            raise ValueError(f"GPT.embed: start must be an int >= 0, got {start!r}.")
        _check_token_ids(idx, self.config.vocab_size)
        T = idx.shape[1]
        if start + T > self.config.block_size:
            raise ValueError(
                f"sequence of {start + T} tokens is longer than block_size="
                f"{self.config.block_size}; crop it to the last block_size tokens."
            )
        positions = torch.arange(start, start + T, device=idx.device)  # (T,)
        return self.drop(self.tok_emb(idx) + self.pos_emb(positions))  # (B, T, C)

    def new_caches(self) -> list[KVCache]:
        """Empty KV caches, one per block, for incremental decoding."""
        return [KVCache() for _ in self.blocks]

    @torch.no_grad()
    def attention_weights(self, idx: Tensor) -> list[Tensor]:
        """Every block's attention weights for ``idx`` ``(B, T)``: a list of ``n_layer``
        tensors ``(B, H, T, T)``, for the explorers (computed, never stashed)."""
        x = self.embed(idx)
        weights = []
        for block in self.blocks:
            x, w = block(x, is_causal=True, need_weights=True)
            weights.append(w)
        return weights
