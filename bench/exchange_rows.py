"""The exchange's row operations per round: the numpy reference against the OpenCL kernels.

    PYTHONPATH=$PWD .venv/bin/python bench/exchange_rows.py --corpus gutenberg-25m \
        --words 2000000 --repeats 9

Two partitions' replicas (as the job's, OpenCL backend, rounds of 50,000 tokens) train
``--rounds`` rounds of the first ``--words`` tokens of the corpus, merging as the driver does;
on the last round's real rows this times, for each backend, alternating, ``--repeats``
times: the driver's merge of both matrices (numpy: syn1neg in 3 blocks on 2 threads, as the
job does), one replica's report of its changed rows (``subtract_rows``, both matrices) and
its move to the merged rows (``apply_rows``, both). Prints the medians in ms, the ratios,
and whether both backends gave the same bits.
"""

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.negatives import CORPORA, ROUND_WORDS, corpus_vocabulary  # noqa: E402
from sparknn.backend import CPUAutoBackend, NumpyBackend  # noqa: E402
from sparknn.word2vec import (  # noqa: E402
    MERGE_BLOCKS,
    MERGE_THREADS,
    PartitionTrainer,
    Settings,
    Tables,
    encode_lines,
    init_vectors,
    merge_blocks,
    split_lines,
)

BACKENDS = {"numpy": NumpyBackend(), "opencl": CPUAutoBackend()}


def merge_both(pool, model, results, backend):
    """The driver's merge of a round, as ``rounds.run_rounds`` does it."""
    syn0, syn1neg = model
    merging0 = merge_blocks(
        pool, syn0, [(r.rows0, r.deltas0, r.counts0) for r in results], "adaptive", 0.002, 1,
        backend,
    )  # fmt: skip
    merging1 = merge_blocks(
        pool, syn1neg, [(r.rows1, r.deltas1, r.counts1) for r in results], "adaptive", 0.002,
        MERGE_BLOCKS, backend,
    )  # fmt: skip
    return (*merging0(), *merging1())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="gutenberg-25m", choices=CORPORA)
    parser.add_argument("--words", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--workdir", default="/tmp/sparknn-w2v")
    args = parser.parse_args()
    lines, vocab = corpus_vocabulary(args.corpus, args.workdir)
    head, words = [], 0
    for line in lines:  # the first --words tokens, whole lines
        if words >= args.words:
            break
        head.append(line)
        words += len(line.split())
    parts = [encode_lines(chunk, vocab, str.split) for chunk in split_lines(head, 2)]
    settings = Settings(backend="opencl", epochs=1)
    tables = Tables.build(vocab, settings.sample)
    trainers = [
        PartitionTrainer(p, tokens, starts, len(vocab), settings, tables, 2)
        for p, (tokens, starts) in enumerate(parts)
    ]
    pool = ThreadPoolExecutor(MERGE_THREADS)
    model = init_vectors(len(vocab), settings.vector_size, settings.seed)
    empty = np.zeros(0, np.int32)
    update = (empty, model[0][empty], empty, model[1][empty])
    n = min(len(tokens) for tokens, _ in parts)
    rounds = min(args.rounds, n // ROUND_WORDS)
    for index in range(rounds):
        results = []
        for trainer in trainers:
            trainer.apply(*update)
            start, stop = index * ROUND_WORDS / n, (index + 1) * ROUND_WORDS / n
            results.append(trainer.train(0, index, start, stop))
        if index < rounds - 1:
            update = merge_both(pool, model, results, BACKENDS["opencl"])
    replica = trainers[0]
    print(f"{args.corpus}: {len(vocab):,} words; round {rounds} of {ROUND_WORDS:,} tokens per "
          f"partition: syn1neg rows sent {len(results[0].rows1):,} + "
          f"{len(results[1].rows1):,}, merged {len(update[2]):,}", flush=True)  # fmt: skip

    def timed(prepare, run):
        """``{backend: (median ms, output)}`` of ``run(backend, prepare())``, the backends
        alternating after one untimed call each; ``prepare`` (fresh copies of what ``run``
        changes) is not timed."""
        seconds, outputs = {name: [] for name in BACKENDS}, {}
        for backend in BACKENDS.values():  # builds the kernels before timing
            run(backend, prepare())
        for _ in range(args.repeats):
            for name, backend in BACKENDS.items():
                inputs = prepare()
                began = time.perf_counter()
                outputs[name] = run(backend, inputs)
                seconds[name].append(time.perf_counter() - began)
        return {name: (1000 * np.median(s), outputs[name]) for name, s in seconds.items()}

    def merge(backend, copy):
        return (*merge_both(pool, copy, results, backend), *copy)

    def report(backend, _):
        return tuple(
            backend.subtract_rows(matrix, base, rows)
            for matrix, base, rows in ((replica.syn0, replica.base0, results[0].rows0),
                                       (replica.syn1neg, replica.base1, results[0].rows1))
        )  # fmt: skip

    def apply(backend, copy):
        syn0, base0, syn1neg, base1 = copy
        backend.apply_rows(syn0, base0, update[0], update[1])
        backend.apply_rows(syn1neg, base1, update[2], update[3], replica.pending1)
        return copy

    replica_arrays = (replica.syn0, replica.base0, replica.syn1neg, replica.base1)
    operations = {
        "merge (driver)": (lambda: [m.copy() for m in model], merge),
        "report rows (replica)": (lambda: None, report),
        "apply rows (replica)": (lambda: [m.copy() for m in replica_arrays], apply),
    }
    print(f"medians of {args.repeats}, ms per round:")
    for name, (prepare, run) in operations.items():
        got = timed(prepare, run)
        (slow, want), (fast, have) = got["numpy"], got["opencl"]
        same = all(np.array_equal(a, b) for a, b in zip(want, have, strict=True))
        print(f"  {name:<22} numpy {slow:6.1f}  opencl {fast:6.1f}  {slow / fast:.2f}x  "
              f"same bits: {same}", flush=True)  # fmt: skip
    pool.shutdown()


if __name__ == "__main__":
    main()
