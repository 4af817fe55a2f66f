"""The GPT of chapter 07: a decoder-only Transformer shaped exactly like GPT-2
(Radford et al., 2019); ``course_lib.hf`` maps it weight for weight to
``transformers.GPT2LMHeadModel``.

A GPT block is a decoder block of chapter 05 without cross-attention (there is no
encoder to attend to): masked self-attention and a feed-forward network. That is
``course_lib.layers.EncoderBlock`` run with a causal mask, pre-norm, GELU (tanh).

:meth:`GPT.hidden_states` runs the stack of blocks; ``forward``,
``attention_weights`` and ``course_lib.classification.GPTEncoder`` all call it, so
the body of the model is written once.

Shapes: ``B`` batch, ``T`` tokens, ``C`` width (``d_model``), ``H`` heads, ``V``
vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib.baselines import lm_loss
from course_lib.checks import (
    check_config,
    check_dropout,
    check_id_tensor,
    check_sizes,
    embed_ids,
    is_int,
)
from course_lib.layers import EncoderBlock, get_activation
from course_lib.multi_head import KVCache

# GPT-2's own names for the fields (and checkpoints written before they were renamed)
GPT2_NAMES = {"n_embd": "d_model", "n_head": "num_heads", "n_layer": "num_layers"}


@dataclass
class GPTConfig:
    """Everything that defines a GPT. ``asdict(config)`` is the JSON of a checkpoint."""

    vocab_size: int = 50257  # V: GPT-2's byte-level BPE vocabulary
    block_size: int = 1024  # the longest context the model can attend to
    num_layers: int = 12  # number of Transformer blocks (GPT-2: n_layer)
    num_heads: int = 12  # H: attention heads per block (GPT-2: n_head)
    d_model: int = 768  # C: model width; each head gets C // H (GPT-2: n_embd)
    dropout: float = 0.0  # on embeddings, attention weights and residual branches
    bias: bool = True  # biases in Linear and LayerNorm layers, as GPT-2 has
    d_ff: int | None = None  # feed-forward width; None: 4 * d_model, as GPT-2
    activation: str = "gelu_tanh"  # GPT-2's GELU, tanh approximation
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model if is_int(self.d_model) else None
        fields = ("vocab_size", "block_size", "num_layers", "num_heads", "d_model")
        check_sizes("GPTConfig", **{f: getattr(self, f) for f in fields + ("d_ff",)})
        if self.d_model % self.num_heads:
            raise ValueError(
                f"GPTConfig.d_model={self.d_model} must be divisible by "
                f"num_heads={self.num_heads}."
            )
        check_dropout(self.dropout, "GPTConfig")
        get_activation(self.activation)
        eps = self.layer_norm_eps
        if isinstance(eps, bool) or not isinstance(eps, float) or not 0 < eps < 1:
            raise ValueError(
                f"GPTConfig.layer_norm_eps must be a small float > 0, got {eps!r}."
            )

    @classmethod
    def from_dict(cls, fields: dict) -> GPTConfig:
        """A config from a checkpoint's JSON; GPT-2's names (``n_embd``, ``n_head``,
        ``n_layer``), which older checkpoints used, are read as ours."""
        return cls(**{GPT2_NAMES.get(k, k): v for k, v in fields.items()})

    @classmethod
    def gpt2_small(cls, **overrides) -> GPTConfig:
        """GPT-2 small: 12 layers, 12 heads, width 768, 124M parameters."""
        return cls(**{**dict(num_layers=12, num_heads=12, d_model=768), **overrides})


class GPT(nn.Module):
    """Token and learned position embeddings, ``num_layers`` pre-norm causal blocks, a
    final LayerNorm, and an output layer tied to the token embedding."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        check_config(config, GPTConfig, "GPT")
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = nn.Embedding(c.block_size, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(
                c.d_model,
                c.num_heads,
                c.d_ff,
                c.dropout,
                norm_first=True,
                activation=c.activation,
                bias=c.bias,
                layer_norm_eps=c.layer_norm_eps,
            )
            for _ in range(c.num_layers)
        )
        self.norm_f = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps, bias=c.bias)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # tied: one (V, C) matrix, used twice
        self.apply(self._init_weights)
        # GPT-2 scales the layers that write into the residual stream by 1/√(2·layers),
        # so the stream's variance does not grow with depth.
        for block in self.blocks:
            for proj in (block.self_attn.out_proj, block.ffn.linear2):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * c.num_layers))

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
        holds only the tokens not yet cached, placed after the cached ones. Targets of
        -1 are ignored by the loss. Raises ``ValueError`` for token ids or targets
        outside ``[0, vocab_size)``, targets that are not ``(B, T)``, a sequence longer
        than ``block_size`` (``course_lib.generation.generate`` crops prompts), or
        ``caches`` that are not one ``KVCache`` per block.
        """
        x, _ = self.hidden_states(idx, caches)
        logits = self.lm_head(x)  # (B, T, C) -> (B, T, V)
        return logits, lm_loss(logits, targets, "GPT")

    def hidden_states(
        self,
        idx: Tensor,
        caches: list[KVCache] | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, list[Tensor] | None]:
        """The body of the model, the one place that runs the blocks: ``idx``
        ``(B, T)`` -> ``(x (B, T, C) after the final LayerNorm, weights)``, with
        ``weights`` one ``(B, H, T, T)`` tensor per block when ``need_weights``."""
        if caches is not None and (
            not isinstance(caches, (list, tuple)) or len(caches) != len(self.blocks)
        ):
            seen = len(caches) if isinstance(caches, (list, tuple)) else type(caches)
            raise ValueError(
                f"GPT: caches must be a list of {len(self.blocks)} KVCache (one per "
                f"block, from model.new_caches()), got {seen}."
            )
        x = self.embed(idx, start=0 if caches is None else len(caches[0]))
        weights = []
        for i, block in enumerate(self.blocks):
            # with a cache, causal_mask(T, S) lets the T new tokens see all cached ones
            cache = None if caches is None else caches[i]
            x, w = block(x, is_causal=True, need_weights=need_weights, cache=cache)
            weights.append(w)
        return self.norm_f(x), weights if need_weights else None

    def embed(self, idx: Tensor, start: int = 0) -> Tensor:
        """Token plus position embeddings of ``idx`` ``(B, T)`` placed at positions
        ``start .. start+T-1``: ``(B, T) -> (B, T, C)``."""
        check_id_tensor(idx, "idx", dims=2)
        if not is_int(start) or start < 0:
            raise ValueError(f"GPT.embed: start must be an int >= 0, got {start!r}.")
        T = idx.shape[1]
        if start + T > self.config.block_size:
            raise ValueError(
                f"sequence of {start + T} tokens is longer than block_size="
                f"{self.config.block_size}; crop it to the last block_size tokens."
            )
        positions = torch.arange(start, start + T, device=idx.device)  # (T,)
        tokens = embed_ids(self.tok_emb, idx)  # (B, T) -> (B, T, C)
        return self.drop(tokens + self.pos_emb(positions))  # (B, T, C)

    def new_caches(self) -> list[KVCache]:
        """Empty KV caches, one per block, for incremental decoding (each with room
        for ``block_size`` tokens, filled in place)."""
        return [KVCache(self.config.block_size) for _ in self.blocks]

    @torch.no_grad()
    def attention_weights(self, idx: Tensor) -> list[Tensor]:
        """Every block's attention weights for ``idx`` ``(B, T)``: a list of
        ``num_layers`` tensors ``(B, H, T, T)``, for the explorers (computed, never
        stashed)."""
        return self.hidden_states(idx, need_weights=True)[1]
