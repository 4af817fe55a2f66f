"""course_lib.batching: the split, windows and their targets, datasets."""

import pytest
import torch
from torch.utils.data import DataLoader

from course_lib.batching import TokenDataset, get_batch, train_val_split

# sha256 of the UTF-8 text that CPython 3.11.7's pydoc_data.topics gives, joined in
# sorted key order. Written here by hand, not read from the library's constant, so a
# changed shipped file or a changed constant both fail.
PYDOCS_TEXT_SHA256 = "2a95af4ac93f5b719944030ce3769070ddf827d847cba42192afa8da989e5dc4"


def test_train_val_split_is_contiguous():
    ids = torch.arange(100)
    train, val = train_val_split(ids, 0.1)
    assert len(train) == 90 and len(val) == 10
    torch.testing.assert_close(torch.cat([train, val]), ids)
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(ids, 1.5)
    with pytest.raises(ValueError, match="1-D"):
        train_val_split(ids.view(10, 10))


def test_get_batch_windows_and_targets():
    ids = torch.arange(1000) * 7 % 101  # distinct neighbours, easy to locate
    g = torch.Generator().manual_seed(0)
    x, y = get_batch(ids, block_size=8, batch_size=4, generator=g)
    assert x.shape == y.shape == (4, 8) and x.dtype == torch.int64
    for row_x, row_y in zip(x, y, strict=True):
        start = int(torch.nonzero(ids == row_x[0])[0])
        torch.testing.assert_close(row_x, ids[start : start + 8])
        torch.testing.assert_close(row_y, ids[start + 1 : start + 9])
    g2 = torch.Generator().manual_seed(0)
    torch.testing.assert_close(get_batch(ids, 8, 4, g2)[0], x)  # reproducible


def test_get_batch_reaches_the_last_token():
    ids = torch.arange(5)
    seen = set()
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        seen |= set(get_batch(ids, 2, 4, g)[1].flatten().tolist())
    assert seen == {1, 2, 3, 4}


def test_get_batch_rejects_bad_input():
    with pytest.raises(ValueError, match="need more than block_size=10"):
        get_batch(torch.arange(10), 10, 2)
    with pytest.raises(ValueError, match="integer token ids"):
        get_batch(torch.rand(100), 10, 2)
    with pytest.raises(ValueError, match="batch_size"):
        get_batch(torch.arange(100), 10, 0)


def test_token_dataset_covers_every_token_once():
    ids = torch.arange(103)
    ds = TokenDataset(ids, block_size=10)
    assert len(ds) == 10
    xs, ys = zip(*DataLoader(ds, batch_size=4), strict=True)
    torch.testing.assert_close(torch.cat(xs).flatten(), ids[:100])
    torch.testing.assert_close(torch.cat(ys).flatten(), ids[1:101])
    torch.testing.assert_close(ds[-1][0], ids[90:100])
    with pytest.raises(IndexError):
        ds[10]
    with pytest.raises(ValueError, match="block_size"):
        TokenDataset(ids, 0)


def test_token_dataset_needs_one_more_token_for_the_last_target():
    # 100 tokens make 9 windows of 10, not 10: window 10 (tokens 90-99) would need
    # token 100 as the target of its last position
    ds = TokenDataset(torch.arange(100), block_size=10)
    assert len(ds) == 9
    x, y = ds[-1]
    assert x.tolist() == list(range(80, 90)) and y.tolist() == list(range(81, 91))
    assert len(TokenDataset(torch.arange(101), block_size=10)) == 10
