"""The encoder-decoder Transformer of "Attention Is All You Need" (chapter 06).

- ``TransformerConfig``: everything that defines one; ``TransformerConfig.base()`` is
  the paper's base model.
- ``TransformerEncoder`` / ``TransformerDecoder``: the two stacks of blocks
  (``course_lib.layers``), each optionally closed by a LayerNorm.
- ``Transformer``: embeddings, both stacks and the output layer; ``greedy_decode``.
- :func:`copy_from_torch`: a ``torch.nn.Transformer``'s weights, copied in, so the
  tests prove both compute the same. Shapes: ``B`` batch, ``S`` source and ``T`` target
  length, ``C`` width (``d_model``), ``H`` heads, ``V`` target vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib.checks import (
    check_config,
    check_dropout,
    check_sizes,
    embed_ids,
    is_int,
)
from course_lib.layers import (
    DecoderBlock,
    EncoderBlock,
    copy_block_from_torch,
    get_activation,
    sinusoidal_positions,
)


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
        check_sizes("TransformerConfig", **{f: getattr(self, f) for f in fields})
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
        check_dropout(self.dropout, "TransformerConfig")
        get_activation(self.activation)

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
        check_config(config, TransformerConfig, type(self).__name__)
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
        check_config(config, TransformerConfig, type(self).__name__)
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
        check_config(config, TransformerConfig, "Transformer")
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
        L = ids.shape[1]
        if L > self.config.max_len:
            raise ValueError(
                f"{name} has {L} tokens, longer than max_len={self.config.max_len}."
            )
        x = embed_ids(table, ids, name) * math.sqrt(self.config.d_model)  # (B, L, C)
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
        if not is_int(max_len) or max_len < 1 or max_len + 1 > self.config.max_len:
            raise ValueError(
                f"max_len={max_len} must be in [1, {self.config.max_len - 1}] "
                f"(the model's max_len={self.config.max_len} counts the BOS token)."
            )
        V = self.config.tgt_vocab_size
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if not is_int(value) or not 0 <= value < V:
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
