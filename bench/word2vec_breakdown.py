"""Where the whole word2vec job's time goes, against gensim's whole process on the same corpus.

    PYTHONPATH=$PWD python bench/word2vec_breakdown.py --corpus wikitext-2 --epochs 5

Runs ``spark-submit jobs/train_word2vec.py`` (as bench/word2vec.py's sparknn-opencl does:
local[2], 2 partitions, the opencl backend, dim 100, window 5, negative 5, sample 1e-3,
min_count 5) with timestamps taken in the job's own process, then gensim's script from
bench/word2vec.py, each from process start to exit, and prints the phases:

* start: launching spark-submit until the session is up (JVM, Python, imports, session);
* read+count: reading, tokenizing and counting the corpus (until the counts reach the driver);
* vocab: building the vocabulary;
* encode: encoding the corpus into training partitions (until the stage is launched);
* stage: the barrier stage's tasks starting and connecting;
* training: the rounds;
* output: writing the output directory;
* exit: the process ending.

The job is run with ``--child`` by this script: it wraps the functions that end each phase
with a timestamp and then runs the job's ``main``; nothing in the job changes.
"""

import argparse
import json
import os
import runpy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

PHASES = ("start", "read+count", "vocab", "encode", "stage", "training", "output", "exit")


def child(stamps_path, job_args):
    """Run the job in this process, noting when each phase ends into ``stamps_path``."""
    import sparknn.spark.session as session_module
    import sparknn.word2vec.exchange as exchange
    import sparknn.word2vec.job as job
    import sparknn.word2vec.spark as spark_module

    stamps = {}

    def after(module, name, label, first_only=False):
        function = getattr(module, name)

        def wrapped(*args, **kwargs):
            result = function(*args, **kwargs)
            if not (first_only and label in stamps):
                stamps[label] = time.time()
            return result

        setattr(module, name, wrapped)

    def before(module, name, label):
        function = getattr(module, name)

        def wrapped(*args, **kwargs):
            stamps[label] = time.time()
            return function(*args, **kwargs)

        setattr(module, name, wrapped)

    after(session_module, "session", "start")
    after(spark_module, "count_tokens", "read+count")
    after(spark_module, "build_vocabulary", "vocab")
    before(spark_module, "SparkRounds", "encode")
    after(exchange.RoundServer, "wait_for_tasks", "stage", first_only=True)
    after(spark_module, "run_rounds", "training")
    after(job, "save_output", "output")
    sys.argv = [str(REPO / "jobs" / "train_word2vec.py"), *job_args]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    finally:
        Path(stamps_path).write_text(json.dumps(stamps))


def run_job(corpus, out_dir, epochs, seed, partitions, backend):
    from word2vec import DRIVER_MEMORY, env_for_spark, spark_submit

    stamps_path = out_dir.with_suffix(".stamps.json")
    command = [
        spark_submit(), "--master", "local[2]", "--driver-memory", DRIVER_MEMORY,
        "--properties-file", str(REPO / "conf" / "spark-defaults.conf"), __file__, "--child",
        str(stamps_path), "--",
        "--corpus", str(corpus), "--output", str(out_dir), "--partitions", str(partitions),
        "--backend", backend, "--epochs", str(epochs), "--seed", str(seed),
        "--vector-size", "100", "--window", "5", "--negative", "5", "--sample", "1e-3",
        "--min-count", "5",
    ]  # fmt: skip
    began = time.time()
    subprocess.run(command, check=True, env=env_for_spark(), cwd=REPO, capture_output=True)
    ended = time.time()
    stamps = json.loads(stamps_path.read_text())
    moments = [began, *(stamps[phase] for phase in PHASES[:-1]), ended]
    phases = {phase: moments[i + 1] - moments[i] for i, phase in enumerate(PHASES)}
    return ended - began, phases


def run_gensim(corpus, out_file, epochs, seed):
    from word2vec import GENSIM_SCRIPT, PYTHON

    began = time.time()
    subprocess.run(
        [PYTHON, "-c", GENSIM_SCRIPT, str(corpus), str(out_file), str(epochs), str(seed)],
        check=True, capture_output=True, cwd=REPO,
    )  # fmt: skip
    return time.time() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="wikitext-2", help="wikitext-2 or gutenberg-25m")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", default="opencl", help="the job's --backend")
    parser.add_argument("--no-gensim", action="store_true", help="time the job only")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "sparknn-bench"))
    args = parser.parse_args()

    from word2vec import prepare_corpus

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    corpus, tokens = prepare_corpus(args.corpus, workdir)
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        scratch = Path(scratch)
        wall, phases = run_job(
            corpus, scratch / "sparknn", args.epochs, args.seed, args.partitions, args.backend
        )
        gensim = None if args.no_gensim else run_gensim(
            corpus, scratch / "gensim.txt", args.epochs, args.seed
        )  # fmt: skip
    print(f"{args.corpus}: {tokens:,} tokens, {args.epochs} epoch(s), {args.partitions} partitions")
    for phase, seconds in phases.items():
        print(f"  {phase:<11} {seconds:6.2f} s")
    print(f"  {'job':<11} {wall:6.2f} s")
    if gensim is not None:
        print(f"  {'gensim':<11} {gensim:6.2f} s   job speed x gensim: {gensim / wall:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[4:])
    else:
        main()
