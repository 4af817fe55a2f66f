"""Every public function of course_lib, called wrongly: one table of bad calls.

Each row is (id, a call that must fail, the exception class, a regex the message must
match). The regex names the argument and the value received, so a learner reading the
error knows what to fix. The test also checks that the error is raised by the
course's own code (the traceback's last frame is inside course_lib), not by torch,
Python or Hugging Face deeper down, and that its class is exactly the one expected
(a course subclass such as CheckpointError counts as its ValueError).
"""

from __future__ import annotations

import functools
import json
import os
import pkgutil
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import torch
from torch import nn

import course_lib
from course_lib import (
    artefacts,
    batching,
    chinese,
    classification,
    distributed,
    profiling,
    sentiment,
    tasks,
    train_gpt,
    viz,
    viz_diagrams,
    viz_generation,
    viz_scaling,
    viz_shapes,
    viz_training,
)
from course_lib.artefacts import course_file
from course_lib.attention import (
    attention_backward,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from course_lib.baselines import BigramLanguageModel, LSTMLanguageModel
from course_lib.batching import TokenDataset, batch_source, get_batch, train_val_split
from course_lib.checkpoints import (
    CheckpointError,
    checkpoint_paths,
    load_checkpoint,
    save_checkpoint,
)
from course_lib.classification import (
    GPTEncoder,
    SequenceClassifier,
    last_token_pool,
    mean_pool,
    pool,
)
from course_lib.corpora import load_corpus
from course_lib.generation import (
    apply_temperature,
    beam_search,
    generate,
    greedy,
    next_token_probs,
    sample_next,
    top_k_filter,
    top_p_filter,
)
from course_lib.gpt import GPT, GPTConfig
from course_lib.hf import (
    from_hf_gpt2,
    name_table,
    sentence_embedding,
    to_hf_gpt2,
    to_hf_tokenizer,
)
from course_lib.layers import (
    DecoderBlock,
    EncoderBlock,
    FeedForward,
    LearnedPositions,
    copy_block_from_torch,
    sinusoidal_positions,
)
from course_lib.multi_head import KVCache, MultiHeadAttention, copy_mha_from_torch
from course_lib.tasks import translate, translation_pairs, translation_tokenizer
from course_lib.tokenizers import BPETokenizer, CharTokenizer, merge
from course_lib.training import TrainConfig, configure_optimizer, evaluate, lr_at, train
from course_lib.transformer import Transformer, TransformerConfig, copy_from_torch
from course_lib.utils import count_parameters, get_device, set_seed

COURSE_LIB = Path(course_lib.__file__).resolve().parent
TINY = GPTConfig(vocab_size=11, block_size=16, num_layers=2, num_heads=2, d_model=8)
TINY_T = TransformerConfig(
    13, 13, d_model=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1,
    d_ff=16, max_len=16, dropout=0.0,
)  # fmt: skip


# --------------------------------------------------------------- small things to misuse
@functools.cache
def gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(TINY)


@functools.cache
def transformer() -> Transformer:
    torch.manual_seed(0)
    return Transformer(TINY_T)


def ids(*shape, high=11) -> torch.Tensor:
    return torch.randint(0, high, shape, generator=torch.Generator().manual_seed(0))


def rand(*shape) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


def mha(*args, **kwargs):
    return MultiHeadAttention(8, 2)(*args, **kwargs)


def full_cache() -> KVCache:
    cache = KVCache()
    cache.append(rand(1, 2, 3, 4), rand(1, 2, 3, 4))
    return cache


def bert():
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=20, hidden_size=8, num_hiddenum_layers=1,
                        num_attention_heads=2, intermediate_size=16)  # fmt: skip
    return BertModel(config)


def classifier() -> SequenceClassifier:
    torch.manual_seed(0)
    return SequenceClassifier(GPTEncoder(GPT(TINY)), num_labels=2)


