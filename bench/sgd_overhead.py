"""Per-step framework cost of synchronous SGD on Spark: sparknn's trainer vs a naive loop.

Both sides run the same trivial "gradient" (a constant vector, no compute) on 2 workers, so
what is timed is everything *but* gradient compute: getting the parameters to the workers,
getting the gradient sums back, and adding them on the driver. The optimizer update is the
same for both and is not timed.

* sparknn: one long-lived barrier stage; raw float32 frames over TCP (sparknn.distributed).
* naive: a Spark job per step, ``sc.broadcast(params)`` + ``rdd.treeAggregate`` over a cached
  RDD (the textbook way).

Run: ``PYTHONPATH=. python bench/sgd_overhead.py [--master local-cluster[2,1,2048]]``
"""

import argparse
import statistics
import time

import numpy as np

from sparknn import session
from sparknn.distributed import SparkGradients


class ConstantGradient:
    """A replica whose gradient costs nothing: isolates the framework's own cost."""

    def __init__(self, shards, n_params):
        self.params = np.zeros(n_params, dtype=np.float32)
        self.grad = np.full(n_params, 1e-3, dtype=np.float32)

    def gradient(self, windows):
        return 0.0, self.grad, len(windows)

    def evaluate(self, windows):
        return 0.0, len(windows)


def sparknn_steps(spark, rdd, n_params, steps):
    params = np.zeros(n_params, dtype=np.float32)
    source = SparkGradients(
        spark, rdd, lambda shards: ConstantGradient(shards, n_params), n_params, np.float32
    )
    windows = np.arange(2, dtype=np.int64)
    times = []
    try:
        for step in range(steps):
            start = time.perf_counter()
            _, grad, _, compute = source.gradient(step, windows, params, version=step)
            times.append(time.perf_counter() - start - compute)
            params -= grad  # not timed: the optimizer step is the same for both loops
    finally:
        source.close()
    return times


def naive_steps(spark, rdd, n_params, steps):
    sc = spark.sparkContext
    params = np.zeros(n_params, dtype=np.float32)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        shared = sc.broadcast(params)

        def gradient(part, shared=shared):
            weights = shared.value  # every task fetches the broadcast parameters
            return np.full(weights.shape, 1e-3, dtype=np.float32) * sum(1 for _ in part)

        grad = rdd.mapPartitions(lambda part: [gradient(part)]).treeAggregate(
            np.zeros(n_params, dtype=np.float32), lambda a, b: a + b, lambda a, b: a + b
        )
        shared.unpersist()
        times.append(time.perf_counter() - start)
        params -= grad
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", default="local-cluster[2,1,2048]")
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--steps", type=int, default=30, help="sparknn steps per size")
    parser.add_argument("--naive-steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds per size")
    args = parser.parse_args()
    spark = session(args.master, app_name="bench-sgd-overhead")
    rdd = spark.sparkContext.parallelize([0, 1], 2).cache()
    rdd.count()
    print(f"{'params':>10} {'sparknn ms':>11} {'naive ms':>9} {'naive/sparknn':>14}")
    for n_params in map(int, args.sizes.split(",")):
        ours, naive = [], []
        for _ in range(args.repeats):  # interleave so both see the same machine load
            ours += sparknn_steps(spark, rdd, n_params, args.steps)[3:]  # skip connection warm-up
            naive += naive_steps(spark, rdd, n_params, args.naive_steps)[1:]
        a, b = statistics.median(ours) * 1e3, statistics.median(naive) * 1e3
        print(f"{n_params:>10} {a:>11.1f} {b:>9.1f} {b / a:>13.1f}x")
    spark.stop()


if __name__ == "__main__":
    main()
