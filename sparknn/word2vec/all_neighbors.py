"""Top-k neighbours of every vocabulary word with Spark: blocked matrix products.

The unit-normalised matrix is broadcast once; the vocabulary is cut into row blocks and one
Spark task per block computes ``block @ matrix.T`` (a BLAS product) and keeps each row's
top-k with argpartition. Used by ``jobs/neighbors.py``; lives in the package so executors
can import it.
"""

import numpy as np

from sparknn.files import staged_directory


def top_neighbors(normed, start, stop, topn):
    """Rows ``[start, stop)``: (indices, cosines) of each row's top-n, itself excluded."""
    scores = normed[start:stop] @ normed.T
    scores[np.arange(stop - start), np.arange(start, stop)] = -np.inf
    k = min(topn, normed.shape[0] - 1)
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
    best = np.take_along_axis(best, order, axis=1)
    return best, np.take_along_axis(scores, best, axis=1)


def write_neighbors(
    spark, vectors, topn, output, block_rows=2048, partitions=None, overwrite=False
):
    """Write the Parquet directory ``output`` whole (staged beside it, then renamed); an
    existing one is replaced only with ``overwrite``."""
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
    try:
        with staged_directory(output, overwrite) as staging:
            # Spark writes into the staged folder, which it must find absent or be told so.
            spark.createDataFrame(rows, schema).write.mode("overwrite").parquet(str(staging))
    finally:
        normed_bc.destroy()
        words_bc.destroy()
