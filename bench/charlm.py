"""char-LSTM on Spark: steps/s with 1 vs 2 workers, and validation loss vs PyTorch.

Corpus: Joyce's *Dubliners* + *Ulysses* (``../shared/data/gutenberg-books``, Gutenberg headers
stripped). Model: Embedding(V, 32) -> LSTM(256) -> Dense(V, softmax), Nadam(lr 0.002,
clipnorm 5), seq_len 100, global batch 256, float32.

* Scaling: the same steps with 1 partition (one executor core) and 2 partitions (two), on
  ``local-cluster[2,1,2048]``, interleaved, median steps/s over several rounds.
* Quality: validation loss (nats/char, the same validation windows) after the same number of
  steps over the same batches, sparknn on 2 workers vs a single-process PyTorch model of the
  same shape and optimizer (``nn.Embedding + nn.LSTM + nn.Linear``, ``torch.optim.NAdam``),
  started from sparknn's initial weights so that only training differs; torch with its own
  default initialisation is printed too (it starts from different weights, e.g. N(0, 1)
  embeddings, so early in training it is a different run, not a check of ours).

Run: ``PYTHONPATH=. python bench/charlm.py [--scaling-steps 8 --rounds 3 --quality-steps 300]``
(``--skip-scaling``: only the quality comparison).
"""

import argparse
import lzma
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from sparknn import session
from sparknn.charlm import CharLMReplica, build_charlm
from sparknn.corpus import build_corpus, gather_examples, read_text
from sparknn.distributed import BatchSchedule, SparkGradients, fit

REPO = Path(__file__).resolve().parents[1]
# ../shared/data from the repo root; worktrees one level deeper find it at /work/shared/data.
BOOK_DIRS = [REPO.parent / "shared/data/gutenberg-books", Path("/work/shared/data/gutenberg-books")]
HIDDEN, EMBEDDING, LR, CLIP, SEQ_LEN, BATCH, SEED = 256, 32, 0.002, 5.0, 100, 256, 0


def decompress_books(folder: Path, books: Path) -> list[str]:
    paths = []
    for name in ("dubliners_pg2814.txt.xz", "ulysses_pg4300.txt.xz"):
        target = folder / name.removesuffix(".xz")
        target.write_bytes(lzma.decompress((books / name).read_bytes()))
        paths.append(str(target))
    return paths


def spark_run(spark, corpus, schedule, steps, start=0, model=None):
    """Train ``steps`` steps on Spark; return the model and per-step wall times."""
    model = model or build_model(len(corpus.vocab))
    replica = CharLMReplica.factory(model.get_config(), "numpy")
    source = SparkGradients(spark, corpus.shards, replica, model.params.size, model.dtype)
    times = []
    try:
        fit(model, source, schedule, start + steps, start, on_step=lambda s: times.append(s))
        val = None
        if len(corpus.val_windows):
            loss, n = source.evaluate(corpus.val_windows, model.params, version=start + steps)
            val = loss / n
    finally:
        source.close()
    return model, times, val


def build_model(vocab_size):
    return build_charlm(
        vocab_size, hidden=HIDDEN, embedding_dim=EMBEDDING, lr=LR, clipnorm=CLIP, seed=SEED
    )


def copy_weights_to_torch(model, net) -> None:
    """Start torch from sparknn's initial weights (same gate order i, f, c/g, o)."""
    import torch

    embedding, lstm, dense = (layer.params for layer in model.layers)
    with torch.no_grad():
        net.embed.weight.copy_(torch.from_numpy(embedding["embeddings"]))
        net.lstm.weight_ih_l0.copy_(torch.from_numpy(lstm["kernel"].T.copy()))
        net.lstm.weight_hh_l0.copy_(torch.from_numpy(lstm["recurrent_kernel"].T.copy()))
        net.lstm.bias_ih_l0.copy_(torch.from_numpy(lstm["bias"]))
        net.lstm.bias_hh_l0.zero_()
        net.out.weight.copy_(torch.from_numpy(dense["kernel"].T.copy()))
        net.out.bias.copy_(torch.from_numpy(dense["bias"]))


