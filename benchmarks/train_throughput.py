"""Training throughput of the course's GPT on nanoGPT's CPU recipe shape.

    python benchmarks/train_throughput.py --iters 200
    python benchmarks/train_throughput.py --target-val-loss 1.886

Shape: n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, dropout=0,
AdamW lr 1e-3, on a character corpus (``--text-file``, default the built-in one).
Prints ms/iter, tokens/s and the final train/val losses; the last line is one JSON
object. With ``--target-val-loss`` it trains with our own recipe (warmup + cosine,
higher peak lr) at the same model size, evaluating every ``--eval-interval`` steps,
and reports the wall time to reach the target (evaluation time included).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from course_lib.data import load_corpus, train_val_split
from course_lib.models import GPT, GPTConfig
from course_lib.tokenizers import CharTokenizer
from course_lib.training import (
    TrainConfig,
    batch_source,
    configure_optimizer,
    evaluate,
    lr_at,
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--text-file", default="pydocs")
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--threads", type=int, default=0, help="0: torch's default")
    p.add_argument("--target-val-loss", type=float, default=None)
    p.add_argument("--max-iters", type=int, default=5000, help="cap for the target")
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-steps", type=int, default=20, help="val batches per eval")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    text = load_corpus(args.text_file).text
    tok = CharTokenizer.from_text(text)
    data = torch.tensor(tok.encode(text), dtype=torch.long)
    train_data, val_data = train_val_split(data, 0.1)
    shape = GPTConfig(
        vocab_size=tok.vocab_size,
        block_size=64,
        n_layer=4,
        n_head=4,
        n_embd=128,
        dropout=0.0,
    )
    torch.manual_seed(1337)
    model = GPT(shape)
    if args.target_val_loss is None:  # nanoGPT's recipe: constant lr 1e-3
        steps = args.iters
        config = TrainConfig(
            max_steps=steps,
            batch_size=12,
            block_size=64,
            lr=1e-3,
            min_lr=1e-3,
            warmup_steps=0,
            weight_decay=0.1,
            betas=(0.9, 0.99),
            grad_clip=1.0,
            eval_steps=args.eval_steps,
            progress=False,
        )
    else:  # our recipe at the same model size
        steps = args.max_iters
        config = TrainConfig(
            max_steps=steps,
            batch_size=12,
            block_size=64,
            lr=3e-3,
            min_lr=3e-4,
            warmup_steps=100,
            decay_steps=2000,
            weight_decay=0.1,
            betas=(0.9, 0.99),
            grad_clip=1.0,
            eval_steps=args.eval_steps,
            progress=False,
        )
    batch_fn = batch_source(train_data, config)
    opt = configure_optimizer(model, config)
    gen = torch.Generator().manual_seed(config.seed)
    params = list(model.parameters())
    model.train()
    reached, t_train, t0 = None, 0.0, time.perf_counter()
    for step in range(steps):
        t = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, config)
        x, y = batch_fn(gen)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        opt.step()
        t_train += time.perf_counter() - t
        if args.target_val_loss is not None and (step + 1) % args.eval_interval == 0:
            val = evaluate(model, val_data, config)
            if val <= args.target_val_loss:
                reached = {
                    "step": step + 1,
                    "val_loss": round(val, 4),
                    "wall_s": round(time.perf_counter() - t0, 1),
                }
                steps = step + 1
                break
    train_loss = evaluate(model, train_data, config)
    val_loss = evaluate(model, val_data, config)
    ms = 1000 * t_train / steps
    result = {
        "iters": steps,
        "ms_per_iter": round(ms, 2),
        "tokens_per_s": round(12 * 64 / (ms / 1000)),
        "train_loss": round(train_loss, 4),
        "val_loss": round(val_loss, 4),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if args.target_val_loss is not None:
        result["target_val_loss"] = args.target_val_loss
        result["reached"] = reached
    print(
        f"{ms:.1f} ms/iter, {result['tokens_per_s']} tokens/s, "
        f"train {train_loss:.4f} val {val_loss:.4f}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
