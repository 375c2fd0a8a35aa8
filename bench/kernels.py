"""Kernel benchmarks, side by side in one run: OpenCL backend vs numpy, and SGNS vs gensim.

    PYTHONPATH=. python bench/kernels.py [--repeats 5] [--words 1000000]

* GEMM GFLOP/s at 256, 1024, 2048: OpenCL (the whole ``backend.gemm`` call, packing
  included) vs numpy single-thread (OpenBLAS pinned to one thread).
* LSTM step time: the cell op (forward + backward) and a full forward+backward timestep
  (input and recurrent GEMMs, cell, and the three backward GEMMs).
* Skip-gram negative sampling (window 5, negative 5, dim 100, sample 1e-3) on the first
  ``--words`` in-vocabulary words of wikitext-2: pairs/s and words/s of the OpenCL and numpy
  backends' ``sgns_update`` vs gensim's compiled ``Word2Vec`` (workers=1 and 2) training one
  epoch on the same sentences; "per core" divides by the cores used.

OpenCL uses every PoCL thread (one per core); the same OpenCL figures on one core come from
a child process started with POCL_MAX_PTHREAD_COUNT=1. Every figure is the median of
``--repeats`` runs; ratios compare figures measured in this same run.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # numpy single-thread: the anchor is one core of BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import lzma  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from sparknn.backend import NumpyBackend, OpenCLBackend  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WIKITEXT = next(
    (
        p / "shared/data/wikitext-2/wiki.train.tokens.xz"
        for p in REPO.parents
        if (p / "shared/data/wikitext-2/wiki.train.tokens.xz").exists()
    ),
    REPO.parent / "shared/data/wikitext-2/wiki.train.tokens.xz",
)  # fmt: skip  (../shared/data from a clone, ../../shared/data from a worktree)
GEMM_SIZES = (256, 1024, 2048)
LSTM_SHAPES = ((32, 128, 128), (64, 256, 256))  # (batch, input dim, hidden)
W2V = {"vector_size": 100, "window": 5, "negative": 5, "sample": 1e-3, "min_count": 5}


def median_seconds(fns, repeats, inner=1):
    """Median seconds per call of each function; the contenders alternate within every
    repeat, so a burst of load on this shared machine hits all of them alike."""
    for fn in fns:
        fn()  # warm-up: compiles kernels, allocates staging buffers
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, record in zip(fns, times, strict=True):
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            record.append((time.perf_counter() - start) / inner)
    return [statistics.median(t) for t in times]


# -- GEMM ---------------------------------------------------------------------------------
def bench_gemm(ocl, ref, repeats):
    rows = []
    rng = np.random.default_rng(0)
    for n in GEMM_SIZES:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        flops = 2.0 * n**3
        inner = max(1, int(2e9 // flops))
        t_ocl, t_np = median_seconds(
            [lambda a=a, b=b: ocl.gemm(a, b), lambda a=a, b=b: ref.gemm(a, b)], repeats, inner
        )
        rows.append(
            {"n": n, "opencl_gflops": flops / t_ocl / 1e9, "numpy_gflops": flops / t_np / 1e9}
        )
    return rows


# -- LSTM ---------------------------------------------------------------------------------
def lstm_cell(be, z, c, dh, dc, c_new, gates):
    be.lstm_cell_forward(z, c)
    be.lstm_cell_backward(dh, dc, c, c_new, gates)


def lstm_step(be, x, h, c, W, U, dW, dU, dh, dc):
    z = be.gemm(x, W)
    be.gemm(h, U, out=z, accumulate=True)
    h_new, c_new, gates = be.lstm_cell_forward(z, c)
    dz, dc_prev = be.lstm_cell_backward(dh, dc, c, c_new, gates)
    be.gemm(dz, U, trans_b=True)  # dh for step t-1
    be.gemm(h, dz, trans_a=True, out=dU, accumulate=True)
    be.gemm(x, dz, trans_a=True, out=dW, accumulate=True)
    return h_new, c_new


def bench_lstm(ocl, ref, repeats):
    rows = []
    rng = np.random.default_rng(1)
    for B, D, H in LSTM_SHAPES:
        x = rng.standard_normal((B, D), dtype=np.float32)
        h, c, dh, dc = (rng.standard_normal((B, H), dtype=np.float32) for _ in range(4))
        W = rng.standard_normal((D, 4 * H), dtype=np.float32) * 0.1
        U = rng.standard_normal((H, 4 * H), dtype=np.float32) * 0.1
        z = rng.standard_normal((B, 4 * H), dtype=np.float32)
        _, c_new, gates = ref.lstm_cell_forward(z, c)
        dW, dU = np.zeros_like(W), np.zeros_like(U)
        cell_args = (z, c, dh, dc, c_new, gates)
        step_args = (x, h, c, W, U, dW, dU, dh, dc)
        cells = median_seconds([partial(lstm_cell, be, *cell_args) for be in (ocl, ref)],
                               repeats, 50)  # fmt: skip
        steps = median_seconds([partial(lstm_step, be, *step_args) for be in (ocl, ref)],
                               repeats, 20)  # fmt: skip
        row = {"batch": B, "input": D, "hidden": H}
        for be, t_cell, t_step in zip((ocl, ref), cells, steps, strict=True):
            row[f"{be.name}_cell_us"] = t_cell * 1e6
            row[f"{be.name}_step_us"] = t_step * 1e6
        rows.append(row)
    return rows


# -- skip-gram ----------------------------------------------------------------------------
def load_sentences(max_words):
    """Whitespace-tokenised, lower-cased wikitext-2 lines, the first ``max_words`` tokens."""
    sentences, total = [], 0
    with lzma.open(WIKITEXT, "rt", encoding="utf-8") as handle:
        for line in handle:
            words = line.lower().split()
            if not words or words[0] == "=":
                continue  # blank lines and section headings
            sentences.append(words)
            total += len(words)
            if total >= max_words:
                break
    return sentences


def skipgram_batches(sentences, seed=0):
    """sparknn's own pair generation (word2vec.c semantics), in 10k-token chunks."""
    from sparknn.word2vec import (
        build_vocabulary,
        draw_negatives,
        encode_lines,
        negative_table,
        skipgram_pairs,
        subsample,
    )

    counts = Counter(w for s in sentences for w in s)
    vocab = build_vocabulary(counts, min_count=W2V["min_count"])
    tokens, starts = encode_lines([" ".join(s) for s in sentences], vocab, str.split)
    sentence_ids = np.searchsorted(starts, np.arange(len(tokens)), side="right")
    keep_prob = vocab.keep_probabilities(W2V["sample"])
    table = negative_table(vocab.counts)
    rng = np.random.default_rng(seed)
    batches, kept = [], 0
    for lo in range(0, len(tokens), 10_000):
        chunk, ids = subsample(tokens[lo : lo + 10_000], sentence_ids[lo : lo + 10_000],
                               keep_prob, rng)  # fmt: skip
        kept += len(chunk)
        inputs, outputs, _ = skipgram_pairs(chunk, ids, W2V["window"], rng)
        negatives = draw_negatives(table, len(inputs), W2V["negative"], rng)
        batches.append((inputs, outputs, negatives, np.full(len(inputs), 0.025, np.float32)))
    return len(vocab), len(tokens), kept, batches