def torch_run(corpus, schedule, steps, shards, initial=None):
    """Train torch over the same batches; ``initial``: a sparknn model to copy weights from."""
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    V = len(corpus.vocab)

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, EMBEDDING)
            self.lstm = nn.LSTM(EMBEDDING, HIDDEN, batch_first=True)
            self.out = nn.Linear(HIDDEN, V)

        def forward(self, x):
            return self.out(self.lstm(self.embed(x))[0])

    model = CharLSTM()
    if initial is not None:
        copy_weights_to_torch(initial, model)
    optimizer = torch.optim.NAdam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for step in range(steps):
        x, y = gather_examples(shards, schedule.batch(step))
        optimizer.zero_grad()
        logits = model(torch.from_numpy(x.astype(np.int64)))
        loss = loss_fn(logits.reshape(-1, V), torch.from_numpy(y.astype(np.int64)).reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        total, n = 0.0, 0
        for i in range(0, len(corpus.val_windows), 128):
            x, y = gather_examples(shards, corpus.val_windows[i : i + 128])
            logits = model(torch.from_numpy(x.astype(np.int64)))
            y = torch.from_numpy(y.astype(np.int64)).reshape(-1)
            total += float(loss_fn(logits.reshape(-1, V), y)) * len(x)
            n += len(x)
    return total / n, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", default="local-cluster[2,1,2048]")
    parser.add_argument("--scaling-steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quality-steps", type=int, default=300)
    parser.add_argument("--val-windows", type=int, default=512)
    parser.add_argument("--skip-scaling", action="store_true", help="only the quality run")
    default_books = next((d for d in BOOK_DIRS if d.is_dir()), BOOK_DIRS[0])
    parser.add_argument("--books", type=Path, default=default_books)
    args = parser.parse_args()

    spark = session(args.master, app_name="bench-charlm")
    folder = Path(tempfile.mkdtemp(prefix="bench-charlm-"))
    lines = read_text(spark, decompress_books(folder, args.books), strip_gutenberg_headers=True)
    corpora = {
        workers: build_corpus(lines, seq_len=SEQ_LEN, partitions=workers, min_char_count=2)
        for workers in (1, 2)
    }
    for corpus in corpora.values():
        corpus.val_windows = corpus.val_windows[: args.val_windows]
    base = corpora[2]
    schedule = BatchSchedule(base.train_windows, BATCH, SEED)
    print(
        f"corpus: {base.n_chars} chars, vocab {len(base.vocab)}, {len(base.train_windows)} train "
        f"windows ({schedule.steps_per_epoch} steps/epoch), {len(base.val_windows)} val windows"
    )

    rates = {1: [], 2: []}
    for _ in range(0 if args.skip_scaling else args.rounds):
        for workers in (1, 2):
            _, times, _ = spark_run(spark, corpora[workers], schedule, args.scaling_steps)
            steady = [s.seconds for s in times[1:]]  # step 1 includes launching the stage
            rates[workers].append(1.0 / statistics.median(steady))
            compute = statistics.median(s.compute_seconds for s in times[1:])
            framework = statistics.median(s.framework_seconds for s in times[1:])
            print(
                f"  {workers} worker(s): {rates[workers][-1]:.3f} steps/s "
                f"(compute {compute * 1e3:.0f} ms, framework {framework * 1e3:.1f} ms per step)",
                flush=True,
            )
    if not args.skip_scaling:
        one, two = statistics.median(rates[1]), statistics.median(rates[2])
        print(f"steps/s: 1 worker {one:.3f}, 2 workers {two:.3f}, scaling {two / one:.2f}x")

    initial = build_model(len(base.vocab))  # the same seed: spark_run starts from these weights
    _, times, val = spark_run(spark, base, schedule, args.quality_steps)
    ours_seconds = sum(s.seconds for s in times)
    shards = base.shards.collect()
    steps = args.quality_steps
    same_init, same_init_s = torch_run(base, schedule, steps, shards, initial=initial)
    own_init, own_init_s = torch_run(base, schedule, steps, shards)
    print(
        f"val loss after {steps} steps (nats/char):\n"
        f"  sparknn, 2 workers:                       {val:.4f} ({ours_seconds:.0f} s)\n"
        f"  torch, 1 process, sparknn's initial weights: {same_init:.4f} ({same_init_s:.0f} s)"
        f"  sparknn/torch {val / same_init:.3f}\n"
        f"  torch, 1 process, torch's default init:   {own_init:.4f} ({own_init_s:.0f} s)"
        f"  sparknn/torch {val / own_init:.3f}"
    )
    spark.stop()


if __name__ == "__main__":
    main()
