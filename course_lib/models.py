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

from course_lib.attention import KVCache
from course_lib.layers import EncoderBlock


def _check_token_ids(idx: Tensor, vocab_size: int, name: str = "idx") -> None:
    if idx.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{name} must hold integer token ids, got dtype {idx.dtype}.")
    if idx.numel() == 0:
        return
    low, high = int(idx.min()), int(idx.max())
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(
            f"{name} holds token id {bad}, outside the vocabulary [0, {vocab_size}); "
            "was it encoded with the tokenizer this model was built for?"
        )


# ================================================================ baselines (01)


# ============================================================== Transformer (06)


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
        for field in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"GPTConfig.{field} must be a positive int, got {value!r}."
                )
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig.n_embd={self.n_embd} must be divisible by "
                f"n_head={self.n_head}."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(
                f"GPTConfig.dropout must be in [0, 1), got {self.dropout}."
            )

    @classmethod
    def gpt2_small(cls, **overrides) -> GPTConfig:
        """GPT-2 small: 12 layers, 12 heads, width 768, 124M parameters."""
        return cls(**{**dict(n_layer=12, n_head=12, n_embd=768), **overrides})


class GPT(nn.Module):
    """Token and learned position embeddings, ``n_layer`` pre-norm causal blocks, a
    final LayerNorm, and an output layer tied to the token embedding."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
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
        Raises ``ValueError`` for token ids outside ``[0, vocab_size)`` or a sequence
        longer than ``block_size`` (``course_lib.generation.generate`` crops prompts).
        """
        x = self.embed(idx, start=0 if caches is None else len(caches[0]))
        for i, block in enumerate(self.blocks):
            # with a cache, causal_mask(T, S) lets the T new tokens see all cached ones
            x, _ = block(x, is_causal=True, cache=None if caches is None else caches[i])
        logits = self.lm_head(self.norm_f(x))  # (B, T, C) -> (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1
            )
        return logits, loss

    def embed(self, idx: Tensor, start: int = 0) -> Tensor:
        """Token plus position embeddings of ``idx`` ``(B, T)`` placed at positions
        ``start .. start+T-1``: ``(B, T) -> (B, T, C)``."""
        if idx.dim() != 2:
            raise ValueError(
                f"idx must be (B, T) token ids, got shape {tuple(idx.shape)}."
            )
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
