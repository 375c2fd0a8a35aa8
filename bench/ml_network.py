"""The same MLP trained on the same DataFrame by Spark's own network, sparknn.ml and DDP.

One synthetic, learnable data set (``--rows`` x 100 features, 10 classes: the argmax of a
fixed random linear map of the features plus noise), a fixed 80/20 train/test split, and the
same architecture (100-256-10, sigmoid hidden, softmax):

* ``mllib``: ``pyspark.ml.classification.MultilayerPerceptronClassifier`` (L-BFGS),
  ``--mllib-iter`` iterations; its test accuracy is the target;
* ``sparknn``: ``sparknn.ml.NeuralNetwork`` on 2 partitions (Adam), epoch by epoch until it
  reaches MLlib's test accuracy (at most ``--epochs``): wall time to the target;
* ``torch``: ``TorchDistributor(num_processes=2, local_mode=True)`` DDP on the same MLP for
  ``--epochs`` epochs, when torch is importable: examples/s and test accuracy (sparknn's
  examples/s and accuracy after the same epochs are printed beside it);
* ``transform``: rows/s of ``NeuralNetworkModel.transform`` against
  ``pyspark.ml.functions.predict_batch_udf`` running the same numpy network, over all rows,
  each warmed up once (Python workers started, network loaded) before it is timed;
* ``framework cost``: with ``--overhead``, ``NeuralNetwork``'s cost per step beyond the
  arithmetic at 1 M and 10 M parameters (a softmax layer of 1,000 inputs and 1,000 or 10,000
  classes, one row per worker per step): the median step's wall time on 2 partitions less the
  same step's gradient (one worker's row, timed in an executor) and update (timed on the
  driver); ``bench/sgd_overhead.py`` measures the char-LM trainer's cost directly, with a
  replica that does no arithmetic.

Examples/s count each fit from its call to its return (data conversion, stage start and
process launch included) for sparknn and DDP alike; DDP's loop-only rate is printed beside.
Systems alternate within each of ``--runs`` runs; the table gives medians, each run's
figure, and each run's ratios against its anchors.

Run: ``PYTHONPATH=. python bench/ml_network.py --rows 1000000 --runs 3 [--overhead]``
"""

import argparse
import statistics
import time

import numpy as np
from pyspark.ml.classification import MultilayerPerceptronClassifier
from pyspark.ml.functions import predict_batch_udf, vector_to_array
from pyspark.ml.linalg import Vectors
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, FloatType

import sparknn
from sparknn import layers, optimizers
from sparknn.ml import NeuralNetwork, network_from_bytes, network_to_bytes
from sparknn.nn import callbacks

FEATURES, CLASSES, HIDDEN = 100, 10, 256


