"""Top-k neighbours of every vocabulary word, computed on Spark, written as Parquet.

    spark-submit jobs/neighbors.py MODEL --topn 10 --output PATH [--block-rows 2048]
        [--partitions N] [--master local[2]]

The unit-normalised matrix is broadcast once; the vocabulary is cut into row blocks, one
Spark task per block computes ``block @ matrix.T`` (a BLAS product) and keeps the top-k of
each row with argpartition. Output columns: ``word``, ``neighbors`` (array of words, best
first), ``cosines`` (array of float). The Parquet directory is written under a temporary
name next to PATH and renamed into place.
"""

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, too

import numpy as np  # noqa: E402

from sparknn.errors import SparknnError  # noqa: E402


def top_neighbors(normed, start, stop, topn):
    """Rows ``[start, stop)``: (indices, cosines) of each row's top-n, itself excluded."""
    scores = normed[start:stop] @ normed.T
    scores[np.arange(stop - start), np.arange(start, stop)] = -np.inf
    k = min(topn, normed.shape[0] - 1)
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
    best = np.take_along_axis(best, order, axis=1)
    return best, np.take_along_axis(scores, best, axis=1)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="sparknn output directory or word2vec text/binary file")
    parser.add_argument("--topn", type=int, default=10)
    parser.add_argument("--output", required=True, help="Parquet output directory")
    parser.add_argument("--block-rows", type=int, default=2048, help="rows per matrix block")
    parser.add_argument("--partitions", type=int, default=None, help="Spark partitions")
    parser.add_argument("--master", help="Spark master (default: spark-submit's, or local[2])")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
        if args.topn < 1 or args.block_rows < 1:
            raise SparknnError("--topn and --block-rows must be >= 1")
        from sparknn.session import session
        from sparknn.word2vec.vectors import load_vectors

        vectors = load_vectors(args.model)
        if len(vectors) < 2:
            raise SparknnError("the model needs at least two words to have neighbours")
        spark = session(args.master, app_name="sparknn-neighbors")
        write_neighbors(spark, vectors, args.topn, args.output, args.block_rows, args.partitions)
        print(f"wrote neighbours of {len(vectors):,} words to {args.output}", file=sys.stderr)
        return 0
    except SparknnError as error:
        print(f"neighbors: error: {error}", file=sys.stderr)
        return 2


def write_neighbors(spark, vectors, topn, output, block_rows=2048, partitions=None):
    from pyspark.sql.types import ArrayType, FloatType, StringType, StructField, StructType

    sc = spark.sparkContext
    normed_bc = sc.broadcast(vectors.normed)
    words_bc = sc.broadcast(vectors.words)
    starts = list(range(0, len(vectors), block_rows))
    partitions = partitions or min(len(starts), max(2, sc.defaultParallelism))

    def block(start):
        normed, words = normed_bc.value, words_bc.value
        stop = min(start + block_rows, len(words))
        best, cosines = top_neighbors(normed, start, stop, topn)
        for row in range(stop - start):
            yield (
                words[start + row],
                [words[i] for i in best[row]],
                [float(c) for c in cosines[row]],
            )

    schema = StructType(
        [
            StructField("word", StringType(), False),
            StructField("neighbors", ArrayType(StringType(), False), False),
            StructField("cosines", ArrayType(FloatType(), False), False),
        ]
    )
    rows = sc.parallelize(starts, partitions).flatMap(block)
    output = Path(output)
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    try:
        spark.createDataFrame(rows, schema).write.mode("overwrite").parquet(str(tmp))
        if output.exists():
            shutil.rmtree(output)
        os.replace(tmp, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        normed_bc.destroy()
        words_bc.destroy()


if __name__ == "__main__":
    sys.exit(main())
