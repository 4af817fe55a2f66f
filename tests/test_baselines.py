"""course_lib.baselines: the bigram model equals the counts, the LSTM equals its
equations, and both share one validated loss."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.baselines import BigramLanguageModel, LSTMLanguageModel

V = 11


def ids(B=2, T=7, seed=0):
    return torch.randint(V, (B, T), generator=torch.Generator().manual_seed(seed))


def test_bigram_logits_are_table_rows_and_loss_is_cross_entropy():
    torch.manual_seed(0)
    model = BigramLanguageModel(V)
    x, y = ids(seed=0), ids(seed=1)
    logits, loss = model(x, y)
    assert logits.shape == (2, 7, V)
    torch.testing.assert_close(logits, model.logits_table.weight[x])
    torch.testing.assert_close(loss, F.cross_entropy(logits.transpose(1, 2), y))
    assert model(x)[1] is None


def test_bigram_trained_by_gradient_descent_equals_the_counts():
    torch.manual_seed(0)
    stream = torch.randint(4, (2000,)) ** 2 % 5  # a skewed stream of 5 symbols
    x, y = stream[:-1][None], stream[1:][None]  # (1, N)
    counts = torch.zeros(5, 5)
    counts.index_put_((x[0], y[0]), torch.ones(x.shape[1]), accumulate=True)
    seen = counts.sum(1) > 0
    probs = counts[seen] / counts[seen].sum(1, keepdim=True)
    model = BigramLanguageModel(5)
    opt = torch.optim.LBFGS(
        model.parameters(), max_iter=500, line_search_fn="strong_wolfe"
    )

    def closure():
        opt.zero_grad()
        loss = model(x, y)[1]
        loss.backward()
        return loss

    opt.step(closure)
    learned = model.logits_table.weight[seen].softmax(-1)
    torch.testing.assert_close(learned, probs, atol=2e-3, rtol=0)


def lstm_by_hand(model, x):
    """The LSTM equations (PyTorch's gate order i, f, g, o), one step at a time."""
    emb = model.embed.weight[x]  # (B, T, C)
    B, T, _ = emb.shape
    inp = emb
    for layer in range(model.lstm.num_layers):
        w_ih = getattr(model.lstm, f"weight_ih_l{layer}")
        w_hh = getattr(model.lstm, f"weight_hh_l{layer}")
        b = getattr(model.lstm, f"bias_ih_l{layer}") + getattr(
            model.lstm, f"bias_hh_l{layer}"
        )
        h = torch.zeros(B, model.lstm.hidden_size)
        c = torch.zeros(B, model.lstm.hidden_size)
        outs = []
        for t in range(T):
            gates = inp[:, t] @ w_ih.T + h @ w_hh.T + b
            i, f, g, o = gates.chunk(4, dim=-1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            outs.append(h)
        inp = torch.stack(outs, dim=1)  # (B, T, n_hidden)
    return inp @ model.head.weight.T + model.head.bias


@pytest.mark.parametrize("n_layers", [1, 2])
def test_lstm_equals_the_equations_by_hand(n_layers):
    torch.manual_seed(0)
    model = LSTMLanguageModel(V, d_model=6, hidden_size=8, num_layers=n_layers)
    x, y = ids(seed=2), ids(seed=3)
    logits, loss = model(x, y)
    expected = lstm_by_hand(model, x)
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(
        loss, F.cross_entropy(expected.reshape(-1, V), y.flatten())
    )


def test_lstm_is_causal():
    torch.manual_seed(0)
    model = LSTMLanguageModel(V, 6, 8)
    x = ids(B=1, T=6)
    changed = x.clone()
    changed[0, 4] = (x[0, 4] + 1) % V
    a, b = model(x)[0], model(changed)[0]
    torch.testing.assert_close(a[:, :4], b[:, :4])  # the future does not leak back
    assert not torch.allclose(a[:, 4:], b[:, 4:])


@pytest.mark.parametrize("cls", [BigramLanguageModel, LSTMLanguageModel])
def test_language_models_reject_bad_input(cls):
    model = cls(V)
    with pytest.raises(
        ValueError, match=r"idx must be \(B, T\) token ids, got shape \(7,\)"
    ):
        model(torch.zeros(7, dtype=torch.long))
    with pytest.raises(
        ValueError, match=r"token id 11, outside the vocabulary \[0, 11\)"
    ):
        model(torch.full((1, 3), 11))
    with pytest.raises(ValueError, match="integer token ids"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"targets must be \(B, T\) = \(1, 3\)"):
        model(ids(1, 3), ids(1, 2))
    with pytest.raises(ValueError, match="vocab_size must be an int >= 1"):
        cls(0)
