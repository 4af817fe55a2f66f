"""From a tensor of token ids to batches (chapters 01, 07, 09 and 11).

The baseline protocol (chapters 01 and 07 must agree on it)::

    corpus = load_corpus()                       # "pydocs" (course_lib.corpora)
    tok = CharTokenizer.from_text(corpus.text)   # sorted set of characters, V = 103
    data = torch.tensor(tok.encode(corpus.text))  # (N,)
    train, val = train_val_split(data)  # first 90 % / last 10 %, no shuffle
    # validation loss: mean cross-entropy over every window of
    # TokenDataset(val, block_size=128), in order, no overlap

The split is contiguous, not shuffled: shuffled characters would put the middle of a
validation sentence into training, and the validation loss would flatter the model.

Batch sources are what ``course_lib.training.train`` draws from: a function
``batch_fn(generator) -> (x, y)``. :func:`batch_source` makes one from token ids,
:func:`rank_batches` splits one optimizer step's batch between data-parallel ranks,
and :func:`pad_batch` / :func:`labelled_batches` feed a sentence classifier.
They take plain arguments (data, sizes, a generator), not a ``TrainConfig``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from course_lib.checks import check_id_tensor, check_sizes, is_int, shape_of

BatchFn = Callable[[torch.Generator], tuple[Tensor, Tensor]]


def train_val_split(
    data: torch.Tensor, val_fraction: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a 1-D tensor of token ids into its first ``1 - val_fraction`` (training)
    and its last ``val_fraction`` (validation), in order, without shuffling."""
    if not isinstance(data, torch.Tensor) or data.dim() != 1:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data)
        raise ValueError(
            f"train_val_split: data must be a 1-D tensor of token ids, got {shape}."
        )
    if not isinstance(val_fraction, (int, float)) or not 0.0 < val_fraction < 1.0:
        raise ValueError(
            f"train_val_split: val_fraction must lie strictly between 0 and 1, "
            f"got {val_fraction}."
        )
    n_train = int(len(data) * (1.0 - val_fraction))
    return data[:n_train], data[n_train:]


