"""Sentence classification on top of an encoder (chapter 09).

- Pooling, the hidden states ``(B, T, C)`` of a sentence -> one vector ``(B, C)``:
  :func:`mean_pool` (the average over real tokens), :func:`last_token_pool` (the last
  real token: the only one a causal GPT lets see the whole sentence), and :func:`pool`,
  which picks one of them or the first token (BERT's ``[CLS]``) by name.
- :class:`GPTEncoder`: our GPT without its output layer, as an encoder.
- :class:`SequenceClassifier`: a linear head on a pooled encoder (ours, or a Hugging
  Face model such as the pretrained MiniLM of ``course_lib.hf``).
- :func:`accuracy`: the share of sentences classified right.

``SequenceClassifier.forward(input_ids, labels)`` returns ``(logits, loss)`` like the
language models, so ``course_lib.training.train`` fine-tunes it as it trains a GPT.
Masks follow Hugging Face's ``attention_mask``: ``(B, T)``, 1 (True) for a real token,
0 for padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import check_id_tensor, check_token_ids
from course_lib.gpt import GPT

POOLINGS = ("first", "mean", "last")  # the names SequenceClassifier and pool accept


def _check_hidden_and_mask(hidden, attention_mask, where: str) -> None:
    if not isinstance(hidden, Tensor) or hidden.dim() != 3:
        seen = tuple(hidden.shape) if isinstance(hidden, Tensor) else type(hidden)
        raise ValueError(f"{where}: hidden must be (B, T, C), got shape {seen}.")
    if attention_mask is None:
        return
    if not isinstance(attention_mask, Tensor):
        raise ValueError(
            f"{where}: attention_mask must be a (B, T) tensor or None, got "
            f"{type(attention_mask).__name__}."
        )
    if attention_mask.shape != hidden.shape[:2]:
        raise ValueError(
            f"{where}: attention_mask must be (B, T) = {tuple(hidden.shape[:2])}, got "
            f"{tuple(attention_mask.shape)}."
        )


def _check_pooling(pooling, where: str) -> None:
    if pooling not in POOLINGS:
        raise ValueError(
            f"{where}: pooling must be 'first', 'mean' or 'last', got {pooling!r}."
        )


def mean_pool(hidden: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """Average of ``hidden`` over the real tokens: ``(B, T, C) -> (B, C)``.

    ``attention_mask`` ``(B, T)``: 1 (True) for a token, 0 for padding; None: all real.
    """
    _check_hidden_and_mask(hidden, attention_mask, "mean_pool")
    if attention_mask is None:
        return hidden.mean(dim=1)
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T) -> (B, T, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)  # (B, T, C) -> (B, C)


def last_token_pool(hidden: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """The hidden state of each row's last real token: ``(B, T, C) -> (B, C)``.

    ``attention_mask`` ``(B, T)``: 1 (True) for a token, 0 for padding; the last
    position holding a 1 is taken, so right and left padding both work. None: the
    last position. A row with no real token gets its position 0.
    """
    _check_hidden_and_mask(hidden, attention_mask, "last_token_pool")
    if attention_mask is None:
        return hidden[:, -1]  # (B, T, C) -> (B, C)
    B, T, C = hidden.shape
    # weight each real position by its number 1..T: the largest is the last real one
    position = torch.arange(1, T + 1, device=hidden.device)  # (T,)
    last = ((attention_mask != 0).long() * position).argmax(dim=1)  # (B, T) -> (B,)
    return hidden[torch.arange(B, device=hidden.device), last]  # (B, T, C) -> (B, C)


def pool(
    hidden: Tensor, attention_mask: Tensor | None = None, pooling: str = "mean"
) -> Tensor:
    """One vector per sentence, ``(B, T, C) -> (B, C)``, by ``pooling``: ``"first"``
    (position 0: BERT's ``[CLS]``), ``"mean"`` (:func:`mean_pool`) or ``"last"``
    (:func:`last_token_pool`). ``attention_mask`` as for those two."""
    _check_pooling(pooling, "pool")
    _check_hidden_and_mask(hidden, attention_mask, "pool")
    if pooling == "first":
        return hidden[:, 0]  # (B, T, C) -> (B, C)
    if pooling == "last":
        return last_token_pool(hidden, attention_mask)
    return mean_pool(hidden, attention_mask)


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
        return self.gpt.hidden_states(input_ids)[0]  # (B, T) -> (B, T, C)


class SequenceClassifier(nn.Module):
    """A linear head on a pooled encoder: ``(B, T)`` ids -> ``(B, num_labels)`` logits.

    ``encoder(input_ids, attention_mask=...)`` (or ``encoder(input_ids)`` when
    ``attention_mask`` is None) must return hidden states ``(B, T, C)``: a tensor, a
    tuple starting with one, or a Hugging Face output with ``last_hidden_state``.
    ``pooling`` (see :func:`pool`): ``"mean"`` over real tokens, ``"first"`` (BERT's
    ``[CLS]``), or ``"last"``, the last real token (for a causal GPT, the only one
    that has seen the whole sentence).
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
        _check_pooling(pooling, "SequenceClassifier")
        if not isinstance(num_labels, int) or num_labels < 2:
            raise ValueError(f"num_labels must be an int >= 2, got {num_labels!r}.")
        if hidden_size is None:
            config = getattr(encoder, "config", None)
            hidden_size = getattr(config, "hidden_size", None) or getattr(
                config, "d_model", None
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
                "hidden_size is needed: the encoder has no config.hidden_size "
                "(Hugging Face) or config.d_model (ours) to read it from."
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
            check_id_tensor(labels, "labels")  # the values: only if torch refuses one
        if attention_mask is None and self.pad_token_id is not None:
            attention_mask = (input_ids != self.pad_token_id).long()  # (B, T)
        if attention_mask is None:
            hidden = _hidden_states(self.encoder(input_ids))
        else:
            hidden = _hidden_states(
                self.encoder(input_ids, attention_mask=attention_mask)
            )
        pooled = pool(hidden, attention_mask, self.pooling)  # (B, T, C) -> (B, C)
        logits = self.head(pooled)  # (B, C) -> (B, L)
        if labels is None:
            return logits, None
        try:
            return logits, F.cross_entropy(logits, labels)
        except IndexError:
            L = self.head.out_features
            check_token_ids(labels, L, "labels", what="class")
            raise


@torch.no_grad()
def accuracy(model, ids: Tensor, labels: Tensor, batch_size: int = 500) -> float:
    """Share of rows where ``model(ids)``'s logits ``(B, L)`` have their argmax at the
    label; evaluated in eval mode, in chunks of ``batch_size`` rows."""
    if not isinstance(ids, Tensor) or not isinstance(labels, Tensor):
        raise ValueError(
            f"accuracy: ids and labels must be tensors, got {type(ids).__name__} and "
            f"{type(labels).__name__}."
        )
    if len(labels) == 0 or len(ids) != len(labels):
        raise ValueError(
            f"accuracy: need one label per row of ids, got {len(ids)} rows and "
            f"{len(labels)} labels."
        )
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise ValueError(
            f"accuracy: batch_size must be an int >= 1, got {batch_size!r}."
        )
    was_training = model.training
    model.eval()
    right = 0
    for start in range(0, len(labels), batch_size):
        logits, _ = model(ids[start : start + batch_size])
        right += (logits.argmax(-1) == labels[start : start + batch_size]).sum().item()
    model.train(was_training)
    return right / len(labels)
