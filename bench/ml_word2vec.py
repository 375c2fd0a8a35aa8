"""The same Pipeline with MLlib's and sparknn's Word2Vec: fit time, accuracy, transform speed.

A labelled text set from the shared corpora (:func:`sparknn.corpus.labelled_passages`:
passages of ``--words`` words from the King James Bible, Shakespeare, *Ulysses* and
*Dubliners*, about ``--tokens`` words in all, labelled by book), a fixed 80/20 split, and
``Tokenizer -> Word2Vec -> LogisticRegression`` with

* ``mllib``: ``pyspark.ml.feature.Word2Vec``;
* ``sparknn``: ``sparknn.ml.Word2Vec`` with the same Params (vectorSize, windowSize,
  minCount, maxIter, numPartitions, stepSize, seed; all from the flags);
* ``sparknn defaults`` (with ``--sparknn-defaults``): ``sparknn.ml.Word2Vec`` with only
  inputCol/outputCol and numPartitions set, the rest its own defaults.

Each pipeline is fitted stage by stage, as ``Pipeline.fit`` does, so that the Word2Vec
``fit`` (the figure the ratio compares) is timed alone, from its call to its return, on
the tokenized training rows (cached, counted before), after one throwaway fit of each
system (what only a session's first fit pays: Python workers, JIT, OpenCL kernels).
Accuracy is the LogisticRegression's on the test rows. Transform: rows/s of
``Word2VecModel.transform`` over the passages repeated to ``--transform-rows`` rows (the
document vectors written to Spark's ``noop`` sink), each model warmed up once (Python
workers started, vectors shipped), then the run's models taking turns for
``--transform-repeats`` timed passes each (the run's figure: their median). Systems
alternate within each of ``--runs`` runs; run ``i`` uses seed ``i + 1``; the table gives
medians over the runs, and each run's figure.

Run: ``PYTHONPATH=. python bench/ml_word2vec.py --tokens 1000000 --runs 3``
"""

import argparse
import inspect
import json
import os
import statistics
import time
from pathlib import Path

from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import Tokenizer
from pyspark.ml.feature import Word2Vec as MLlibWord2Vec
from pyspark.ml.param import Param

import sparknn
from sparknn.corpus import labelled_passages
from sparknn.ml import Word2Vec

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPARKNN_DATA") or REPO.parent / "shared" / "data")
BOOKS = ("bible", "shakespeare", "ulysses", "dubliners")


def make_frames(spark, tokens, words, partitions):
    """Tokenized train and test DataFrames (``words``: array<string>, ``label``), cached."""
    rows = labelled_passages(SHARED, BOOKS, words_per_passage=words, tokens=tokens, seed=0)
    test = rows.index % 5 == 0  # the rows come shuffled: every fifth is a fixed 20%
    tokenizer = Tokenizer(inputCol="text", outputCol="words")
    frames = []
    for part in (rows[~test], rows[test]):
        frame = spark.createDataFrame(part).repartition(partitions)
        frame = tokenizer.transform(frame).select("words", "label").cache()
        frames.append((frame, frame.count()))
    return frames


def fit_and_score(word2vec, train, test):
    """(Word2Vec fit seconds, test accuracy, fitted Word2VecModel)."""
    start = time.perf_counter()
    vectors = word2vec.fit(train)
    seconds = time.perf_counter() - start
    classifier = LogisticRegression(featuresCol="features", labelCol="label", maxIter=100)
    fitted = classifier.fit(vectors.transform(train))
    scored = fitted.transform(vectors.transform(test))
    accuracy = MulticlassClassificationEvaluator(metricName="accuracy").evaluate(scored)
    return seconds, accuracy, vectors