def make_frames(spark, rows, partitions, seed=0):
    """Train and test DataFrames (``features`` a dense Vector, ``label`` a double)."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(FEATURES, CLASSES))

    def rows_of(part):
        local = np.random.default_rng([seed, part])
        n = rows // partitions + (part < rows % partitions)
        x = local.normal(size=(n, FEATURES))
        y = np.argmax(x @ mixing + 0.5 * local.normal(size=(n, CLASSES)), axis=1)
        is_test = local.random(n) < 0.2
        for xi, yi, ti in zip(x, y, is_test, strict=True):
            yield Vectors.dense(xi), float(yi), bool(ti)

    frame = (
        spark.sparkContext.parallelize(range(partitions), partitions)
        .flatMap(rows_of)
        .toDF(["features", "label", "is_test"])
        .cache()
    )
    frame.count()
    train = frame.filter(~frame.is_test).drop("is_test").cache()
    test = frame.filter(frame.is_test).drop("is_test").cache()
    return train, test, train.count(), test.count()


def mlp(seed=0):
    model = sparknn.Sequential(
        [layers.Dense(HIDDEN, activation="sigmoid", input_dim=FEATURES),
         layers.Dense(CLASSES, activation="softmax")],
        seed=seed,
    )  # fmt: skip
    model.compile("sparse_categorical_crossentropy", optimizers.Adam(1e-3), metrics=["accuracy"])
    return model


def accuracy(transformed) -> float:
    return transformed.select(
        F.avg((F.col("prediction") == F.col("label")).cast("double"))
    ).first()[0]


def run_mllib(train, test, iterations):
    start = time.perf_counter()
    model = MultilayerPerceptronClassifier(
        layers=[FEATURES, HIDDEN, CLASSES], maxIter=iterations, seed=0
    ).fit(train)
    seconds = time.perf_counter() - start
    return seconds, accuracy(model.transform(test))


class Snapshots(callbacks.Callback):
    """Each epoch's end time and weights (the trained copy is this callback's ``model``)."""

    def __init__(self):
        self.taken = []

    def on_epoch_end(self, epoch, logs=None):
        self.taken.append((time.perf_counter(), self.model.params.copy()))


def run_sparknn(train, test_arrays, target, epochs, batch_size):
    """One fit of ``epochs`` epochs, each epoch's weights scored afterwards on the test rows.

    Returns (seconds to the first epoch reaching ``target``, or to the end; accuracy and epochs
    then; accuracy after all epochs; seconds of the whole fit; the fitted model)."""
    snapshots = Snapshots()
    start = time.perf_counter()
    fitted = NeuralNetwork(
        model=mlp(), batchSize=batch_size, epochs=epochs, numPartitions=2, callbacks=[snapshots]
    ).fit(train)
    total = time.perf_counter() - start
    x_test, y_test = test_arrays
    scorer = mlp()
    scores = []
    for moment, params in snapshots.taken:
        scorer.params[...] = params
        scores.append((moment, float(np.mean(scorer.predict(x_test).argmax(axis=1) == y_test))))
    reached = next((i for i, (_, acc) in enumerate(scores) if acc >= target), len(scores) - 1)
    moment, acc = scores[reached]
    return moment - start, acc, reached + 1, scores[-1][1], total, fitted


def run_torch(train_rows, test_rows, epochs, batch_size):
    """DDP on 2 local processes: (examples/s of the whole run, examples/s of the training
    loop alone, test accuracy), or None without torch."""
    try:
        import torch  # noqa: F401
        from pyspark.ml.torch.distributor import TorchDistributor
    except ImportError:
        return None
    x_train, y_train = train_rows
    x_test, y_test = test_rows

    def train_ddp(x_train, y_train, x_test, y_test, epochs, batch_size):
        import time

        import torch
        import torch.distributed as dist
        from torch import nn

        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        torch.manual_seed(0)
        model = nn.parallel.DistributedDataParallel(
            nn.Sequential(nn.Linear(100, 256), nn.Sigmoid(), nn.Linear(256, 10))
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y = torch.tensor(x_train[rank::world]), torch.tensor(y_train[rank::world])
        local_batch = batch_size // world
        start = time.perf_counter()
        for _ in range(epochs):
            for i in range(0, len(x), local_batch):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(
                    model(x[i : i + local_batch]), y[i : i + local_batch]
                )
                loss.backward()
                optimizer.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            hits = (model(torch.tensor(x_test)).argmax(1) == torch.tensor(y_test)).float().mean()
        dist.destroy_process_group()
        return seconds, float(hits)

    start = time.perf_counter()
    loop_seconds, acc = TorchDistributor(num_processes=2, local_mode=True, use_gpu=False).run(
        train_ddp, x_train, y_train, x_test, y_test, epochs, batch_size
    )
    whole = time.perf_counter() - start
    return epochs * len(x_train) / whole, epochs * len(x_train) / loop_seconds, acc


def collect(frame):
    rows = frame.collect()
    return (
        np.stack([row.features.toArray() for row in rows]).astype(np.float32),
        np.array([int(row.label) for row in rows], dtype=np.int64),
    )


def transform_rates(fitted, rows, n_rows):
    """Rows/s of sparknn's transform and of predict_batch_udf over the same numpy network."""
    blob = network_to_bytes(fitted.network)

    def make_predict():
        network = network_from_bytes(blob)
        return lambda x: network.predict(x.astype(np.float32))

    udf = predict_batch_udf(
        make_predict,
        return_type=ArrayType(FloatType()),
        batch_size=1024,
        input_tensor_shapes=[[FEATURES]],
    )
    systems = (
        ("sparknn transform", fitted.transform(rows)),
        ("predict_batch_udf", rows.withColumn("out", udf(vector_to_array("features")))),
    )
    for _, frame in systems:  # warm up: Python workers started, the network loaded
        frame.write.format("noop").mode("overwrite").save()
    rates = {}
    for name, frame in systems:
        start = time.perf_counter()
        frame.write.format("noop").mode("overwrite").save()
        rates[name] = n_rows / (time.perf_counter() - start)
    return rates


