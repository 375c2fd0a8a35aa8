"""How long the word2vec job takes to build the vocabulary and encode the corpus, by source tree.

    PYTHONPATH=$PWD .venv/bin/python bench/prepare.py --corpus gutenberg-25m --runs 3 \
        --trees /path/to/an/older/checkout .

Each run is a fresh process with a fresh ``local[2]`` Spark session (as a ``spark-submit`` of
the job is) that runs ``train_spark`` of one tree up to the start of training: the barrier
stage is replaced by one that stops the run, so what is timed is reading the corpus,
counting, the vocabulary and the encoded partitions (``prepare_seconds`` in a model's
metadata). Trees alternate within each run; prints every run, the medians and their ratios
to the first tree's.
"""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.word2vec import env_for_spark, prepare_corpus  # noqa: E402

# Runs in the child: train_spark until the barrier stage would start.
CHILD = """
import sys, time
from pyspark.sql import SparkSession
try:  # train_spark's module holds the SparkRounds it starts
    import sparknn.word2vec.spark as stage_module
    from sparknn.word2vec.spark import train_spark
except ImportError:  # a tree from before issue 25 (train_spark imported it from exchange)
    import sparknn.word2vec.exchange as stage_module
    from sparknn.word2vec.train import train_spark

try:  # train_spark takes the settings dataclass
    from sparknn.config import JobSettings
    from sparknn.word2vec.settings import Settings
    settings = Settings(partitions=2)
except ImportError:  # a tree whose train_spark takes a dict
    settings = {"partitions": 2}

class Prepared(Exception):
    pass

class StopBeforeTraining:
    def __init__(self, *args, **kwargs):
        raise Prepared

stage_module.SparkRounds = StopBeforeTraining
spark = SparkSession.builder.master("local[2]").config("spark.driver.memory", "2g").getOrCreate()
spark.sparkContext.setLogLevel("ERROR")
started = time.perf_counter()
try:
    train_spark(spark, sys.argv[1], settings, verbose=False)
except Prepared:
    print(f"PREPARED {time.perf_counter() - started:.3f}")
"""


def prepare_seconds(tree: Path, corpus: Path) -> float:
    env = {**env_for_spark(), "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(corpus)], env=env, capture_output=True, text=True,
        check=True, cwd=tree,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("PREPARED ")]
    if not lines:
        raise SystemExit(f"{tree}: the run did not reach training:\n{done.stderr[-2000:]}")
    return float(lines[-1].split()[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    corpora = ["wikitext-2", "gutenberg-25m"]
    parser.add_argument("--corpus", default="gutenberg-25m", choices=corpora)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trees", nargs="+", default=[str(REPO)], help="source checkouts")
    parser.add_argument("--workdir", default="/tmp/sparknn-w2v")
    args = parser.parse_args()
    corpus, _ = prepare_corpus(args.corpus, Path(args.workdir))
    trees = [Path(tree).resolve() for tree in args.trees]
    seconds = {tree: [] for tree in trees}
    for run in range(args.runs):
        for tree in trees:
            seconds[tree].append(prepare_seconds(tree, corpus))
            print(f"run {run + 1}: {tree}: {seconds[tree][-1]:.1f} s", flush=True)
    first = np.median(seconds[trees[0]])
    for tree in trees:
        median = np.median(seconds[tree])
        print(f"{tree}: median {median:.1f} s, {first / median:.2f}x as fast as {trees[0]}")


if __name__ == "__main__":
    main()
