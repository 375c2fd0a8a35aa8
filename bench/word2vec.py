"""word2vec throughput, memory and quality: sparknn vs gensim vs Spark MLlib, side by side.

    PYTHONPATH=$PWD python bench/word2vec.py --corpus wikitext-2 --epochs 5 --runs 3

Every system trains on the same lowercased, whitespace-tokenized copy of the corpus with
the same hyperparameters (dim 100, window 5, negative 5, sample 1e-3, min_count 5, epochs)
on the same 2 cores, each in its own process tree:

* sparknn: ``spark-submit --properties-file conf/spark-defaults.conf jobs/train_word2vec.py``
  with ``--master local[2] --partitions 2`` and the driver started from sparknn's class
  archive (as the README runs jobs; ``-cold``: without the archive),
  once per backend (``-shared``: with ``--shared-negatives``, negatives drawn per centre;
  ``-hogwild``: with ``--hogwild``, both tasks training one model in shared memory);
* gensim: ``Word2Vec(sg=1, hs=0, workers=2)``;
* Spark MLlib: ``pyspark.ml.feature.Word2Vec(numPartitions=2)`` on ``local[2]`` (skip-gram
  with hierarchical softmax; it has no negative sampling and no subsampling).

words/s = corpus tokens x epochs / training seconds (sparknn: the training rounds, after
vocabulary and encoding, reported separately; gensim: ``train()``, after ``build_vocab``;
MLlib: ``fit()``, which includes its vocabulary pass). Peak memory is the largest total
RSS of the process tree (driver, Python workers, JVMs), sampled every 0.1 s; for sparknn
the same samples give the CPU seconds its processes used while training, per second of
training (in cores: 2.0 is both cores busy all along). Quality is
measured with gensim's evaluators on each system's exported ``vectors.txt`` (which also
checks that gensim loads our files): questions-words accuracy (restrict_vocab=30000) and
wordsim353 Spearman. Figures are medians over ``--runs`` runs; run ``i`` uses seed ``i``.
"""

import argparse
import json
import lzma
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
# ../shared/data next to the checkout (or next to the worktree folder), or $SPARKNN_DATA.
SHARED = Path(
    os.environ.get("SPARKNN_DATA")
    or next(
        (
            p
            for p in (REPO.parent / "shared" / "data", REPO.parents[1] / "shared" / "data")
            if p.is_dir()
        ),
        REPO.parent / "shared" / "data",
    )
)
CORPORA = {
    "wikitext-2": SHARED / "wikitext-2" / "wiki.train.tokens.xz",
    "gutenberg-25m": SHARED / "gutenberg-25m" / "gutenberg_25m.txt.xz",
}
PYTHON = sys.executable
# spark-submit's --driver-memory for sparknn (local mode: the JVM holding the cached corpus)
DRIVER_MEMORY = os.environ.get("SPARKNN_BENCH_DRIVER_MEMORY", "2g")
HYPER = {"vector_size": 100, "window": 5, "negative": 5, "sample": 1e-3, "min_count": 5}
# A sparknn system's name ends in any of these suffixes, in this order, for the job's flags
SUFFIX_FLAGS = {"-shared": "--shared-negatives", "-hogwild": "--hogwild"}
COLD = "-cold"  # a system suffix: the job's driver JVM without the class archive


def prepare_corpus(name: str, workdir: Path) -> tuple[Path, int]:
    """Decompress once, lowercase, one sentence per non-empty line; returns (path, tokens)."""
    out = workdir / f"{name}.txt"
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        with lzma.open(CORPORA[name], "rt", encoding="utf-8") as src, open(tmp, "w") as dst:
            for line in src:
                tokens = line.lower().split()
                if tokens:
                    dst.write(" ".join(tokens) + "\n")
        os.replace(tmp, out)
    with open(out) as handle:
        tokens = sum(len(line.split()) for line in handle)
    return out, tokens


class TreeSamples:
    """What the sampler saw of a process tree: its peak total RSS, and each process's CPU
    seconds (user + system) over time, kept per process so one that exits still counts."""

    def __init__(self):
        self.peak_rss = 0
        self.cpu = {}  # pid -> [(unix time, cpu seconds so far), ...]

    def cpu_seconds(self, start: float, stop: float) -> float:
        """CPU seconds the tree used between two unix times (to the sampling interval)."""

        def at(series, moment):  # the last sample at or before moment
            seen = [cpu for when, cpu in series if when <= moment]
            return seen[-1] if seen else 0.0

        return sum(at(series, stop) - at(series, start) for series in self.cpu.values())


