"""Where the whole word2vec job's time goes, against gensim's whole process on the same corpus.

    PYTHONPATH=$PWD python bench/word2vec_breakdown.py --corpus wikitext-2 --runs 3 --cold

Runs ``spark-submit jobs/train_word2vec.py`` (as bench/word2vec.py's sparknn-opencl does:
the driver from sparknn's class archive, and also without it with ``--cold``; local[2],
2 partitions, the opencl backend, dim 100, window 5, negative 5, sample 1e-3, min_count 5)
with timestamps taken in the job's own process, then gensim's script from bench/word2vec.py,
each from process start to exit, and prints the phases:

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
import statistics
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


def run_job(out_dir, corpus, epochs, seed, partitions, backend, class_archive=True):
    from word2vec import DRIVER_MEMORY, class_archive_conf, env_for_spark, spark_submit

    stamps_path = out_dir.with_suffix(".stamps.json")
    command = [
        spark_submit(), "--master", "local[2]", "--driver-memory", DRIVER_MEMORY,
        *(class_archive_conf() if class_archive else []),
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
    parser.add_argument("--runs", type=int, default=1, help="runs of each, for medians")
    parser.add_argument("--no-gensim", action="store_true", help="time the job only")
    parser.add_argument(
        "--cold", action="store_true", help="also time the job without the class archive"
    )
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "sparknn-bench"))
    args = parser.parse_args()

    from word2vec import prepare_corpus

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    corpus, tokens = prepare_corpus(args.corpus, workdir)
    kinds = ["job", *(["cold"] if args.cold else []), *([] if args.no_gensim else ["gensim"])]
    runs = {kind: [] for kind in kinds}  # kind -> [(wall, phases or None)] in run order
    for _ in range(args.runs):  # the kinds interleaved, so that a slow spell hits them all
        with tempfile.TemporaryDirectory(dir=workdir) as scratch:
            scratch = Path(scratch)
            job = (corpus, args.epochs, args.seed, args.partitions, args.backend)
            runs["job"].append(run_job(scratch / "sparknn", *job))
            if args.cold:
                runs["cold"].append(run_job(scratch / "cold", *job, class_archive=False))
            if not args.no_gensim:
                gensim = run_gensim(corpus, scratch / "gensim.txt", args.epochs, args.seed)
                runs["gensim"].append((gensim, None))
    print(f"{args.corpus}: {tokens:,} tokens, {args.epochs} epoch(s), {args.partitions} partitions")
    print(f"medians of {args.runs} run(s); job: the driver from the class archive, cold: without")
    jobs = [kind for kind in kinds if kind != "gensim"]
    print(f"  {'':<11}" + "".join(f" {kind:>8}" for kind in jobs))
    for phase in PHASES:
        medians = [statistics.median(p[phase] for _, p in runs[kind]) for kind in jobs]
        print(f"  {phase:<11}" + "".join(f" {m:6.2f} s" for m in medians))
    walls = {kind: [wall for wall, _ in runs[kind]] for kind in kinds}
    print(f"  {'whole':<11}" + "".join(f" {statistics.median(walls[k]):6.2f} s" for k in jobs))
    for kind in kinds:
        print(f"  {kind} per run: " + ", ".join(f"{wall:.2f} s" for wall in walls[kind]))
    if "gensim" in kinds:
        for kind in jobs:
            ratio = statistics.median(walls["gensim"]) / statistics.median(walls[kind])
            each = [g / w for g, w in zip(walls["gensim"], walls[kind], strict=True)]
            print(
                f"  {kind} speed x gensim's: {ratio:.2f} (medians); per run: "
                + ", ".join(f"{r:.2f}" for r in each)
            )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[4:])
    else:
        main()
