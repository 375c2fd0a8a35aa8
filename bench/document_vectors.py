"""``Word2VecModel.transform``'s arithmetic on one core: ``document_vectors`` (vocabulary
lookup in Arrow, then the backend's ``document_means``) with the numpy reference against the
OpenCL kernel (``auto`` on a CPU), alternating call by call, outside Spark.

Rows: ``--rows`` passages of ``--length`` tokens drawn Zipf-like from a ``--vocabulary``-word
table of ``--dim`` floats (some tokens unknown). Prints each backend's median milliseconds
per call and the median of the pairs' ratios.

Run: ``PYTHONPATH=. python bench/document_vectors.py --repeats 15``
"""

import argparse
import time

import numpy as np
import pyarrow as pa

from sparknn.backend import get_backend
from sparknn.ml.word2vec import document_vectors, lookup_table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=40, help="tokens per row")
    parser.add_argument("--vocabulary", type=int, default=15_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    words = pa.array([f"w{i}" for i in range(args.vocabulary)])
    table = lookup_table(rng.standard_normal((args.vocabulary, args.dim)).astype(np.float32))
    drawn = rng.zipf(1.3, args.rows * args.length) - 1  # beyond the vocabulary: unknown
    offsets = pa.array(np.arange(args.rows + 1, dtype=np.int32) * args.length)
    rows = pa.ListArray.from_arrays(offsets, pa.array([f"w{i}" for i in drawn]))
    backends = {"numpy": get_backend("numpy"), "auto": get_backend("auto")}
    for backend in backends.values():  # kernels built, caches warm
        document_vectors(rows, words, table, backend)
    seconds = {name: [] for name in backends}
    for _ in range(args.repeats):
        for name, backend in backends.items():
            start = time.perf_counter()
            document_vectors(rows, words, table, backend)
            seconds[name].append(time.perf_counter() - start)
    ratios = np.array(seconds["numpy"]) / np.array(seconds["auto"])
    print(
        f"{args.rows} rows of {args.length} tokens, {args.vocabulary} x {args.dim}; "
        f"auto = {backends['auto']!r}"
    )
    for name, values in seconds.items():
        print(f"{name}: median {1000 * np.median(values):.1f} ms per call")
    print(
        f"numpy / auto time, median of {args.repeats} pairs: {np.median(ratios):.2f} "
        f"(range {ratios.min():.2f}-{ratios.max():.2f})"
    )


if __name__ == "__main__":
    main()