def in_tmp(write, call):
    """Write a file with ``write(path)`` in a fresh folder, then ``call(path)``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "thing.json"
        write(path)
        return call(path)


def with_env(env: dict, call, drop=()):
    saved = {k: os.environ.pop(k) for k in drop if k in os.environ}
    try:
        with mock.patch.dict(os.environ, env):
            return call()
    finally:
        os.environ.update(saved)


CFG = TrainConfig(max_steps=2, batch_size=2, block_size=4, eval_steps=1, progress=False)
DATA = ids(50)
NEG_INF = float("-inf")

# fmt: off
BAD_CALLS = [
    # ---------------------------------------------------------------- attention
    ("sdpa-q-1d", lambda: scaled_dot_product_attention(rand(4), rand(4), rand(4)),
     ValueError, r"scaled_dot_product_attention: q must have at least 2 dims.*\(4,\)"),
    ("sdpa-batch-mismatch",
     lambda: scaled_dot_product_attention(rand(2, 3, 4), rand(3, 5, 4), rand(3, 5, 4)),
     ValueError, r"do not broadcast: q \(2,\), k \(3,\), v \(3,\)"),
    ("sdpa-width-mismatch",
     lambda: scaled_dot_product_attention(rand(3, 4), rand(5, 6), rand(5, 6)),
     ValueError, r"same width D: q is \(3, 4\), k is \(5, 6\)"),
    ("sdpa-kv-length",
     lambda: scaled_dot_product_attention(rand(3, 4), rand(5, 4), rand(6, 4)),
     ValueError, r"same length S: k is \(5, 4\), v is \(6, 4\)"),
    ("sdpa-mask-float",
     lambda: scaled_dot_product_attention(rand(3, 4), rand(5, 4), rand(5, 4),
                                          mask=torch.zeros(3, 5)),
     ValueError, r"mask must be a bool tensor .*got dtype torch.float32"),
    ("sdpa-mask-shape",
     lambda: scaled_dot_product_attention(rand(3, 4), rand(5, 4), rand(5, 4),
                                          mask=torch.ones(3, 4, dtype=torch.bool)),
     ValueError, r"mask of shape \(3, 4\) does not broadcast to \(\.\.\., T=3, S=5\)"),
    ("sdpa-mask-batch",
     lambda: scaled_dot_product_attention(
         rand(2, 3, 4), rand(2, 5, 4), rand(2, 5, 4),
         mask=torch.ones(3, 3, 5, dtype=torch.bool)),
     ValueError, r"do not broadcast: .*mask \(3,\)"),
    ("sdpa-dropout",
     lambda: scaled_dot_product_attention(rand(3, 4), rand(5, 4), rand(5, 4),
                                          dropout_p=1.5),
     ValueError, r"dropout_p must be in \[0, 1\), got 1.5"),
    ("sdpa-not-tensor",
     lambda: scaled_dot_product_attention([[1.0]], rand(5, 4), rand(5, 4)),
     ValueError, r"q must be a tensor, got list"),
    ("causal-mask-zero", lambda: causal_mask(0),
     ValueError, r"causal_mask: need 1 <= T <= S, got T=0, S=0"),
    ("causal-mask-float", lambda: causal_mask(2.5),
     ValueError, r"causal_mask: .*got T=2.5"),
    ("causal-mask-S-below-T", lambda: causal_mask(4, 2),
     ValueError, r"need 1 <= T <= S, got T=4, S=2"),
    ("padding-mask-2d", lambda: padding_mask([[1, 2]], 3),
     ValueError, r"padding_mask: lengths must be 1-D .*got shape \(1, 2\)"),
    ("padding-mask-too-long", lambda: padding_mask([5], 3),
     ValueError, r"every length must be in \[0, S=3\], got \[5\]"),
    ("padding-mask-float", lambda: padding_mask([1.5], 3),
     ValueError, r"padding_mask: lengths must be integers, got dtype torch.float32"),
    ("padding-mask-S", lambda: padding_mask([1], 0),
     ValueError, r"padding_mask: S must be an int >= 1, got 0"),
    ("attention-backward-1d",
     lambda: attention_backward(rand(4), rand(4), rand(4), rand(4), rand(4)),
     ValueError, r"attention_backward: q must have at least 2 dims.*\(4,\)"),
    ("attention-backward-k-width",
     lambda: attention_backward(rand(3, 4), rand(5, 6), rand(5, 4), rand(3, 5),
                                rand(3, 4)),
     ValueError, r"attention_backward: k must be \(\.\.\., S, D=4\).*k \(5, 6\)"),
    ("attention-backward-weights",
     lambda: attention_backward(rand(3, 4), rand(5, 4), rand(5, 4), rand(3, 4),
                                rand(3, 4)),
     ValueError, r"weights must end in \(T=3, 5\).*got \(3, 4\)"),
    ("kv-cache-3d", lambda: KVCache().append(rand(1, 2, 3), rand(1, 2, 3)),
     ValueError, r"KVCache.append: k must be \(B, H, S_new, D\), got \(1, 2, 3\)"),
    ("kv-cache-heads", lambda: full_cache().append(rand(1, 3, 1, 4), rand(1, 3, 1, 4)),
     ValueError, r"KVCache.append: k of shape \(1, 3, 1, 4\) does not fit.*"
                 r"\(1, 2, 3, 4\)"),
    ("kv-cache-k-v-lengths",
     lambda: KVCache().append(rand(1, 2, 3, 4), rand(1, 2, 2, 4)),
     ValueError, r"KVCache.append: k \(1, 2, 3, 4\) and v \(1, 2, 2, 4\) must share "
                 r"B, H and the number of new tokens S_new"),
    ("mha-heads", lambda: MultiHeadAttention(8, 3),
     ValueError, r"embed_dim=8 must be a positive multiple of num_heads=3"),
    ("mha-float-width", lambda: MultiHeadAttention(8.0, 2),
     ValueError, r"MultiHeadAttention: .*embed_dim=8.0"),
    ("mha-dropout", lambda: MultiHeadAttention(8, 2, dropout=1.0),
     ValueError, r"MultiHeadAttention: dropout must be in \[0, 1\), got 1.0"),
    ("mha-query-1d", lambda: mha(rand(8), rand(1, 3, 8), rand(1, 3, 8)),
     ValueError, r"query must be \(B, T, C=8\), got \(8,\)"),
    ("mha-query-width", lambda: mha(rand(1, 3, 6), rand(1, 3, 8), rand(1, 3, 8)),
     ValueError, r"query must be \(B, T, C=8\), got \(1, 3, 6\)"),
    ("mha-batch-mismatch", lambda: mha(rand(2, 3, 8), rand(3, 3, 8), rand(3, 3, 8)),
     ValueError, r"query \(2, 3, 8\), key \(3, 3, 8\) .*must share B"),
    ("mha-mask-batch",
     lambda: mha(rand(2, 3, 8), rand(2, 3, 8), rand(2, 3, 8),
                 mask=torch.ones(3, 1, 1, 3, dtype=torch.bool)),
     ValueError, r"do not broadcast: q \(2, 2\).*mask \(3, 1\)"),
    ("mha-cache-type",
     lambda: mha(rand(1, 3, 8), rand(1, 3, 8), rand(1, 3, 8), cache=[]),
     ValueError, r"cache must be a KVCache or None, got list"),
    ("copy-mha-wrong-ref",
     lambda: copy_mha_from_torch(MultiHeadAttention(8, 2), nn.Linear(8, 8)),
     ValueError, r"copy_mha_from_torch: .*got \(MultiHeadAttention, Linear\)"),
    # ---------------------------------------------------------------- layers
    ("ffn-negative-width", lambda: FeedForward(8, -1),
     ValueError, r"FeedForward: d_ff must be an int >= 1, got -1"),
    ("ffn-zero-width", lambda: FeedForward(8, 0),
     ValueError, r"FeedForward: d_ff must be an int >= 1, got 0"),
    ("ffn-zero-model", lambda: FeedForward(0, 8),
     ValueError, r"FeedForward: d_model must be an int >= 1, got 0"),
    ("ffn-dropout", lambda: FeedForward(8, 16, dropout=-0.1),
     ValueError, r"FeedForward: dropout must be in \[0, 1\), got -0.1"),
    ("ffn-activation", lambda: FeedForward(8, 16, activation="tanh"),
     ValueError, r"activation='tanh' is not one of 'relu', 'gelu', 'gelu_tanh'"),
    ("ffn-forward-width", lambda: FeedForward(8, 16)(rand(2, 3, 5)),
     ValueError, r"FeedForward: x must be \(\.\.\., C=8\), got \(2, 3, 5\)"),
    ("sinusoidal-odd-C", lambda: sinusoidal_positions(4, 3),
     ValueError, r"sinusoidal_positions: C must be an even int >= 2, got 3"),
    ("sinusoidal-base", lambda: sinusoidal_positions(4, 4, base=0),
     ValueError, r"sinusoidal_positions: base must be > 0, got 0"),
    ("learned-positions-too-long", lambda: LearnedPositions(4, 8)(5),
     ValueError, r"LearnedPositions: T=5 positions asked, this table holds 1..4"),
    ("learned-positions-max-len", lambda: LearnedPositions(0, 8),
     ValueError, r"LearnedPositions: max_len must be an int >= 1, got 0"),
    ("encoder-block-heads", lambda: EncoderBlock(8, 3, 16),
     ValueError, r"embed_dim=8 must be a positive multiple of num_heads=3"),
    ("decoder-block-memory-width",
     lambda: DecoderBlock(8, 2, 16)(rand(1, 3, 8), rand(1, 4, 6)),
     ValueError, r"key must be \(B, T, C=8\), got \(1, 4, 6\)"),
    ("copy-block-kinds",
     lambda: copy_block_from_torch(
         EncoderBlock(8, 2, 16),
         nn.TransformerDecoderLayer(8, 2, 16, batch_first=True)),
     ValueError, r"copy_block_from_torch: .*got \(EncoderBlock, "
                 r"TransformerDecoderLayer\)"),
    ("encoder-block-x-2d", lambda: EncoderBlock(8, 2, 16)(rand(3, 8)),
     ValueError, r"query must be \(B, T, C=8\), got \(3, 8\)"),
    # ---------------------------------------------------------------- models
    ("gpt-config-divisible", lambda: GPTConfig(d_model=10, num_heads=3),
     ValueError, r"GPTConfig.d_model=10 must be divisible by num_heads=3"),
    ("gpt-config-zero-layers", lambda: GPTConfig(num_layers=0),
     ValueError, r"GPTConfig: num_layers must be an int >= 1, got 0"),
    ("gpt-config-negative-width", lambda: GPTConfig(d_model=-8),
     ValueError, r"GPTConfig: d_model must be an int >= 1, got -8"),
    ("gpt-config-bool", lambda: GPTConfig(vocab_size=True),
     ValueError, r"GPTConfig: vocab_size must be an int >= 1, got True"),
    ("gpt-config-dropout", lambda: GPTConfig(dropout=1.0),
     ValueError, r"GPTConfig: dropout must be in \[0, 1\), got 1.0"),
    ("gpt-config-dropout-str", lambda: GPTConfig(dropout="0.1"),
     ValueError, r"GPTConfig: dropout must be a number, got '0.1'"),
    ("transformer-config-divisible",
     lambda: TransformerConfig(11, 11, d_model=10, num_heads=4),
     ValueError, r"TransformerConfig.d_model=10 must be divisible by num_heads=4"),
    ("transformer-config-d-ff", lambda: TransformerConfig(11, 11, d_ff=-1),
     ValueError, r"TransformerConfig: d_ff must be an int >= 1, got -1"),
    ("transformer-config-dropout", lambda: TransformerConfig(11, 11, dropout=-0.5),
     ValueError, r"TransformerConfig: dropout must be in \[0, 1\), got -0.5"),
    ("transformer-config-activation",
     lambda: TransformerConfig(11, 11, activation="tanh"),
     ValueError, r"activation='tanh' is not one of"),
    ("transformer-config-share-vocab",
     lambda: TransformerConfig(11, 12, share_vocab=True),
     ValueError, r"share_vocab=True needs src_vocab_size == tgt_vocab_size, "
                 r"got 11 and 12"),
    ("gpt-config-dict", lambda: GPT({"d_model": 8}),
     ValueError, r"GPT: config must be a GPTConfig, got dict"),
    ("transformer-gpt-config", lambda: Transformer(TINY),
     ValueError, r"Transformer: config must be a TransformerConfig, got GPTConfig"),
    ("gpt-targets-too-large", lambda: gpt()(ids(1, 3), torch.tensor([[1, 11, 2]])),
     ValueError, r"targets holds token id 11, outside the vocabulary \[0, 11\) "
                 r"\(or -1 to ignore one\)"),
    ("gpt-targets-negative", lambda: gpt()(ids(1, 3), torch.tensor([[1, -2, 2]])),
     ValueError, r"targets holds token id -2, outside the vocabulary \[0, 11\)"),
    ("gpt-targets-shape", lambda: gpt()(ids(1, 3), ids(1, 4)),
     ValueError, r"GPT: targets must be \(B, T\) = \(1, 3\) like idx, got \(1, 4\)"),
    ("gpt-targets-float", lambda: gpt()(ids(1, 3), torch.zeros(1, 3)),
     ValueError, r"targets must hold integer token ids, got dtype torch.float32"),
    ("gpt-idx-1d", lambda: gpt()(ids(3)),
     ValueError, r"idx must be \(B, T\) token ids, got shape \(3,\)"),
    ("gpt-idx-out-of-range", lambda: gpt()(torch.tensor([[3, 11]])),
     ValueError, r"idx holds token id 11, outside the vocabulary \[0, 11\)"),
    ("gpt-too-long", lambda: gpt()(ids(1, 17)),
     ValueError, r"sequence of 17 tokens is longer than block_size=16"),
    ("gpt-caches-count", lambda: gpt()(ids(1, 3), caches=[KVCache()]),
     ValueError, r"GPT: caches must be a list of 2 KVCache .*got 1"),
    ("gpt-embed-start", lambda: gpt().embed(ids(1, 3), start=-1),
     ValueError, r"GPT.embed: start must be an int >= 0, got -1"),
    ("bigram-vocab", lambda: BigramLanguageModel(0),
     ValueError, r"BigramLanguageModel: vocab_size must be an int >= 1, got 0"),
    ("bigram-targets",
     lambda: BigramLanguageModel(5)(ids(1, 3, high=5), torch.tensor([[0, 9, 1]])),
     ValueError, r"BigramLanguageModel: targets holds token id 9, outside the "
                 r"vocabulary \[0, 5\)"),
    ("lstm-dropout", lambda: LSTMLanguageModel(5, num_layers=2, dropout=1.5),
     ValueError, r"LSTMLanguageModel: dropout must be in \[0, 1\), got 1.5"),
    ("lstm-width", lambda: LSTMLanguageModel(5, hidden_size=0),
     ValueError, r"LSTMLanguageModel: hidden_size must be an int >= 1, got 0"),
    ("transformer-src-1d", lambda: transformer()(ids(3), ids(1, 3)),
     ValueError, r"src must be \(B, L\) token ids, got shape \(3,\)"),
    ("transformer-tgt-range", lambda: transformer()(ids(1, 3), ids(1, 3, high=20) + 13),
     ValueError, r"tgt holds token id \d+, outside the vocabulary \[0, 13\)"),
    ("transformer-src-mask-shape",
     lambda: transformer()(ids(1, 3), ids(1, 3), src_mask=torch.ones(1, 3, 3).bool()),
     ValueError, r"src_mask must be a key-padding mask of shape \(B, 1, 1, S\), "
                 r"got \(1, 3, 3\)"),
    ("transformer-src-mask-batch",
     lambda: transformer()(ids(2, 3), ids(2, 3),
                           src_mask=torch.ones(3, 1, 1, 3, dtype=torch.bool)),
     ValueError, r"do not broadcast: .*mask \(3, 1\)"),
    ("greedy-decode-bos",
     lambda: transformer().greedy_decode(ids(1, 3), max_len=4, bos_id=99, eos_id=2),
     ValueError, r"greedy_decode: bos_id must be a target token id in \[0, 13\), "
                 r"got 99"),
    ("greedy-decode-max-len",
     lambda: transformer().greedy_decode(ids(1, 3), max_len=2.5, bos_id=1, eos_id=2),
     ValueError, r"max_len=2.5 must be in \[1, 15\]"),
    ("copy-from-torch-wrong", lambda: copy_from_torch(transformer(), nn.Linear(2, 2)),
     ValueError, r"copy_from_torch: .*got \(Transformer, Linear\)"),
    ("gpt2-small-heads", lambda: GPTConfig.gpt2_small(num_heads=5),
     ValueError, r"GPTConfig.d_model=768 must be divisible by num_heads=5"),
    ("transformer-config-base-dropout", lambda: TransformerConfig.base(dropout=2.0),
     ValueError, r"TransformerConfig: dropout must be in \[0, 1\), got 2.0"),
    ("gpt-attention-weights-1d", lambda: gpt().attention_weights(ids(3)),
     ValueError, r"idx must be \(B, T\) token ids, got shape \(3,\)"),
    ("transformer-decode-memory",
     lambda: transformer().decode(ids(1, 3), rand(1, 4, 6)),
     ValueError, r"key must be \(B, T, C=8\), got \(1, 4, 6\)"),
    ("transformer-attention-weights-mask",
     lambda: transformer().attention_weights(ids(1, 3), ids(1, 3),
                                             src_mask=torch.ones(3, 3).bool()),
     ValueError, r"src_mask must be a key-padding mask of shape \(B, 1, 1, S\), "
                 r"got \(3, 3\)"),
    # ---------------------------------------------------------------- training
    ("train-config-warmup-float", lambda: TrainConfig(warmup_steps=2.5),
     ValueError, r"TrainConfig.warmup_steps must be an int >= 0, got 2.5"),
    ("train-config-warmup-negative", lambda: TrainConfig(warmup_steps=-1),
     ValueError, r"TrainConfig.warmup_steps must be an int >= 0, got -1"),
    ("train-config-max-steps", lambda: TrainConfig(max_steps=-10),
     ValueError, r"TrainConfig: max_steps must be an int >= 1, got -10"),
    ("train-config-lr-negative", lambda: TrainConfig(lr=-1e-3),
     ValueError, r"need lr > 0 and 0 <= min_lr <= lr, got lr=-0.001"),
    ("train-config-lr-str", lambda: TrainConfig(lr="1e-3"),
     ValueError, r"TrainConfig.lr must be a finite number, got '1e-3'"),
    ("train-config-lr-nan", lambda: TrainConfig(lr=float("nan")),
     ValueError, r"TrainConfig.lr must be a finite number, got nan"),
    ("train-config-betas-one", lambda: TrainConfig(betas=(0.9,)),
     ValueError, r"TrainConfig.betas must be a pair \(beta1, beta2\), got \(0.9,\)"),
    ("train-config-betas-range", lambda: TrainConfig(betas=(0.9, 1.0)),
     ValueError, r"TrainConfig.betas must both be in \[0, 1\), got \(0.9, 1.0\)"),
    ("train-config-decay-float", lambda: TrainConfig(decay_steps=500.5),
     ValueError, r"TrainConfig.decay_steps must be an int or None, got 500.5"),
    ("train-config-seed", lambda: TrainConfig(seed=-1),
     ValueError, r"TrainConfig.seed must be an int >= 0, got -1"),
    ("train-config-grad-clip", lambda: TrainConfig(grad_clip=-1.0),
     ValueError, r"weight_decay and grad_clip must be >= 0, got 0.1 and -1.0"),
    ("lr-at-negative-step", lambda: lr_at(-1, TrainConfig()),
     ValueError, r"lr_at: step must be an int >= 0, got -1"),
    ("lr-at-float-step", lambda: lr_at(2.5, TrainConfig()),
     ValueError, r"lr_at: step must be an int >= 0, got 2.5"),
    ("lr-at-config", lambda: lr_at(0, {"lr": 1e-3}),
     ValueError, r"lr_at: config must be a TrainConfig, got dict"),
    ("configure-optimizer-model", lambda: configure_optimizer("model", CFG),
     ValueError, r"configure_optimizer: model must be a torch.nn.Module, got str"),
    ("batch-source-2d", lambda: batch_source(ids(2, 3), 4, 2),
     ValueError, r"train_data must be a 1-D tensor of token ids or a callable .*"
                 r"got \(2, 3\)"),
    ("batch-source-size", lambda: batch_source(DATA, 4, None),
     ValueError, r"batch_source: batch_size must be an int >= 1, got None"),
    ("evaluate-config", lambda: evaluate(gpt(), DATA, {}),
     ValueError, r"evaluate: config must be a TrainConfig, got dict"),
    ("train-model", lambda: train(None, DATA, DATA, CFG),
     ValueError, r"train: model must be a torch.nn.Module, got NoneType"),
    ("train-callbacks", lambda: train(gpt(), DATA, DATA, CFG, callbacks=print),
     ValueError, r"train: callbacks must be a list of functions f\(history\), "
                 r"got <built-in function print>"),
    ("train-val-data", lambda: train(gpt(), DATA, [1, 2, 3], CFG),
     ValueError, r"val_data must be a 1-D tensor of token ids or a callable .*"
                 r"got list"),
    # ---------------------------------------------------------------- generation
    ("next-token-probs-all-neg-inf",
     lambda: next_token_probs(torch.tensor([[0.0, 1.0], [NEG_INF, NEG_INF]])),
     ValueError, r"next_token_probs: logits row \(1,\) is \[-inf, -inf\].*"
                 r"every logit -inf"),
    ("next-token-probs-all-neg-inf-greedy",
     lambda: next_token_probs(torch.tensor([NEG_INF, NEG_INF]), temperature=0),
     ValueError, r"next_token_probs: logits row \(\) is \[-inf, -inf\]"),
    ("next-token-probs-nan",
     lambda: next_token_probs(torch.tensor([[0.0, float("nan")]])),
     ValueError, r"next_token_probs: logits row \(0,\) is \[0.0, nan\]"),
    ("next-token-probs-int", lambda: next_token_probs(torch.tensor([1, 2])),
     ValueError, r"next_token_probs: logits must be a float tensor \(\.\.\., V\), "
                 r"got torch.int64"),
    ("greedy-list", lambda: greedy([1.0, 2.0]),
     ValueError, r"greedy: logits must be a float tensor \(\.\.\., V\), got list"),
    ("greedy-scalar", lambda: greedy(torch.tensor(1.0)),
     ValueError, r"greedy: logits must be \(\.\.\., V\) with V >= 1, got shape \(\)"),
    ("apply-temperature-zero", lambda: apply_temperature(rand(4), 0),
     ValueError, r"temperature=0 is greedy decoding: use greedy\(logits\)"),
    ("apply-temperature-negative", lambda: apply_temperature(rand(4), -1),
     ValueError, r"temperature must be a number >= 0 .*got -1"),
    ("top-k-zero", lambda: top_k_filter(rand(4), 0),
     ValueError, r"top_k must be an int >= 1 or None, got 0"),
    ("top-p-too-big", lambda: top_p_filter(rand(4), 1.5),
     ValueError, r"top_p must be in \(0, 1\] or None, got 1.5"),
    ("top-p-logits-list", lambda: top_p_filter([0.1, 0.2], 0.5),
     ValueError, r"top_p_filter: logits must be a float tensor .*got list"),
    ("sample-next-3d", lambda: sample_next(rand(1, 2, 3)),
     ValueError, r"sample_next: logits must be \(B, V\) or \(V,\), got \(1, 2, 3\)"),
    ("sample-next-generator", lambda: sample_next(rand(1, 3), generator=0),
     ValueError, r"sample_next: generator must be a torch.Generator or None, got int"),
    ("generate-not-a-gpt", lambda: generate(nn.Linear(4, 4), ids(1, 3), 2),
     ValueError, r"generate: model must be a course_lib GPT .*got Linear"),
    ("generate-max-new-tokens", lambda: generate(gpt(), ids(1, 3), -1),
     ValueError, r"max_new_tokens must be an int >= 0, got -1"),
    ("generate-idx-1d", lambda: generate(gpt(), ids(3), 2),
     ValueError, r"idx must be \(B, T\) token ids, got shape \(3,\)"),
    ("generate-idx-range", lambda: generate(gpt(), torch.tensor([[1, 99]]), 2),
     ValueError, r"idx holds token id 99, outside the vocabulary \[0, 11\)"),
    ("generate-top-p", lambda: generate(gpt(), ids(1, 3), 2, top_p=0),
     ValueError, r"top_p must be in \(0, 1\] or None, got 0"),
    ("beam-search-num-beams", lambda: beam_search(gpt(), ids(1, 3), 2, num_beams=0),
     ValueError, r"beam_search: num_beams must be an int >= 1, got 0"),
    ("beam-search-max-new-tokens", lambda: beam_search(gpt(), ids(1, 3), -1, 2),
     ValueError, r"max_new_tokens must be an int >= 0, got -1"),
    ("beam-search-eos-id", lambda: beam_search(gpt(), ids(1, 3), 2, 2, eos_id=11),
     ValueError, r"beam_search: eos_id must be a token id in \[0, 11\) or None, "
                 r"got 11"),
    # ---------------------------------------------------------------- hf
    ("from-hf-gpt2-bert", lambda: from_hf_gpt2(bert()),
     ValueError, r"from_hf_gpt2: hf must be a transformers GPT2LMHeadModel or "
                 r"GPT2Model, got BertModel"),
    ("from-hf-gpt2-linear", lambda: from_hf_gpt2(nn.Linear(2, 2)),
     ValueError, r"from_hf_gpt2: hf must be .*got Linear"),
    ("to-hf-gpt2-linear", lambda: to_hf_gpt2(nn.Linear(2, 2)),
     ValueError, r"model must be a course_lib GPT, got Linear"),
    ("to-hf-gpt2-attn", lambda: to_hf_gpt2(gpt(), attn_implementation="flash"),
     ValueError, r"to_hf_gpt2: attn_implementation must be 'eager' .*got 'flash'"),
    ("to-hf-gpt2-no-bias",
     lambda: to_hf_gpt2(GPT(GPTConfig(vocab_size=11, block_size=8, num_layers=1,
                                      num_heads=2, d_model=8, bias=False))),
     ValueError, r"GPTConfig.bias=False cannot be mapped"),
    ("mean-pool-2d", lambda: mean_pool(rand(2, 3)),
     ValueError, r"hidden must be \(B, T, C\), got shape \(2, 3\)"),
    ("mean-pool-mask-shape", lambda: mean_pool(rand(2, 3, 4), torch.ones(2, 4)),
     ValueError, r"attention_mask must be \(B, T\) = \(2, 3\), got \(2, 4\)"),
    ("mean-pool-mask-list", lambda: mean_pool(rand(2, 3, 4), [[1, 1, 1]]),
     ValueError, r"mean_pool: attention_mask must be a \(B, T\) tensor or None, "
                 r"got list"),
    ("sentence-embedding-str", lambda: sentence_embedding(None, None, "hello"),
     ValueError, r"sentence_embedding: sentences must be a non-empty list of str, "
                 r"got 'hello'"),
    ("gpt-encoder-linear", lambda: GPTEncoder(nn.Linear(2, 2)),
     ValueError, r"gpt must be a course_lib GPT, got Linear"),
    ("classifier-pooling", lambda: SequenceClassifier(gpt(), 2, pooling="max"),
     ValueError, r"SequenceClassifier: pooling must be 'first', 'mean' or 'last', "
                 r"got 'max'"),
    ("classifier-pooling-none", lambda: SequenceClassifier(gpt(), 2, pooling=None),
     ValueError, r"SequenceClassifier: pooling must be .*, got None"),
    ("pool-pooling", lambda: pool(rand(2, 3, 4), pooling="cls"),
     ValueError, r"pool: pooling must be 'first', 'mean' or 'last', got 'cls'"),
    ("pool-2d", lambda: pool(rand(2, 3), pooling="first"),
     ValueError, r"pool: hidden must be \(B, T, C\), got shape \(2, 3\)"),
    ("last-token-pool-mask-shape",
     lambda: last_token_pool(rand(2, 3, 4), torch.ones(3, 2)),
     ValueError, r"last_token_pool: attention_mask must be \(B, T\) = \(2, 3\), got "
                 r"\(3, 2\)"),
    ("last-token-pool-mask-list", lambda: last_token_pool(rand(2, 3, 4), [[1, 1, 0]]),
     ValueError, r"last_token_pool: attention_mask must be a \(B, T\) tensor or "
                 r"None, got list"),
    ("classifier-num-labels", lambda: SequenceClassifier(gpt(), 1),
     ValueError, r"num_labels must be an int >= 2, got 1"),
    ("classifier-encoder", lambda: SequenceClassifier("gpt", 2, hidden_size=8),
     ValueError, r"SequenceClassifier: encoder must be a torch.nn.Module, got str"),
    ("classifier-hidden-size", lambda: SequenceClassifier(gpt(), 2, hidden_size=0),
     ValueError, r"SequenceClassifier: hidden_size must be an int >= 1, got 0"),
    ("classifier-labels-range",
     lambda: classifier()(ids(2, 3), labels=torch.tensor([0, 5])),
     ValueError, r"labels holds class 5, outside \[0, 2\)"),
    ("classifier-labels-shape",
     lambda: classifier()(ids(2, 3), labels=torch.tensor([[0], [1]])),
     ValueError, r"SequenceClassifier: labels must be \(B,\) = \(2,\), one class "
                 r"per row, got \(2, 1\)"),
    ("classifier-input-1d", lambda: classifier()(ids(3)),
     ValueError, r"input_ids must be \(B, T\), got shape \(3,\)"),
    ("name-table-zero", lambda: name_table(0),
     ValueError, r"num_layers must be an int >= 1, got 0"),
    ("load-minilm-attn", lambda: course_lib.hf.load_minilm("flash"),
     ValueError, r"load_minilm: attn_implementation must be 'eager' .*got 'flash'"),
    ("gpt-encoder-forward-1d", lambda: GPTEncoder(gpt())(ids(3)),
     ValueError, r"idx must be \(B, T\) token ids, got shape \(3,\)"),
    # ---------------------------------------------------------------- tokenizers
    ("char-tokenizer-duplicates", lambda: CharTokenizer(["a", "a"]),
     ValueError, r"chars must be distinct single characters, got 2 entries with 1 "
                 r"distinct"),
    ("char-tokenizer-int", lambda: CharTokenizer(5),
     ValueError, r"CharTokenizer: chars must be a list of single characters, got int"),
    ("char-from-text-empty", lambda: CharTokenizer.from_text(""),
     ValueError, r"CharTokenizer.from_text: need a non-empty str, got ''"),
    ("char-encode-unknown", lambda: CharTokenizer.from_text("abc").encode("az"),
     ValueError, r"the character 'z' \(U\+007A\) at index 1 is not in the "
                 r"vocabulary of 3"),
    ("char-encode-int", lambda: CharTokenizer.from_text("abc").encode(5),
     ValueError, r"CharTokenizer.encode: text must be a str, got int"),
    ("char-decode-range", lambda: CharTokenizer.from_text("abc").decode([0, 99]),
     ValueError, r"CharTokenizer.decode: ids must be ints in \[0, 3\), got \[99\]"),
    ("bpe-train-small-vocab", lambda: BPETokenizer.train("abc", 10),
     ValueError, r"BPETokenizer.train: vocab_size must be an int >= 256, got 10"),
    ("bpe-train-text", lambda: BPETokenizer.train(b"abc", 300),
     ValueError, r"BPETokenizer.train: text must be a str, got <class 'bytes'>"),
    ("bpe-merge-unknown-id", lambda: BPETokenizer([(1, 999)]),
     ValueError, r"merge \(1, 999\) refers to an id not yet in the vocabulary of 256"),
    ("bpe-merge-not-a-pair", lambda: BPETokenizer([(1,)]),
     ValueError, r"BPETokenizer: merges must hold pairs of two int ids, got \(1,\)"),
    ("bpe-encode-bytes", lambda: BPETokenizer([]).encode(b"abc"),
     ValueError, r"BPETokenizer.encode: text must be a str, got <class 'bytes'>"),
    ("bpe-decode-range", lambda: BPETokenizer([]).decode([300]),
     ValueError, r"BPETokenizer.decode: ids must be ints in \[0, 256\), got \[300\]"),
    ("merge-pair", lambda: merge([1, 2], (1,), 9),
     ValueError, r"merge: pair must be two ids \(a, b\), got \(1,\)"),
    ("to-hf-tokenizer-str", lambda: to_hf_tokenizer("gpt2"),
     ValueError, r"to_hf_tokenizer: expected a CharTokenizer or BPETokenizer, got str"),
    ("char-load-bpe-file",
     lambda: in_tmp(BPETokenizer([]).save, CharTokenizer.load),
     ValueError, r"holds a tokenizer of type 'bpe', expected 'char'"),
    ("char-load-missing-key",
     lambda: in_tmp(lambda p: p.write_text(json.dumps({"type": "char"})),
                    CharTokenizer.load),
     ValueError, r"a 'char' tokenizer file needs the keys \['chars'\]; \['chars'\] "
                 r"missing"),
    ("char-save-int-path", lambda: CharTokenizer.from_text("ab").save(5),
     ValueError, r"save: path must be a str or Path, got 5"),
    ("bpe-load-int-path", lambda: BPETokenizer.load(None),
     ValueError, r"load: path must be a str or Path, got None"),
    # ---------------------------------------------------------------- data
    ("load-corpus-unknown", lambda: load_corpus("nope"),
     ValueError, r"load_corpus: 'nope' is not a corpus name nor an existing file"),
    ("load-corpus-int", lambda: load_corpus(123),
     ValueError, r"load_corpus: name must be a corpus name or a path, got 123"),
    ("course-file-int", lambda: course_file(5),
     ValueError, r"course_file: name must be a file name \(str\), got 5"),
    ("train-val-split-fraction", lambda: train_val_split(DATA, 1.5),
     ValueError, r"val_fraction must lie strictly between 0 and 1, got 1.5"),
    ("train-val-split-2d", lambda: train_val_split(ids(2, 3)),
     ValueError, r"train_val_split: data must be a 1-D tensor of token ids, "
                 r"got \(2, 3\)"),
    ("get-batch-short-data", lambda: get_batch(ids(10), 10, 2),
     ValueError, r"get_batch: data has 10 tokens, need more than block_size=10"),
    ("get-batch-float-batch-size", lambda: get_batch(DATA, 4, 2.5),
     ValueError, r"get_batch: batch_size must be an int >= 1, got 2.5"),
    ("get-batch-float-data", lambda: get_batch(rand(20), 4, 2),
     ValueError, r"get_batch: data must hold integer token ids, got dtype "
                 r"torch.float32"),
    ("get-batch-generator", lambda: get_batch(DATA, 4, 2, generator=0),
     ValueError, r"get_batch: generator must be a torch.Generator or None, got int"),
    ("token-dataset-block", lambda: TokenDataset(DATA, 0),
     ValueError, r"TokenDataset: block_size must be an int >= 1, got 0"),
    ("vocab-decode-range", lambda: translation_tokenizer().decode([1, 999]),
     ValueError, r"WordTokenizer.decode: ids must be in \[0, 48\), got \[999\]"),
    ("vocab-encode-unknown", lambda: translation_tokenizer().encode("the zebra"),
     ValueError, r"words not in the vocabulary: \['zebra'\]"),
    ("vocab-encode-list", lambda: translation_tokenizer().encode(["the"]),
     ValueError, r"WordTokenizer.encode: text must be a str, got \['the'\]"),
    ("translate-no-verb", lambda: translate("the dog"),
     ValueError, r"need exactly one verb in 'the dog', found 0"),
    ("translate-list", lambda: translate(["the", "dog"]),
     ValueError, r"translate: sentence must be a str, got \['the', 'dog'\]"),
    ("translation-pairs-zero", lambda: translation_pairs(0),
     ValueError, r"translation_pairs: n must be in \[1, 75264\], got 0"),
    ("translation-pairs-float", lambda: translation_pairs(2.5),
     ValueError, r"translation_pairs: n must be in \[1, 75264\], got 2.5"),
    ("token-dataset-float", lambda: TokenDataset(rand(20), 4),
     ValueError, r"TokenDataset: data must hold integer token ids, got dtype "
                 r"torch.float32"),
    ("toy-translation-zero", lambda: tasks.toy_translation(0),
     ValueError, r"translation_pairs: n must be in \[1, 75264\], got 0"),
    # ---------------------------------------------------------------- sentiment
    ("sentiment-split-name", lambda: tasks.sentiment_split("val", 5),
     ValueError, r"split must be 'train' or 'test', got 'val'"),
    ("sentiment-split-n", lambda: tasks.sentiment_split("train", 0),
     ValueError, r"n must be a positive int, got 0"),
    ("sentiment-split-seed", lambda: tasks.sentiment_split("train", 5, seed=0.5),
     ValueError, r"sentiment_split: seed must be an int, got 0.5"),
    ("pad-batch-empty", lambda: batching.pad_batch([], 0),
     ValueError, r"pad_batch: need a non-empty list of non-empty id lists, got \[\]"),
    ("pad-batch-pad-float", lambda: batching.pad_batch([[1], [2, 3]], 1.5),
     ValueError, r"pad_batch: pad_id must be an int, got 1.5"),
    ("batches-float-ids", lambda: batching.labelled_batches(rand(3, 2), ids(3), 2),
     ValueError, r"labelled_batches: ids must be an int tensor, got torch.float32"),
    ("batches-shapes", lambda: batching.labelled_batches(ids(3, 2), ids(2), 2),
     ValueError, r"ids must be \(N, T\) and labels \(N,\), got \(3, 2\) and \(2,\)"),
    ("batches-batch-size", lambda: batching.labelled_batches(ids(3, 2), ids(3), 0),
     ValueError, r"batch_size must be an int >= 1, got 0"),
    ("batches-negative-label",
     lambda: batching.labelled_batches(ids(3, 2), torch.tensor([0, -1, 1]), 2),
     ValueError, r"labelled_batches: labels must be class ids >= 0 .*got \[0, -1, 1\]"),
    ("accuracy-lengths",
     lambda: classification.accuracy(classifier(), ids(3, 2), ids(2)),
     ValueError, r"accuracy: need one label per row of ids, got 3 rows and 2 labels"),
    ("accuracy-batch-size",
     lambda: classification.accuracy(classifier(), ids(3, 2), ids(3), batch_size=0),
     ValueError, r"accuracy: batch_size must be an int >= 1, got 0"),
    ("load-results-int-path", lambda: artefacts.load_results(5),
     ValueError, r"load_results: path must be a str or Path, got 5"),
    # ---------------------------------------------------------------- utils
    ("set-seed-float", lambda: set_seed(1.5),
     ValueError, r"set_seed: a seed must be an int, got 1.5"),
    ("set-seed-negative", lambda: set_seed(-1),
     ValueError, r"set_seed: a seed must be >= 0, got -1"),
    ("get-device-tpu", lambda: get_device("tpu"),
     ValueError, r"get_device: preferred='tpu' is not a device the course supports"),
    ("count-parameters-str", lambda: count_parameters("gpt"),
     ValueError, r"count_parameters: expected a torch.nn.Module, got str"),
    ("count-parameters-by", lambda: count_parameters(gpt(), by="layer"),
     ValueError, r"count_parameters: by must be None or 'child', got 'layer'"),
    # ---------------------------------------------------------------- viz
    ("plot-attention-3d", lambda: viz.plot_attention(rand(1, 2, 2), "ab", "ab"),
     ValueError, r"weights must be one \(T, S\) matrix, got shape \(1, 2, 2\)"),
    ("plot-attention-tokens", lambda: viz.plot_attention(rand(2, 2), "abc", "ab"),
     ValueError, r"weights has shape \(2, 2\) but there are 3 query tokens"),
    ("softmax-saturation-d-k", lambda: viz_scaling.softmax_saturation(0),
     ValueError, r"softmax_saturation: d_k must be >= 1 \(an int\), got 0"),
    ("softmax-saturation-keys", lambda: viz_scaling.softmax_saturation(4, keys=0),
     ValueError, r"softmax_saturation: keys must be >= 1 \(an int\), got 0"),
    ("draw-heads-3d", lambda: viz.draw_heads(rand(1, 2, 2), "ab"),
     ValueError, r"draw_heads: weights must be \(L, H, T, T\) with T = 2 tokens, "
                 r"got shape \(1, 2, 2\)"),
    ("head-explorer-3d", lambda: viz.head_explorer(rand(1, 2, 2), "ab"),
     ValueError, r"head_explorer: weights must be \(L, H, T, T\) .*\(1, 2, 2\)"),
    ("attention-explorer-empty", lambda: viz.attention_explorer({}),
     ValueError, r"attention_explorer: give at least one \(tokens, weights\) pair"),
    ("attention-explorer-weights",
     lambda: viz.attention_explorer({"a": (["x", "y"], rand(3, 3))}),
     ValueError, r"examples\['a'\] has shape \(3, 3\) but there are 2 query tokens"),
    ("explorer-no-controls", lambda: viz.explorer(viz_scaling.draw_scaling),
     ValueError, r"explorer: give at least one control"),
    ("explorer-not-callable", lambda: viz.explorer(5, d_k=1),
     ValueError, r"explorer: draw must be a function returning a Figure, got 5"),
    ("plot-attention-scaling-empty", lambda: viz_scaling.plot_attention_scaling([]),
     ValueError, r"plot_attention_scaling: rows must be a non-empty list .*got \[\]"),
    ("plot-attention-scaling-keys",
     lambda: viz_scaling.plot_attention_scaling([{"T": 4}]),
     ValueError, r"every row needs the keys \['T', 'path', 'peak_bytes', "
                 r"'seconds'\], got \{'T': 4\}"),
    ("draw-gradient-norms-empty", lambda: viz_training.draw_gradient_norms({}),
     ValueError, r"draw_gradient_norms: norms is empty"),
    ("draw-gradient-norms-list", lambda: viz_training.draw_gradient_norms([1.0, 0.5]),
     ValueError, r"draw_gradient_norms: norms must be a dict \{label: \[...\]\}, "
                 r"got list"),
    ("draw-losses-missing", lambda: viz_training.draw_losses({"step": []}),
     ValueError, r"draw_losses: history must be the dict train\(\) returns; "
                 r"\['train_loss', 'eval_step', 'val_loss'\] missing"),
    ("draw-next-token-shape",
     lambda: viz_generation.draw_next_token(rand(2), ["a", "b", "c"]),
     ValueError, r"logits must be \(V,\) with V = len\(tokens\) = 3, got shape \(2,\)"),
    ("draw-next-token-n",
     lambda: viz_generation.draw_next_token(rand(3), ["a", "b", "c"], n=0),
     ValueError, r"draw_next_token: n must be an int >= 1, got 0"),
    ("draw-beams-empty", lambda: viz_generation.draw_beams([], ["a"]),
     ValueError, r"draw_beams: history must be a non-empty list of steps"),
    ("draw-next-token-top-p",
     lambda: viz_generation.draw_next_token(rand(3), "abc", top_p=2.0),
     ValueError, r"top_p must be in \(0, 1\] or None, got 2.0"),
    ("chinese-halfwidth-bytes", lambda: chinese.halfwidth(b"1998"),
     TypeError, r"halfwidth: text must be a str, got bytes"),
    ("chinese-review-fractions", lambda: chinese.chinese_reviews(fractions=(1, 0, 0)),
     ValueError, r"three positive numbers summing to 1, got \(1, 0, 0\)"),
    ("chinese-encode-empty-text",
     lambda: chinese.encode_texts(None, ["  ", "好"], 8),
     ValueError, r"texts\[0\] is empty \(or only spaces\)"),
    ("sentiment-one-string", lambda: sentiment.sentiment_zh("我非常喜欢这部电影"),
     TypeError, r"texts must be a list of str, got str; for one text pass \[text\]"),
    ("sentiment-not-a-string", lambda: sentiment.sentiment_zh(["好", 3]),
     TypeError, r"sentiment_zh: texts\[1\] must be a str, got int"),
    ("reference-gpt-language", lambda: artefacts.load_reference_gpt("fr"),
     ValueError, r"language must be one of \['en', 'zh'\], got 'fr'"),
    ("batches-pad-id-bool",
     lambda: batching.labelled_batches(ids(3, 2), ids(3), 2, pad_id=True),
     ValueError, r"labelled_batches: pad_id must be an int, got True"),
    ("diagram-box-role",
     lambda: viz_shapes.box(viz_shapes.canvas(1, 1)[1], 0, 0, 1, 1, "x", "blue"),
     ValueError, r"role must be one of \['attention', 'data'"),
    ("diagram-qkv-width", lambda: viz_diagrams.draw_qkv_projections(d_k=0),
     ValueError, r"draw_qkv_projections: d_k must be an int >= 1, got 0"),
    ("draw-schedule-warmup", lambda: viz_training.draw_schedule(warmup_steps=-5),
     ValueError, r"TrainConfig.warmup_steps must be an int >= 0, got -5"),
    ("draw-cross-attention-tokens",
     lambda: viz.draw_cross_attention(rand(2, 3), ["a", "b"], ["x", "y"]),
     ValueError, r"weights has shape \(2, 3\) but there are 2 query tokens and "
                 r"2 key tokens"),
    ("draw-query-str",
     lambda: viz.draw_query(torch.eye(2), ["a", "b"], query="a"),
     ValueError, r"draw_query: query must be a token index \(int\), got 'a'"),
    # ---------------------------------------------------------------- profiling
    ("time-call-repeat", lambda: profiling.time_call(lambda: None, repeat=0),
     ValueError, r"time_call: need repeat >= 1 and warmup >= 0, got repeat=0"),
    ("time-call-not-callable", lambda: profiling.time_call(5),
     ValueError, r"time_call: fn must be a function of no arguments, got 5"),
    ("peak-memory-device", lambda: profiling.peak_memory(lambda: None, "tpu"),
     ValueError, r"peak_memory: device must be 'cpu' or 'cuda', got 'tpu'"),
    ("peak-memory-not-callable", lambda: profiling.peak_memory(None),
     ValueError, r"peak_memory: fn must be a function of no arguments, got None"),
    ("attention-scaling-lengths", lambda: profiling.attention_scaling([0, 8]),
     ValueError, r"attention_scaling: lengths must be positive, got \[0, 8\]"),
    ("attention-scaling-heads", lambda: profiling.attention_scaling([8], heads=0),
     ValueError, r"attention_scaling: heads must be an int >= 1, got 0"),
    ("loglog-slope-one-point", lambda: profiling.loglog_slope([1], [1]),
     ValueError, r"loglog_slope: need two or more \(x, y\) pairs, got 1 and 1"),
    ("loglog-slope-negative", lambda: profiling.loglog_slope([1, -2], [1, 2]),
     ValueError, r"loglog_slope: every x and y must be > 0 .*xs=\[1, -2\]"),
    ("loglog-slope-same-x", lambda: profiling.loglog_slope([2, 2], [1, 2]),
     ValueError, r"loglog_slope: need two different x values, got xs=\[2, 2\]"),
    # ---------------------------------------------------------------- checkpoints
    ("checkpoint-paths-int", lambda: checkpoint_paths(5),
     ValueError, r"checkpoint_paths: path must be a str or Path, got 5"),
    ("save-checkpoint-model",
     lambda: in_tmp(lambda p: None, lambda p: save_checkpoint(p, "gpt")),
     ValueError, r"save_checkpoint: model must be a torch.nn.Module, got str"),
    ("save-checkpoint-step",
     lambda: in_tmp(lambda p: None, lambda p: save_checkpoint(p, gpt(), step=-1)),
     ValueError, r"save_checkpoint: step must be an int >= 0, got -1"),
    ("save-checkpoint-optimizer",
     lambda: in_tmp(lambda p: None,
                    lambda p: save_checkpoint(p, gpt(), optimizer="adam")),
     ValueError, r"save_checkpoint: optimizer must be a Optimizer or None, got str"),
    ("load-checkpoint-missing",
     lambda: in_tmp(lambda p: None, lambda p: load_checkpoint(p.with_name("none"))),
     CheckpointError, r"none\.json does not exist"),
    ("load-checkpoint-model-type",
     lambda: in_tmp(lambda p: None, lambda p: load_checkpoint(p, model="gpt")),
     ValueError, r"load_checkpoint: model must be a Module or None, got str"),
    ("read-checkpoint-missing",
     lambda: in_tmp(lambda p: None, course_lib.checkpoints.read_checkpoint),
     CheckpointError, r"thing\.json does not exist"),
    ("load-gpt-missing",
     lambda: in_tmp(lambda p: None, artefacts.load_gpt),
     CheckpointError, r"thing\.json does not exist"),
    # ---------------------------------------------------------------- distributed
    ("wrap-context", lambda: distributed.wrap(gpt(), {"rank": 0}),
     ValueError, r"wrap: context must be a distributed.Context .*got dict"),
    ("wrap-model", lambda: distributed.wrap("gpt", distributed.Context()),
     ValueError, r"wrap: model must be a torch.nn.Module, got str"),
    ("all-reduce-mean-float",
     lambda: distributed.all_reduce_mean(1.5, distributed.Context()),
     ValueError, r"all_reduce_mean: tensor must be a torch.Tensor, got "
                 r"<class 'float'>"),
    ("barrier-context", lambda: distributed.barrier(None),
     ValueError, r"barrier: context must be a distributed.Context .*got NoneType"),
    ("rank-batches-rank",
     lambda: batching.rank_batches(DATA, 4, 2, rank=2, world_size=2),
     ValueError, r"rank_batches: rank must be an int in \[0, world_size=2\), got 2"),
    ("setup-device", lambda: distributed.setup("tpu"),
     ValueError, r"setup: device must be a torch.device or a name like 'cpu' .*"
                 r"got 'tpu'"),
    ("setup-world-size-word",
     lambda: with_env({"WORLD_SIZE": "two"}, distributed.setup),
     ValueError, r"environment variable WORLD_SIZE='two' must be an int"),
    ("setup-torchrun-variables-missing",
     lambda: with_env({"WORLD_SIZE": "2"}, distributed.setup,
                      drop=("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")),
     ValueError, r"WORLD_SIZE=2 says this is one of several processes, but RANK, "
                 r"LOCAL_RANK, MASTER_ADDR, MASTER_PORT not set"),
    ("context-rank", lambda: distributed.Context(rank=2, world_size=2),
     ValueError, r"Context: need 0 <= rank < world_size, got rank=2, world_size=2"),
    ("context-world-size", lambda: distributed.Context(world_size=-1),
     ValueError, r"Context.world_size must be an int >= 0, got -1"),
    # ---------------------------------------------------------------- train_gpt
    ("train-gpt-threads",
     lambda: train_gpt.main(["--out", "unused", "--threads", "-1"]),
     ValueError, r"train_gpt: --threads must be >= 0, got -1"),
    ("train-gpt-warmup",
     lambda: train_gpt.main(["--out", "unused", "--warmup-steps", "-3"]),
     ValueError, r"TrainConfig.warmup_steps must be an int >= 0, got -3"),
]
# fmt: on


@pytest.mark.parametrize(
    "call, error, message",
    [row[1:] for row in BAD_CALLS],
    ids=[row[0] for row in BAD_CALLS],
)
def test_a_bad_call_raises_a_clear_error_from_the_course(call, error, message):
    with pytest.raises(Exception) as excinfo:
        call()
    raised = excinfo.value
    # exactly the class expected, or the course's own subclass of it
    assert type(raised) is error or (
        isinstance(raised, error) and type(raised).__module__.startswith("course_lib")
    ), f"expected {error.__name__}, got {type(raised).__name__}: {raised}"
    assert excinfo.match(message)
    last = Path(excinfo.traceback[-1].path).resolve()
    assert COURSE_LIB in last.parents, f"raised from {last}, not from course_lib"


def test_the_table_covers_every_public_module():
    """A module added to the table's list of modules needs at least one row."""
    modules = {m.name for m in pkgutil.iter_modules(course_lib.__path__)}
    modules -= {"exercises", "checks"}  # checkers; checks is what every row exercises
    covered = set()
    for _, call, _, _ in BAD_CALLS:
        for name in call.__code__.co_names:
            thing = globals().get(name)  # a function, a class or a module
            module = getattr(thing, "__module__", None) or getattr(
                thing, "__name__", ""
            )
            if module.startswith("course_lib."):
                covered.add(module.split(".")[1])
    assert modules <= covered, f"no bad call for {sorted(modules - covered)}"
    assert len(BAD_CALLS) >= 60
    assert len({row[0] for row in BAD_CALLS}) == len(BAD_CALLS)  # ids are unique