def get_batch(
    data: torch.Tensor,
    block_size: int,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``block_size`` tokens from ``data``.

    Returns ``(x, y)``, both ``(B, T)`` long tensors, with ``y`` the window shifted by
    one: ``y[b, t]`` is the token that follows ``x[b, t]``.
    """
    check_windows(data, block_size, "get_batch")
    check_sizes("get_batch", batch_size=batch_size)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            "get_batch: generator must be a torch.Generator or None, got "
            f"{type(generator).__name__}."
        )
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = data[starts[:, None] + offsets]  # (B, T)
    y = data[starts[:, None] + offsets + 1]  # (B, T)
    return x, y


class TokenDataset(Dataset):
    """Consecutive, non-overlapping windows of ``block_size`` tokens, in order, so
    one epoch (or one evaluation) sees every token once.

    Item ``i`` is ``(x, y)``: ``x = data[i*T : (i+1)*T]`` and ``y`` the same window
    shifted by one. The last ``< T`` tokens that do not fill a window are left out.
    """

    def __init__(self, data: torch.Tensor, block_size: int):
        check_windows(data, block_size, "TokenDataset")
        self.data = data
        self.block_size = block_size

    def __len__(self) -> int:
        return (len(self.data) - 1) // self.block_size

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"TokenDataset: index {i} out of range({len(self)}).")
        i = i % len(self)
        start = i * self.block_size
        chunk = self.data[start : start + self.block_size + 1]  # (T + 1,)
        return chunk[:-1], chunk[1:]


def check_windows(data, block_size: int, where: str) -> None:
    """``data`` must be a 1-D tensor of integer ids with at least one window of
    ``block_size`` tokens and its shifted target."""
    check_id_tensor(data, f"{where}: data", dims=1)
    check_sizes(where, block_size=block_size)
    if len(data) <= block_size:
        raise ValueError(
            f"{where}: data has {len(data)} tokens, need more than block_size="
            f"{block_size} to make one window and its shifted target."
        )


# ------------------------------------------------------------ sources for training
def batch_source(
    data, block_size: int, batch_size: int, name: str = "train_data"
) -> BatchFn:
    """A batch function from ``data``: a callable ``batch_fn(generator) -> (x, y)``
    is returned as it is; a 1-D tensor of token ids gives ``batch_size`` random
    windows of ``block_size`` tokens, the same windows as ``get_batch`` draws."""
    check_sizes("batch_source", block_size=block_size, batch_size=batch_size)
    if callable(data):
        return data
    if not isinstance(data, Tensor) or data.dim() != 1:
        raise ValueError(
            f"{name} must be a 1-D tensor of token ids or a callable "
            f"batch_fn(generator) -> (x, y), got {shape_of(data)}."
        )
    check_windows(data, block_size, name)
    size = len(data) - block_size
    offsets = torch.arange(block_size + 1)

    def batch_fn(generator: torch.Generator) -> tuple[Tensor, Tensor]:
        # the same windows as get_batch, with one gather instead of two
        starts = torch.randint(size, (batch_size,), generator=generator)
        chunk = data[starts[:, None] + offsets]  # (B, T + 1)
        return chunk[:, :-1], chunk[:, 1:]  # x, y: (B, T) each

    return batch_fn


def rank_batches(
    data,
    block_size: int,
    batch_size: int,
    grad_accum_steps: int = 1,
    rank: int = 0,
    world_size: int = 1,
    name: str = "train_data",
) -> Callable[[torch.Generator], list[tuple[Tensor, Tensor]]]:
    """``draw(generator) -> [(x, y), ...]``: rank ``rank``'s ``grad_accum_steps``
    micro-batches of ``batch_size`` for one optimizer step.

    Every rank draws the *global* batch of ``world_size * grad_accum_steps *
    batch_size`` windows with the same seeded generator, so the generators stay in
    step, and keeps its own rows: rank ``r`` takes micro-batches ``r*k .. r*k+k-1``.
    For a token tensor that is exactly the batch one process would draw with
    ``batch_size * world_size * k``. A callable ``batch_fn`` is called ``world_size *
    k`` times per step by every rank, and each keeps its ``k`` calls. One process with
    ``k = 1`` draws exactly what ``batch_source`` draws.
    """
    check_sizes(
        "rank_batches", grad_accum_steps=grad_accum_steps, world_size=world_size
    )
    if not is_int(rank) or not 0 <= rank < world_size:
        raise ValueError(
            f"rank_batches: rank must be an int in [0, world_size={world_size}), "
            f"got {rank!r}."
        )
    k, B, r = grad_accum_steps, batch_size, rank
    n = k * world_size  # micro-batches in one optimizer step, all ranks
    if n == 1:
        batch_fn = batch_source(data, block_size, batch_size, name)
        return lambda generator: [batch_fn(generator)]
    if callable(data):

        def draw_calls(generator):
            calls = [data(generator) for _ in range(n)]  # all of them: stay in step
            return calls[r * k : (r + 1) * k]

        return draw_calls
    whole = batch_source(data, block_size, n * B, name)

    def draw_slice(generator):
        x, y = whole(generator)  # (n * B, T) each: the global batch
        mine = slice(r * k * B, (r + 1) * k * B)  # this rank's k * B rows
        return list(zip(x[mine].split(B), y[mine].split(B), strict=True))

    return draw_slice


# ------------------------------------------------------- sentences for a classifier
def pad_batch(sequences: list[list[int]], pad_id: int) -> Tensor:
    """Token id lists of varying length, right-padded with ``pad_id``: ``(B, T)``."""
    if (
        not isinstance(sequences, (list, tuple))
        or not sequences
        or not all(isinstance(s, (list, tuple)) and len(s) for s in sequences)
    ):
        raise ValueError(
            "pad_batch: need a non-empty list of non-empty id lists, got "
            f"{sequences!r:.60}."
        )
    if not is_int(pad_id):
        raise ValueError(f"pad_batch: pad_id must be an int, got {pad_id!r}.")
    if not all(is_int(i) for s in sequences for i in s):
        raise ValueError("pad_batch: every id must be an int (encode the text first).")
    rows = [torch.tensor(s) for s in sequences]
    return pad_sequence(rows, batch_first=True, padding_value=pad_id)  # (B, T)


def labelled_batches(
    ids: Tensor, labels: Tensor, batch_size: int, pad_id: int | None = None
) -> BatchFn:
    """A ``batch_fn(generator) -> (x (B, T), y (B,))`` drawing ``batch_size`` random
    rows of ``ids`` ``(N, T)`` and their ``labels`` ``(N,)``, for ``train``.

    ``pad_id``: the rows are right-padded with it; each batch is then cut after its
    longest row, so a batch of short texts does not pay for the longest one."""
    for name, x in (("ids", ids), ("labels", labels)):
        if not isinstance(x, Tensor) or x.is_floating_point():
            seen = x.dtype if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"labelled_batches: {name} must be an int tensor, got {seen}."
            )
    if ids.dim() != 2 or labels.shape != ids.shape[:1]:
        raise ValueError(
            f"ids must be (N, T) and labels (N,), got {tuple(ids.shape)} and "
            f"{tuple(labels.shape)}."
        )
    check_sizes("labelled_batches", batch_size=batch_size)
    if len(labels) == 0 or labels.min() < 0:
        raise ValueError(
            f"labelled_batches: labels must be class ids >= 0 (and not empty), got "
            f"{labels.tolist()[:8]}."
        )

    if pad_id is not None and (isinstance(pad_id, bool) or not isinstance(pad_id, int)):
        raise ValueError(f"labelled_batches: pad_id must be an int, got {pad_id!r}.")
    lengths = None if pad_id is None else (ids != pad_id).sum(dim=1)  # (N,)

    def batch_fn(generator: torch.Generator) -> tuple[Tensor, Tensor]:
        rows = torch.randint(0, len(labels), (batch_size,), generator=generator)
        if lengths is None:
            return ids[rows], labels[rows]
        T = max(int(lengths[rows].max()), 1)  # the longest row of this batch
        return ids[rows, :T], labels[rows]

    return batch_fn
