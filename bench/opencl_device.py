"""word2vec's fused OpenCL kernel on one device (a GPU where there is one) against gensim on
the same machine, in the same run.

    PYTHONPATH=. python bench/opencl_device.py [--workers default,132,4096]
        [--epochs 1] [--repeats 3] [--gensim-workers 2,16] [--scheme-partitions 1,2]
        [--corpus wiki.train.tokens.xz]

Skip-gram NS (dim 100, window 5, negative 5, sample 1e-3, min_count 5, alpha 0.025 decaying
linearly to 0.0001) over WikiText-2's training set: ``SGNSKernels.sgns_train``, the kernel the
word2vec job runs for each round, called once per epoch with ``workers`` Hogwild
work-items (each a contiguous group of whole sentences, word2vec.c's loop; ``default``: the
backend's choice, 4 per compute unit on a GPU); the job's whole training scheme in one
process (``train_local``: rounds, a kernel call per round, merges) with P partitions; and
gensim's ``Word2Vec(sg=1)`` with the same hyperparameters. words/s count every corpus word,
as gensim's do. Each contender's vectors are scored (gensim's questions-words with
restrict_vocab=30000, WordSim-353 Spearman); the figures are medians of ``--repeats`` runs
(a different seed each), contenders alternating within each repeat.
"""

import argparse
import lzma
import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np

from sparknn.backend import SGNSRun
from sparknn.word2vec import build_vocabulary, encode_lines, negative_table, split_lines

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared/data/wikitext-2/wiki.train.tokens.xz"
W2V = {"vector_size": 100, "window": 5, "negative": 5, "sample": 1e-3, "min_count": 5}
ALPHA, MIN_ALPHA = 0.025, 0.0001


def load_sentences(path):
    """Whitespace-tokenised, lower-cased lines; blank lines and section headings dropped."""
    with lzma.open(path, "rt", encoding="utf-8") as handle:
        lines = (line.lower().split() for line in handle)
        return [words for words in lines if words and words[0] != "="]


def train_kernel(backend, corpus, workers, epochs, seed):
    """Seconds spent in sgns_train over ``epochs`` epochs, and the trained syn0."""
    vocab, tokens, starts, keep_prob, table = corpus
    rng = np.random.default_rng(seed)
    dim = W2V["vector_size"]
    syn0 = ((rng.random((len(vocab), dim), dtype=np.float32) - 0.5) / dim).astype(np.float32)
    syn1neg = np.zeros_like(syn0)
    counts0 = np.zeros(len(vocab), np.int32)
    counts1 = np.zeros(len(vocab), np.int32)
    seconds = 0.0
    for epoch in range(epochs):
        alpha_start = ALPHA - (ALPHA - MIN_ALPHA) * epoch / epochs
        alpha_end = ALPHA - (ALPHA - MIN_ALPHA) * (epoch + 1) / epochs
        run = SGNSRun(
            keep_prob, table, W2V["window"], W2V["negative"], alpha_start, alpha_end,
            int(rng.integers(0, 2**63)), workers,
        )  # fmt: skip
        began = time.perf_counter()
        backend.sgns_train(syn0, syn1neg, tokens, starts, run, counts0, counts1)
        seconds += time.perf_counter() - began
    return seconds, syn0


def train_scheme(lines, vocab, partitions, epochs, seed):
    """The word2vec job's whole scheme (rounds, merges) in one process (``train_local``)
    with the OpenCL backend: seconds of training and syn0."""
    from sparknn.word2vec import Settings, train_local

    parts = [encode_lines(part, vocab, str.split) for part in split_lines(lines, partitions)]
    settings = Settings(backend="opencl", epochs=epochs, seed=seed, alpha=ALPHA,
                        min_alpha=MIN_ALPHA, **{k: W2V[k] for k in ("window", "negative",
                                                                    "sample")})  # fmt: skip
    began = time.perf_counter()
    result = train_local(vocab, parts, settings)
    return time.perf_counter() - began, result.vectors