# ------------------------------------------- the checks leave good input as it was
def test_gpt_targets_of_minus_one_are_ignored_and_int32_targets_give_the_same_loss():
    idx = ids(2, 5)
    targets = ids(2, 5)
    targets[0, :2] = -1  # positions with nothing to predict
    logits, loss = gpt()(idx, targets)
    expected = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 11), targets.reshape(-1), ignore_index=-1
    )
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(gpt()(idx, targets.int())[1], expected)


def test_from_hf_gpt2_takes_a_bare_gpt2model_with_the_same_weights():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=11, n_positions=16, n_embd=8, n_layer=2, n_head=2)
    hf = GPT2LMHeadModel(config).eval()
    from_head, from_body = from_hf_gpt2(hf).eval(), from_hf_gpt2(hf.transformer)
    x = ids(2, 6)
    with torch.no_grad():
        reference = hf(x).logits
        torch.testing.assert_close(from_body.eval()(x)[0], reference)
        torch.testing.assert_close(from_head(x)[0], reference)


def test_next_token_probs_of_a_row_with_some_minus_inf_is_softmax():
    logits = torch.tensor([[1.0, NEG_INF, 0.5], [NEG_INF, NEG_INF, 2.0]])
    probs = next_token_probs(logits)
    torch.testing.assert_close(probs, torch.softmax(logits, dim=-1))
    assert probs[1].tolist() == [0.0, 0.0, 1.0]


def test_a_padding_mask_broadcasts_over_heads_and_queries_as_in_pytorch():
    q, k, v = rand(2, 3, 4, 8), rand(2, 3, 5, 8), rand(2, 3, 5, 8)  # (B, H, T|S, D)
    mask = padding_mask([5, 2], 5)  # (B, 1, 1, S)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    reference = torch.nn.functional.scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, reference)
    shared_kv, _ = scaled_dot_product_attention(q, k[:1], v[:1])  # B broadcasts
    reference = torch.nn.functional.scaled_dot_product_attention(
        q, k[:1].expand_as(k), v[:1].expand_as(v)
    )
    torch.testing.assert_close(shared_kv, reference)


def test_lr_at_accepts_every_step_of_a_run_and_ends_at_min_lr():
    config = TrainConfig(max_steps=50, warmup_steps=0, lr=1e-3, min_lr=1e-4)
    rates = [lr_at(step, config) for step in range(60)]
    assert rates[0] == pytest.approx(1e-3)
    assert rates[50:] == [1e-4] * 10
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))