def sgns_pass(backend, vocab_size, batches, seed=0):
    rng = np.random.default_rng(seed)
    dim = W2V["vector_size"]
    syn0 = (rng.random((vocab_size, dim), dtype=np.float32) - 0.5) / dim
    syn1neg = np.zeros((vocab_size, dim), np.float32)
    start = time.perf_counter()
    for batch in batches:
        backend.sgns_update(syn0, syn1neg, *batch)
    return time.perf_counter() - start


def gensim_pass(sentences, workers, seed):
    from gensim.models import Word2Vec

    model = Word2Vec(vector_size=W2V["vector_size"], window=W2V["window"],
                     negative=W2V["negative"], sample=W2V["sample"],
                     min_count=W2V["min_count"], sg=1, hs=0, workers=workers,
                     seed=seed)  # fmt: skip
    model.build_vocab(sentences)
    start = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=1)
    return time.perf_counter() - start


def bench_sgns(ocl, ref, repeats, max_words, gensim_workers=(1, 2), with_numpy=True):
    """words/s count every corpus word (as gensim's raw words), OOV and subsampled included."""
    sentences = load_sentences(max_words)
    words = sum(len(s) for s in sentences)
    t0 = time.perf_counter()
    vocab_size, _, kept, batches = skipgram_batches(sentences)
    pairgen_s = time.perf_counter() - t0
    pairs = sum(len(b[0]) for b in batches)
    # the numpy backend is ~10x slower: it runs on a tenth of the batches
    part = batches[: max(1, len(batches) // 10)]
    part_pairs = sum(len(b[0]) for b in part)
    contenders = {"opencl": (lambda: sgns_pass(ocl, vocab_size, batches), pairs)}
    if with_numpy:
        contenders["numpy"] = (lambda: sgns_pass(ref, vocab_size, part), part_pairs)
    if gensim_workers:
        from gensim.models.word2vec_inner import FAST_VERSION

        assert FAST_VERSION >= 0, "gensim's compiled routines are missing"
        for workers in gensim_workers:
            seeds = iter(range(1, 1000))
            contenders[f"gensim{workers}"] = (
                lambda w=workers, seeds=seeds: gensim_pass(sentences, w, next(seeds)),
                pairs,
            )
    sgns_pass(ocl, vocab_size, batches[:2])  # compile
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, (run, _) in contenders.items():
            times[name].append(run())
    result = {"words": words, "kept_words": kept, "pairs": pairs, "vocab": vocab_size,
              "pairgen_seconds": pairgen_s}  # fmt: skip
    for name, (_, n_pairs) in contenders.items():
        pairs_s = n_pairs / statistics.median(times[name])
        result[f"{name}_pairs_s"] = pairs_s
        result[f"{name}_words_s"] = pairs_s * words / pairs
    return result


def fmt(value):
    if isinstance(value, float):
        return f"{value:.2f}" if value < 10 else f"{value:.0f}"
    return str(value)


def table(headers, rows):
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    for row in [headers, *cells]:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


# -- driver -------------------------------------------------------------------------------
def single_core_child(args):
    """Re-run the OpenCL GEMM and SGNS figures with PoCL limited to one thread."""
    env = dict(os.environ, POCL_MAX_PTHREAD_COUNT="1", PYTHONPATH=str(REPO))
    command = [sys.executable, __file__, "--child", "--repeats", str(args.repeats),
               "--words", str(args.words)]  # fmt: skip
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    ocl, ref = OpenCLBackend(), NumpyBackend()

    if args.child:  # one core: OpenCL on one PoCL thread against numpy and gensim workers=1
        gemm = bench_gemm(ocl, ref, args.repeats)
        sgns = bench_sgns(ocl, ref, args.repeats, args.words, gensim_workers=(1,))
        print(json.dumps({"gemm": gemm, "sgns": sgns}))
        return 0

    print(f"device: {ocl.device_name}; numpy BLAS pinned to 1 thread; median of {args.repeats}")
    print("1T figures: a child process with POCL_MAX_PTHREAD_COUNT=1, its own numpy anchor")
    one_core = single_core_child(args)
    figures = {"one_core": one_core, "gemm": bench_gemm(ocl, ref, args.repeats)}
    print("\nGEMM (n x n times n x n), GFLOP/s")
    table(
        ["n", "numpy 1T", "OpenCL 2T", "ratio", "numpy 1T", "OpenCL 1T", "ratio"],
        [
            [
                r["n"],
                r["numpy_gflops"],
                r["opencl_gflops"],
                r["opencl_gflops"] / r["numpy_gflops"],
                one["numpy_gflops"],
                one["opencl_gflops"],
                one["opencl_gflops"] / one["numpy_gflops"],
            ]
            for r, one in zip(figures["gemm"], one_core["gemm"], strict=True)
        ],  # fmt: skip
    )

    figures["lstm"] = bench_lstm(ocl, ref, args.repeats)
    print("\nLSTM timestep, microseconds (cell: cell fwd+bwd; step: GEMMs + cell, fwd+bwd)")
    table(
        ["B,D,H", "cell numpy", "cell OpenCL", "step numpy", "step OpenCL", "step OpenCL/numpy"],
        [
            [
                f"{r['batch']},{r['input']},{r['hidden']}",
                r["numpy_cell_us"],
                r["opencl_cell_us"],
                r["numpy_step_us"],
                r["opencl_step_us"],
                r["opencl_step_us"] / r["numpy_step_us"],
            ]
            for r in figures["lstm"]
        ],  # fmt: skip
    )

    sgns = bench_sgns(ocl, ref, args.repeats, args.words, gensim_workers=(1, 2), with_numpy=False)
    figures["sgns"] = sgns
    one = one_core["sgns"]
    print(
        f"\nSkip-gram NS, wikitext-2 head: {sgns['words']} words ({sgns['kept_words']} in "
        f"vocabulary after subsampling), {sgns['pairs']} pairs, vocabulary {sgns['vocab']}; "
        f"dim 100, window 5, negative 5, sample 1e-3. Our pair generation (numpy, not timed "
        f"below): {sgns['words'] / sgns['pairgen_seconds']:.0f} words/s"
    )
    rows = [  # (label, figures, key, cores used, anchor key)
        ("1 core: numpy backend", one, "numpy", 1, "gensim1"),
        ("1 core: OpenCL, 1 PoCL thread", one, "opencl", 1, "gensim1"),
        ("1 core: gensim workers=1", one, "gensim1", 1, "gensim1"),
        ("2 cores: OpenCL, 2 PoCL threads", sgns, "opencl", 2, "gensim2"),
        ("2 cores: gensim workers=2", sgns, "gensim2", 2, "gensim2"),
    ]
    table(
        ["", "words/s", "pairs/s", "words/s/core", "per core vs gensim (same run)"],
        [
            [
                label,
                f[f"{key}_words_s"],
                f[f"{key}_pairs_s"],
                f[f"{key}_words_s"] / cores,
                f[f"{key}_words_s"] / cores / (f[f"{anchor}_words_s"] / int(anchor[-1])),
            ]
            for label, f, key, cores, anchor in rows
        ],  # fmt: skip
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