class StepTimes(callbacks.Callback):
    """The time each step ended."""

    def __init__(self):
        self.ends = []

    def on_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def framework_cost(spark, n_classes, inputs=1_000, rows=400, repeats=25):
    """(median step seconds on 2 partitions, one step's arithmetic in one process, parameters)
    for a softmax layer ``inputs`` -> ``n_classes`` trained one row per worker per step."""

    def network():
        model = sparknn.Sequential(
            [layers.Dense(n_classes, activation="softmax", input_dim=inputs)], seed=0
        )
        model.compile("sparse_categorical_crossentropy", optimizers.SGD(1e-3))
        return model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, inputs)).astype(np.float32)
    y = rng.integers(0, n_classes, size=rows)
    frame = (
        spark.createDataFrame(
            [(row.tolist(), float(label)) for row, label in zip(x, y, strict=True)],
            "features array<float>, label double",
        )
        .repartition(2)
        .cache()
    )
    frame.count()
    times = StepTimes()
    NeuralNetwork(
        model=network(), batchSize=2, epochs=1, numPartitions=2, shuffle=False, callbacks=[times]
    ).fit(frame)
    step = statistics.median(np.diff(times.ends))

    def gradient_seconds(_):
        # Timed in an executor's Python worker, where the steps' gradients ran (its BLAS
        # threads as Spark sets them), not in this driver.
        model = network()
        model.build((inputs,))
        samples = []
        for i in range(repeats):
            start = time.perf_counter()
            model.loss_and_gradient(x[i : i + 1], y[i : i + 1])
            samples.append(time.perf_counter() - start)
        yield statistics.median(samples)

    gradient = spark.sparkContext.parallelize([0], 1).mapPartitions(gradient_seconds).first()
    local = network()  # the update runs on the driver, as in training
    local.build((inputs,))
    _, grad, n = local.loss_and_gradient(x[:1], y[:1])
    updates = []
    for _ in range(repeats):
        start = time.perf_counter()
        local.apply_gradients(grad, n)
        updates.append(time.perf_counter() - start)
    frame.unpersist()
    return step, gradient + statistics.median(updates), local.params.size


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--mllib-iter", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--master", default="local-cluster[2,1,2048]")
    parser.add_argument(
        "--overhead", action="store_true", help="also measure the framework cost per step"
    )
    args = parser.parse_args()
    if args.rows < 100 or args.runs < 1:
        parser.error("--rows must be >= 100 and --runs >= 1")

    spark = sparknn.session(master=args.master, app_name="bench-ml-network")
    train, test, n_train, n_test = make_frames(spark, args.rows, partitions=2)
    train_arrays, test_arrays = collect(train), collect(test)
    runs = {}
    for _ in range(args.runs):
        mllib_s, target = run_mllib(train, test, args.mllib_iter)
        runs.setdefault("mllib seconds", []).append(mllib_s)
        runs.setdefault("mllib accuracy", []).append(target)
        seconds, reached, epochs, final, total, fitted = run_sparknn(
            train, test_arrays, target, args.epochs, args.batch_size
        )
        runs.setdefault("sparknn seconds to mllib accuracy", []).append(seconds)
        runs.setdefault("sparknn accuracy then", []).append(reached)
        runs.setdefault("sparknn reached mllib accuracy (1: yes)", []).append(reached >= target)
        runs.setdefault("sparknn epochs then", []).append(epochs)
        runs.setdefault(f"sparknn accuracy ({args.epochs} epochs)", []).append(final)
        runs.setdefault(f"sparknn examples/s ({args.epochs} epochs)", []).append(
            args.epochs * n_train / total
        )
        torch = run_torch(train_arrays, test_arrays, args.epochs, args.batch_size)
        if torch is not None:
            whole, loop, torch_accuracy = torch
            runs.setdefault(f"torch DDP examples/s ({args.epochs} epochs)", []).append(whole)
            runs.setdefault("torch DDP examples/s, training loop alone", []).append(loop)
            runs.setdefault("torch DDP accuracy", []).append(torch_accuracy)
        rates = transform_rates(fitted, train, n_train)
        for name, rate in rates.items():
            runs.setdefault(f"{name} rows/s", []).append(rate)
        runs.setdefault("sparknn seconds to mllib accuracy / mllib seconds", []).append(
            seconds / mllib_s
        )
        if torch is not None:
            runs.setdefault("sparknn examples/s / torch DDP's", []).append(
                args.epochs * n_train / total / whole
            )
        runs.setdefault("sparknn transform / predict_batch_udf", []).append(
            rates["sparknn transform"] / rates["predict_batch_udf"]
        )
        if args.overhead:
            for n_classes in (1_000, 10_000):
                step, arithmetic, n_params = framework_cost(spark, n_classes)
                label = f"{n_params / 1e6:.0f} M parameters"
                runs.setdefault(f"step wall time, {label} (ms)", []).append(step * 1e3)
                runs.setdefault(f"step arithmetic, {label} (ms)", []).append(arithmetic * 1e3)
                runs.setdefault(f"framework cost per step, {label} (ms)", []).append(
                    (step - arithmetic) * 1e3
                )

    print(f"\n{n_train} train / {n_test} test rows, {args.runs} runs\n")
    print("| measure | median | runs, in order |\n|---|---|---|")
    for name, values in runs.items():
        each = " / ".join(f"{value:.4g}" for value in values)
        print(f"| {name} | {statistics.median(values):.4g} | {each} |")
    if "torch DDP accuracy" not in runs:
        print("\ntorch is not importable: the DDP comparison was skipped")
    spark.stop()


if __name__ == "__main__":
    main()