def run_tree(command, env=None, timeout=3600):
    """Run ``command``; return (stdout, wall seconds, :class:`TreeSamples`)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    samples = TreeSamples()

    def sample():
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            total, now = 0, time.time()
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                tree = []
            for process in tree:
                try:
                    with process.oneshot():
                        total += process.memory_info().rss
                        used = process.cpu_times()
                    samples.cpu.setdefault(process.pid, []).append((now, used.user + used.system))
                except psutil.Error:
                    pass
            samples.peak_rss = max(samples.peak_rss, total)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate(timeout=timeout)
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return stdout, time.perf_counter() - started, samples


def env_for_spark():
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=PYTHON)
    env["PYSPARK_DRIVER_PYTHON"] = PYTHON
    env["PYTHONPATH"] = f"{REPO}:{env.get('PYTHONPATH', '')}"
    return env


def spark_submit():
    import pyspark

    return os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")


def class_archive_conf() -> list[str]:
    """spark-submit's arguments that start the driver from sparknn's class archive, as the
    README gives them (the command makes the archive if there is none yet)."""
    options = subprocess.run(
        [PYTHON, "-m", "sparknn", "class-archive", "--java-options"],
        check=True, capture_output=True, text=True, env=env_for_spark(), cwd=REPO,
    ).stdout.strip()  # fmt: skip
    return ["--conf", f"spark.driver.defaultJavaOptions={options}"]


def run_sparknn(corpus, out_dir, epochs, seed, backend, partitions, extra, class_archive=True):
    command = [
        spark_submit(),
        "--master",
        "local[2]",
        "--driver-memory",
        DRIVER_MEMORY,
        *(class_archive_conf() if class_archive else []),
        "--properties-file",
        str(REPO / "conf" / "spark-defaults.conf"),
        str(REPO / "jobs" / "train_word2vec.py"),
        "--corpus",
        str(corpus),
        "--output",
        str(out_dir),
        "--partitions",
        str(partitions),
        "--backend",
        backend,
        "--epochs",
        str(epochs),
        "--seed",
        str(seed),
        "--vector-size",
        "100",
        "--window",
        "5",
        "--negative",
        "5",
        "--sample",
        "1e-3",
        "--min-count",
        "5",
        *extra,
    ]
    _, wall, samples = run_tree(command, env=env_for_spark())
    meta = json.loads((out_dir / "metadata.json").read_text())
    start = meta["training_started_unix"]
    training = samples.cpu_seconds(start, start + meta["training_seconds"])
    return {
        "train_s": meta["training_seconds"],
        "wall_s": wall,
        "peak_rss": samples.peak_rss,
        # the job's processes' CPU use while training, in cores (2 = both cores busy)
        "train_cores": training / meta["training_seconds"],
        "meta": meta,
    }


GENSIM_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence
    corpus, out, epochs, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    model = Word2Vec(vector_size=100, window=5, negative=5, hs=0, sample=1e-3, min_count=5,
                     sg=1, workers=2, seed=seed, epochs=epochs)
    t0 = time.perf_counter()
    model.build_vocab(LineSentence(corpus))
    t1 = time.perf_counter()
    model.train(LineSentence(corpus), total_examples=model.corpus_count, epochs=epochs)
    t2 = time.perf_counter()
    model.wv.save_word2vec_format(out)
    print(json.dumps({"vocab_s": t1 - t0, "train_s": t2 - t1}))
    """
)

