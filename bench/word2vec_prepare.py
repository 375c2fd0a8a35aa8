"""How long sparknn.ml.Word2Vec's fit spends preparing its input (tokens to training
partitions: counting, vocabulary, encoding; ``trainingMetadata["prepare_seconds"]``), in one
warm session, on the passages of bench/ml_word2vec.py tokenized by Spark's Tokenizer.

    PYTHONPATH=$PWD python bench/word2vec_prepare.py --tokens 200000 1000000 --repeats 3

Each size: one throwaway fit (Python workers, imports), then ``--repeats`` timed fits (1
epoch); prints each fit's prepare and total seconds and their medians.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

from pyspark.ml.feature import Tokenizer

import sparknn
from sparknn.corpus import labelled_passages
from sparknn.ml import Word2Vec

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPARKNN_DATA") or REPO.parent / "shared" / "data")
BOOKS = ("bible", "shakespeare", "ulysses", "dubliners")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[200_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    spark = sparknn.session(master=args.master, app_name="bench-word2vec-prepare")
    for tokens in args.tokens:
        rows = labelled_passages(SHARED, BOOKS, words_per_passage=40, tokens=tokens, seed=0)
        frame = spark.createDataFrame(rows).repartition(args.partitions)
        frame = Tokenizer(inputCol="text", outputCol="words").transform(frame)
        frame = frame.select("words").cache()
        frame.count()
        estimator = Word2Vec(
            inputCol="words", vectorSize=100, minCount=5, maxIter=1,
            numPartitions=args.partitions, seed=1,
        )  # fmt: skip
        estimator.fit(frame)
        prepares, totals = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model = estimator.fit(frame)
            totals.append(time.perf_counter() - start)
            prepares.append(model.trainingMetadata["prepare_seconds"])
        print(
            f"{sparknn.__file__.split('/sparknn/')[0]} tokens={tokens}: prepare "
            f"{' '.join(f'{s:.2f}' for s in prepares)} (median {statistics.median(prepares):.2f})"
            f", fit {' '.join(f'{s:.2f}' for s in totals)} "
            f"(median {statistics.median(totals):.2f})",
            flush=True,
        )
        frame.unpersist()
    spark.stop()


if __name__ == "__main__":
    main()