def transform_rates(models, frame, n_rows, repeats):
    """name -> the median rows/s of ``model.transform`` over ``frame`` (``n_rows`` rows) in
    ``repeats`` passes, the models taking turns pass by pass, each warmed up once first."""
    outputs = {
        name: model.transform(frame).select(model.getOutputCol()) for name, model in models.items()
    }
    for out in outputs.values():
        out.write.format("noop").mode("overwrite").save()
    rates = {name: [] for name in models}
    for _ in range(repeats):
        for name, out in outputs.items():
            start = time.perf_counter()
            out.write.format("noop").mode("overwrite").save()
            rates[name].append(n_rows / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in rates.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=1_000_000, help="words in the text set")
    parser.add_argument("--words", type=int, default=40, help="words per passage")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vector-size", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument(
        "--epochs", type=int, default=5, help="maxIter (defaults: MLlib 1, sparknn 5)"
    )
    parser.add_argument("--partitions", type=int, default=2, help="numPartitions")
    parser.add_argument("--step-size", type=float, default=0.025)
    parser.add_argument("--transform-rows", type=int, default=200_000)
    parser.add_argument(
        "--transform-repeats", type=int, default=5, help="timed transform passes per model and run"
    )
    parser.add_argument(
        "--sparknn-params", nargs="*", default=[], metavar="PARAM=VALUE",
        help="sparknn's own Params for the sparknn system (MLlib has none of them), "
        "e.g. sample=0 hogwild=true",
    )  # fmt: skip
    parser.add_argument("--master", default="local[2]")
    parser.add_argument(
        "--sparknn-defaults", action="store_true",
        help="also run sparknn.ml.Word2Vec with its own defaults (numPartitions as above)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.tokens < 10 * args.words or args.runs < 1:
        parser.error("--tokens must be >= 10 x --words and --runs >= 1")

    spark = sparknn.session(master=args.master, app_name="bench-ml-word2vec")
    (train, n_train), (test, n_test) = make_frames(spark, args.tokens, args.words, args.partitions)
    # Transform runs over the passages repeated to at least --transform-rows rows, so that
    # the rate measures the per-row work more than a job's start.
    copies = -(-args.transform_rows // (n_train + n_test))
    everything = spark.range(copies).crossJoin(train.unionByName(test)).drop("id")
    everything = everything.repartition(args.partitions).cache()
    n_rows = everything.count()
    columns = {"inputCol": "words", "outputCol": "features"}
    own = own_params(parser, args.sparknn_params)
    systems = {
        "mllib": lambda seed: MLlibWord2Vec(**columns, **equal_params(args, seed)),
        "sparknn": lambda seed: Word2Vec(**columns, **equal_params(args, seed), **own),
    }
    if args.sparknn_defaults:
        systems["sparknn defaults"] = lambda seed: Word2Vec(
            **columns, numPartitions=args.partitions, seed=seed
        )
    # The first fit in a session also starts Python workers, loads classes, JIT-compiles
    # and builds OpenCL kernels: one throwaway fit of each on the test rows pays for that.
    for make in systems.values():
        make(0).setMaxIter(1).fit(test)
    runs = {}
    for run in range(args.runs):
        models = {}
        for name, make in systems.items():
            seconds, accuracy, models[name] = fit_and_score(make(run + 1), train, test)
            runs.setdefault(f"{name} fit seconds", []).append(seconds)
            runs.setdefault(f"{name} test accuracy", []).append(accuracy)
        rates = transform_rates(models, everything, n_rows, args.transform_repeats)
        for name, rate in rates.items():
            runs.setdefault(f"{name} transform rows/s", []).append(rate)
        mllib_fit, mllib_rate = runs["mllib fit seconds"][-1], runs["mllib transform rows/s"][-1]
        for name in systems:
            if name != "mllib":
                runs.setdefault(f"{name} fit speed / mllib's", []).append(
                    mllib_fit / runs[f"{name} fit seconds"][-1]
                )
                runs.setdefault(f"{name} accuracy - mllib's (points)", []).append(
                    100 * (runs[f"{name} test accuracy"][-1] - runs["mllib test accuracy"][-1])
                )
                runs.setdefault(f"{name} transform rows/s / mllib's", []).append(
                    runs[f"{name} transform rows/s"][-1] / mllib_rate
                )

    tokens = sum(len(row.words) for row in train.select("words").collect())
    print(
        f"\n{n_train} train passages ({tokens} tokens) / {n_test} test, {len(BOOKS)} books; "
        f"{equal_params(args, 'run number')}; sparknn's own: {own or 'defaults'}; "
        f"transform over {n_rows} rows; master {args.master}; {args.runs} runs (medians)\n"
    )
    print("| measure | median | runs |\n|---|---|---|")
    for name, values in runs.items():
        each = " / ".join(f"{value:.4g}" for value in values)
        print(f"| {name} | {statistics.median(values):.4g} | {each} |")
    spark.stop()


def equal_params(args, seed):
    return {
        "vectorSize": args.vector_size, "windowSize": args.window, "minCount": args.min_count,
        "maxIter": args.epochs, "numPartitions": args.partitions, "stepSize": args.step_size,
        "seed": seed,
    }  # fmt: skip


def own_params(parser, pairs):
    """``PARAM=VALUE`` strings as sparknn-only Params, typed by each Param's converter."""
    mllibs = {name for name, value in inspect.getmembers(MLlibWord2Vec) if isinstance(value, Param)}
    params = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        param = getattr(Word2Vec, name, None)
        if name in mllibs or not isinstance(param, Param) or not value:
            parser.error(f"--sparknn-params: {pair!r} is not PARAM=VALUE of a sparknn-only Param")
        try:
            value = json.loads(value.lower() if value.lower() in ("true", "false") else value)
        except json.JSONDecodeError:
            pass  # a string: "opencl"
        params[name] = param.typeConverter(value)
    return params


if __name__ == "__main__":
    main()
