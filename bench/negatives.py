"""The fused word2vec kernel with negatives drawn per pair (word2vec.c) or per centre (shared).

    PYTHONPATH=$PWD .venv/bin/python bench/negatives.py --corpus gutenberg-25m \
        --words 2000000 --runs 5

One process, one core (``sgns_train`` with one work-item, the OpenCL backend), the job's
hyperparameters (dim 100, window 5, negative 5, sample 1e-3, min_count 5) on the first
``--words`` tokens of the corpus, in rounds of 50,000 tokens as a partition trains them.
The two modes alternate within each run; prints words/s per run, the medians, their ratio,
and the ``syn1neg`` rows a round changes (what a round exchanges, before deferral).
"""

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.word2vec import prepare_corpus  # noqa: E402
from sparknn.backend import OpenCLBackend, SGNSRun  # noqa: E402
from sparknn.word2vec import Tables, build_vocabulary, encode_lines, init_vectors  # noqa: E402

ROUND_WORDS = 50_000
CORPORA = ("wikitext-2", "gutenberg-25m")


def corpus_vocabulary(corpus: str, workdir: str):
    """The prepared corpus's lines and the job's vocabulary of them (min_count 5)."""
    path, _ = prepare_corpus(corpus, Path(workdir))
    lines = path.read_text().splitlines()
    return lines, build_vocabulary(Counter(t for line in lines for t in line.split()), 5)


def first_tokens(lines, vocab, words: int):
    """The first ``words`` tokens of ``lines``, encoded: ``(tokens, sentence_starts)``."""
    tokens, starts = encode_lines(lines, vocab, str.split)
    return tokens[:words], starts[starts < words]


def round_inputs(tokens, starts, lo: int):
    """The round of ``ROUND_WORDS`` tokens from ``lo``, as ``sgns_train`` takes it:
    ``(its tokens, their sentence starts, (alpha at lo, alpha at its end))``, the learning
    rate decaying from 0.025 over ``tokens``."""
    hi = min(lo + ROUND_WORDS, len(tokens))
    first, last = np.searchsorted(starts, (lo, hi))
    round_starts = np.unique(np.concatenate([[lo], starts[first:last]])) - lo
    alphas = 0.025 * (1 - lo / len(tokens)), 0.025 * (1 - hi / len(tokens))
    return tokens[lo:hi], round_starts, alphas


def train_slice(backend, tokens, starts, tables, vocab_size, shared: bool):
    """Train rounds over ``tokens`` from a fresh model: ``(words/s, syn1neg rows per round)``."""
    syn0, syn1neg = init_vectors(vocab_size, 100, seed=1)
    seconds, rows = 0.0, []
    for lo in range(0, len(tokens), ROUND_WORDS):
        round_tokens, round_starts, alphas = round_inputs(tokens, starts, lo)
        counts0 = np.zeros(vocab_size, np.int32)
        counts1 = np.zeros(vocab_size, np.int32)
        run = SGNSRun(
            tables.keep_prob, tables.negatives, 5, 5, *alphas, 1 + lo, shared_negatives=shared
        )
        began = time.perf_counter()
        backend.sgns_train(syn0, syn1neg, round_tokens, round_starts, run, counts0, counts1)
        seconds += time.perf_counter() - began
        rows.append(np.count_nonzero(counts1))
    return len(tokens) / seconds, float(np.mean(rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="gutenberg-25m", choices=CORPORA)
    parser.add_argument("--words", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", default="/tmp/sparknn-w2v")
    args = parser.parse_args()
    lines, vocab = corpus_vocabulary(args.corpus, args.workdir)
    tokens, starts = first_tokens(lines, vocab, args.words)
    tables = Tables.build(vocab, 1e-3)
    backend = OpenCLBackend()
    train_slice(backend, tokens[:ROUND_WORDS], starts[:1], tables, len(vocab), True)  # compile
    train_slice(backend, tokens[:ROUND_WORDS], starts[:1], tables, len(vocab), False)
    print(f"{args.corpus}: {len(tokens):,} tokens, {len(vocab):,} words", flush=True)
    rates = {False: [], True: []}
    for run in range(args.runs):
        for shared in (False, True):
            rate, rows = train_slice(backend, tokens, starts, tables, len(vocab), shared)
            rates[shared].append(rate)
            name = "shared   " if shared else "per pair "
            print(f"run {run + 1}: {name} {rate:>10,.0f} words/s, syn1neg rows/round {rows:,.0f}",
                  flush=True)  # fmt: skip
    per_pair, shared = np.median(rates[False]), np.median(rates[True])
    ratios = ", ".join(f"{s / p:.2f}" for p, s in zip(rates[False], rates[True], strict=True))
    print(f"medians: per pair {per_pair:,.0f}, shared {shared:,.0f} words/s: "
          f"{shared / per_pair:.2f}x (per run {ratios})")  # fmt: skip


if __name__ == "__main__":
    main()