def train_gensim(sentences, workers, epochs, seed):
    from gensim.models import Word2Vec

    model = Word2Vec(vector_size=W2V["vector_size"], window=W2V["window"],
                     negative=W2V["negative"], sample=W2V["sample"],
                     min_count=W2V["min_count"], sg=1, hs=0, workers=workers, seed=seed,
                     alpha=ALPHA, min_alpha=MIN_ALPHA)  # fmt: skip
    model.build_vocab(sentences)
    began = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=epochs)
    return time.perf_counter() - began, model.wv


def quality(words, vectors):
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    if not isinstance(vectors, KeyedVectors):
        kv = KeyedVectors(vectors.shape[1])
        kv.add_vectors(list(words), vectors)
        vectors = kv
    accuracy, _ = vectors.evaluate_word_analogies(
        datapath("questions-words.txt"), restrict_vocab=30000
    )
    _, spearman, _ = vectors.evaluate_word_pairs(datapath("wordsim353.tsv"))
    return accuracy, float(spearman[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--device", help="OpenCL device (index or name); default: first GPU")
    parser.add_argument("--workers", default="default,132,4096")
    parser.add_argument("--gensim-workers", default="2,16")
    parser.add_argument(
        "--scheme-partitions",
        default="1,2",
        help="partition counts to run the job's scheme with (train_local)",
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from sparknn.backend import OpenCLBackend, set_backend

    backend = OpenCLBackend(args.device)
    set_backend("opencl", backend)  # the job scheme's get_backend("opencl")
    sentences = load_sentences(args.corpus)
    n_words = sum(len(s) for s in sentences)
    lines = [" ".join(s) for s in sentences]
    vocab = build_vocabulary(Counter(w for s in sentences for w in s), W2V["min_count"])
    tokens, starts = encode_lines(lines, vocab, str.split)
    corpus = (vocab, tokens, starts, vocab.keep_probabilities(W2V["sample"]),
              negative_table(vocab.counts))  # fmt: skip
    print(f"device: {backend.device_name}; corpus {args.corpus.name}: {n_words} words, "
          f"{len(tokens)} in vocabulary ({len(vocab)} words), {len(sentences)} lines; "
          f"{args.epochs} epoch(s), median of {args.repeats}")  # fmt: skip

    contenders = {}
    kernel_workers = [None if x == "default" else int(x) for x in args.workers.split(",") if x]
    for w in kernel_workers:
        contenders[f"opencl workers={w or 'default'}"] = lambda seed, w=w: train_kernel(
            backend, corpus, w, args.epochs, seed
        )
    for p in (int(x) for x in args.scheme_partitions.split(",") if x):
        contenders[f"job scheme P={p}"] = lambda seed, p=p: train_scheme(
            lines, vocab, p, args.epochs, seed
        )
    for w in (int(x) for x in args.gensim_workers.split(",") if x):
        contenders[f"gensim workers={w}"] = lambda seed, w=w: train_gensim(
            sentences, w, args.epochs, seed
        )
    warm_up = (vocab, tokens[:1000], starts[starts < 1000], *corpus[3:])
    for w in {*kernel_workers, None}:  # each kernel variant built outside the timings
        train_kernel(backend, warm_up, w, 1, 0)  # (None: the default, as the job scheme's)
    figures = {name: [] for name in contenders}
    for repeat in range(args.repeats):
        for name, run in contenders.items():
            seconds, vectors = run(repeat + 1)
            accuracy, spearman = quality(vocab.words, vectors)
            figures[name].append((seconds, accuracy, spearman))
            print(f"  run {repeat + 1} {name:>22}: {n_words * args.epochs / seconds:>12,.0f} "
                  f"words/s  {seconds:7.2f} s  analogy {accuracy:.4f}  spearman {spearman:.4f}",
                  flush=True)  # fmt: skip
    print(f"\n{'':>22}  {'words/s':>12}  {'seconds':>8}  {'analogy':>8}  {'spearman':>8}")
    for name, runs in figures.items():
        seconds = statistics.median(r[0] for r in runs)
        print(f"{name:>22}  {n_words * args.epochs / seconds:>12,.0f}  {seconds:8.2f}  "
              f"{statistics.median(r[1] for r in runs):8.4f}  "
              f"{statistics.median(r[2] for r in runs):8.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