MLLIB_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pyspark.sql import SparkSession, functions as F
    from pyspark.ml.feature import Word2Vec
    corpus, out, epochs, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    spark = (SparkSession.builder.master("local[2]").config("spark.driver.memory", "2g")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.text(corpus).select(F.split("value", " ").alias("tokens")).cache()
    df.count()
    t0 = time.perf_counter()
    model = Word2Vec(vectorSize=100, windowSize=5, minCount=5, maxIter=epochs, numPartitions=2,
                     seed=seed, inputCol="tokens", maxSentenceLength=1000).fit(df)
    t1 = time.perf_counter()
    rows = model.getVectors().collect()
    with open(out, "w") as f:
        f.write(f"{len(rows)} 100\\n")
        for r in rows:
            f.write(r.word + " " + " ".join(f"{x:.6g}" for x in r.vector.toArray()) + "\\n")
    print(json.dumps({"train_s": t1 - t0}))
    spark.stop()
    """
)


def run_script(script, corpus, out_file, epochs, seed, env=None):
    stdout, wall, samples = run_tree(
        [PYTHON, "-c", script, str(corpus), str(out_file), str(epochs), str(seed)], env=env
    )
    result = json.loads(stdout.strip().splitlines()[-1])
    return {**result, "wall_s": wall, "peak_rss": samples.peak_rss}


def quality(vectors_txt):
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    kv = KeyedVectors.load_word2vec_format(str(vectors_txt), binary=False)
    accuracy, _ = kv.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=30000)
    pearson, spearman, oov = kv.evaluate_word_pairs(datapath("wordsim353.tsv"))
    return {"analogy": accuracy, "spearman": float(spearman[0]), "ws_oov": oov}


def run_system(system, name, run, corpus, epochs, workdir, extra):
    """One training run of ``system``; returns its figures (quality included)."""
    out = workdir / f"{name}-{system}-{run}"
    seed = 1 + run  # quality medians over seeds, not one seed's luck
    if system.startswith("sparknn-"):
        variant = system.removeprefix("sparknn-")
        cold = variant.endswith(COLD)
        variant = variant.removesuffix(COLD)
        for suffix, flag in reversed(SUFFIX_FLAGS.items()):  # the last suffix first
            if variant.endswith(suffix):
                variant, extra = variant.removesuffix(suffix), [*extra, flag]
        backend, _, partitions = variant.partition("-p")
        r = run_sparknn(
            corpus, out, epochs, seed, backend, int(partitions or 2), extra, not cold
        )  # fmt: skip
        r.pop("meta")
        vectors = out / "vectors.txt"
    elif system == "gensim":
        vectors = out.with_suffix(".txt")
        r = run_script(GENSIM_SCRIPT, corpus, vectors, epochs, seed)
    else:
        vectors = out.with_suffix(".txt")
        r = run_script(MLLIB_SCRIPT, corpus, vectors, epochs, seed, env=env_for_spark())
    r.update(quality(vectors))
    return r


def bench(name, epochs, runs, systems, workdir, extra):
    corpus, tokens = prepare_corpus(name, workdir)
    print(f"{name}: {tokens:,} tokens, epochs {epochs}, runs {runs}", flush=True)
    samples = {system: [] for system in systems}
    for run in range(runs):  # systems alternate within each run: load drifts hit all alike
        for system in systems:
            r = run_system(system, name, run, corpus, epochs, workdir, extra)
            r["words_per_s"] = tokens * epochs / r["train_s"]
            samples[system].append(r)
            print(f"  {system} run {run + 1}: {json.dumps(r)}", flush=True)
    results = {
        system: {
            key: statistics.median(s[key] for s in runs_of)
            for key in runs_of[0]
            if isinstance(runs_of[0][key], (int, float))
        }
        for system, runs_of in samples.items()
    }
    print_table(name, epochs, tokens, results)
    return results


def print_table(name, epochs, tokens, results):
    anchor = results.get("gensim")
    mllib = results.get("mllib")
    print(f"\n{name} ({tokens:,} tokens, {epochs} epochs) - medians")
    print(
        "| system | words/s | x gensim | x MLlib | train s | wall s | peak RSS GiB "
        "| analogy | wordsim353 Spearman |\n|---|---|---|---|---|---|---|---|---|"
    )
    for system, r in results.items():
        vs_gensim = r["words_per_s"] / anchor["words_per_s"] if anchor else float("nan")
        vs_mllib = r["words_per_s"] / mllib["words_per_s"] if mllib else float("nan")
        print(
            f"| {system} | {r['words_per_s']:,.0f} | {vs_gensim:.2f} | {vs_mllib:.2f} "
            f"| {r['train_s']:.1f} | {r['wall_s']:.1f} | {r['peak_rss'] / 2**30:.2f} "
            f"| {r['analogy']:.4f} | {r['spearman']:.4f} |"
        )
    for system, r in results.items():  # the partition-count quality check: -pN vs -p1
        backend, _, partitions = system.partition("-p")
        single = results.get(f"{backend}-p1")
        if partitions not in ("", "1") and single:
            ratio = r["analogy"] / single["analogy"]
            print(f"analogy {system} / {backend}-p1 = {ratio:.3f}")
    for system, r in results.items():
        if "train_cores" in r:  # how much of the 2 cores the job kept busy while training
            print(f"{system}: its processes used {r['train_cores']:.2f} cores while training")


def query_latency(n_words=100_000, dim=100, queries=300):
    """most_similar latency on a random n_words x dim model (p50, p95 in ms)."""
    import numpy as np

    from sparknn.word2vec import WordVectors

    rng = np.random.default_rng(0)
    wv = WordVectors([f"w{i}" for i in range(n_words)], rng.normal(size=(n_words, dim)))
    wv.most_similar("w0")  # builds the cached unit-normalised matrix
    times = []
    for i in rng.integers(0, n_words, size=queries):
        started = time.perf_counter()
        wv.most_similar(f"w{i}", topn=10)
        times.append(1000 * (time.perf_counter() - started))
    times.sort()
    p50, p95 = times[len(times) // 2], times[int(len(times) * 0.95)]
    print(f"most_similar on {n_words:,} x {dim}: p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    return {"p50_ms": p50, "p95_ms": p95}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", choices=sorted(CORPORA), default=["wikitext-2"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--systems",
        nargs="+",
        default=["sparknn-opencl", "sparknn-numpy", "gensim", "mllib"],
        help="any of sparknn-numpy sparknn-opencl gensim mllib; sparknn-BACKEND-pN trains on N "
        "partitions instead of 2, sparknn-BACKEND[-pN][-shared][-hogwild] with "
        "--shared-negatives, --hogwild; -cold at the end: the driver without the class archive",
    )
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "sparknn-w2v"))
    parser.add_argument("--json", help="write all medians here")
    parser.add_argument("--sparknn-args", default="", help="extra flags for the sparknn job")
    parser.add_argument("--queries-only", action="store_true", help="only most_similar latency")
    args = parser.parse_args()
    if args.queries_only:
        query_latency()
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    everything = {
        name: bench(name, args.epochs, args.runs, args.systems, workdir, args.sparknn_args.split())
        for name in args.corpus
    }
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=2))


if __name__ == "__main__":
    main()
