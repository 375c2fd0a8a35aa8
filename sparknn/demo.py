"""The quick-start main job (``make demo``): word2vec and a char-LSTM on *Dubliners*, on Spark.

    python -m sparknn.demo [--master local[2]] [--corpus PATH] [--output runs/demo] [--quick]

Runs on ``local[2]`` by default: one JVM with two task slots starts fastest on a 2-core
machine. ``--master spark://127.0.0.1:7077`` runs the same on the cluster that
``sparknn cluster start`` brings up, and ``local-cluster[2,1,1024]`` on separate executor
JVMs. Both models train on the corpus shipped in the package (*Dubliners*, Gutenberg header
and licence stripped), with the same code as ``jobs/train_word2vec.py`` and
``jobs/train_charlm.py``. The job logs its progress to stderr, prints neighbour tables and
generated text to stdout, saves both models under ``--output`` (replacing the previous
demo's), and ends in a few minutes on 2 cores.
"""

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sparknn.charlm.settings import CharLMSettings
from sparknn.charlm.train import train
from sparknn.config import ArgumentParser
from sparknn.corpus import SHIPPED_CORPUS
from sparknn.errors import SparknnError
from sparknn.files import check_output
from sparknn.logs import setup_console_logging
from sparknn.ml import Word2Vec
from sparknn.spark.session import session
from sparknn.word2vec.job import TOKENS, in_job_terms, read_tokens, save_output
from sparknn.word2vec.settings import Settings

log = logging.getLogger(__name__)
QUERIES = ("night", "drink", "eyes", "dublin", "aunt")


@dataclass
class DemoSettings:
    w2v_dims: int = 64
    w2v_epochs: int = 30
    neighbours: int = 8
    lm_steps: int = 1200  # about 22 epochs of Dubliners at batch 64
    lm_hidden: int = 128
    lm_seq_len: int = 100
    lm_batch: int = 64
    lm_sample_length: int = 300

    @classmethod
    def quick(cls) -> "DemoSettings":
        """Tiny sizes for the test suite: exercises every step, learns little."""
        return cls(
            w2v_dims=16, w2v_epochs=1, neighbours=3,
            lm_steps=4, lm_hidden=16, lm_seq_len=20, lm_batch=8, lm_sample_length=40,
        )  # fmt: skip


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)), flush=True)


def neighbour_columns(vectors, words, topn: int) -> str:
    """Nearest neighbours of several words side by side, like word2vec's distance lists."""
    words = [w for w in words if w in vectors]
    columns = [
        [(other, score) for other, score in vectors.most_similar(w, topn=topn)] for w in words
    ]
    width = max([len(w) for w in words] + [len(o) for col in columns for o, _ in col]) + 8
    lines = ["".join(w.ljust(width) for w in words)]
    lines.append("".join(("-" * (width - 2)).ljust(width) for _ in words))
    for row in range(topn):
        lines.append(
            "".join(f"{col[row][0]} {col[row][1]:.3f}".ljust(width) for col in columns).rstrip()
        )
    return "\n".join(lines)


def train_word2vec(spark, corpus: Path, output: Path, settings: DemoSettings):
    word2vec_settings = Settings(
        vector_size=settings.w2v_dims,
        epochs=settings.w2v_epochs,
        tokenizer="unicode",  # words without the punctuation glued to them
        strip_gutenberg_headers=True,
    )
    frame = read_tokens(spark, str(corpus), word2vec_settings)
    with in_job_terms(str(corpus)):
        model = Word2Vec.fromSettings(word2vec_settings, inputCol=TOKENS).fit(frame)
    save_output(output, model, word2vec_settings, str(corpus), overwrite=True)
    return model.wordVectors


def train_charlm(spark, corpus: Path, output: Path, settings: DemoSettings) -> Path:
    """The char-LM job's own training run; returns the last epoch's samples file."""

    charlm_settings = CharLMSettings(
        corpus=str(corpus),
        output=str(output),
        hidden=settings.lm_hidden,
        seq_len=settings.lm_seq_len,
        batch_size=settings.lm_batch,
        max_steps=settings.lm_steps,
        lr=0.004,  # a short run: a larger step than the long-run default
        log_every=max(1, settings.lm_steps // 12),
        checkpoint_every=0,
        sample_length=settings.lm_sample_length,
        overwrite=True,
    )
    train(charlm_settings, spark)
    return max((output / "samples").glob("epoch-*.txt"), key=lambda p: int(p.stem[6:]))


def demo_directory(path: Path, marker: str) -> Path:
    """The demo's own output folder, which each demo run replaces. Only a folder holding
    ``marker`` (a file every finished or interrupted run writes) is replaced."""
    if path.exists() and not (path / marker).is_file() and any(path.iterdir()):
        raise SparknnError(
            f"{path} exists and is not an earlier demo's output; choose another --output"
        )
    return path


def run_demo(spark, corpus: Path, settings: DemoSettings, output: Path) -> None:
    started = time.perf_counter()
    section(f"word2vec: skip-gram, {settings.w2v_dims} dims, {settings.w2v_epochs} epochs")
    w2v_dir = demo_directory(output / "word2vec", "vectors.npy")
    vectors = train_word2vec(spark, corpus, w2v_dir, settings)
    print(f"{len(vectors):,} words; nearest neighbours by cosine similarity:\n")
    print(neighbour_columns(vectors, QUERIES, settings.neighbours))

    section(f"char-LSTM: LSTM({settings.lm_hidden}), {settings.lm_steps} synchronous SGD steps")
    lm_dir = demo_directory(output / "charlm", "metrics.csv")
    samples = train_charlm(spark, corpus, lm_dir, settings)
    print(f"\ngenerated text ({samples}):")
    print(samples.read_text(encoding="utf-8"))

    section("done")
    print(f"in {time.perf_counter() - started:.0f} s. Query the models:")
    print(f"  sparknn neighbors {w2v_dir} {' '.join(QUERIES[:3])}")
    print(f"  sparknn generate {lm_dir} --seed-text 'The ' --temperature 0.5 --length 400")


def parse_args(argv=None):
    parser = ArgumentParser(prog="python -m sparknn.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--master", help="Spark master (default: local[2])")
    parser.add_argument("--corpus", type=Path, default=SHIPPED_CORPUS, help="a plain-text book")
    parser.add_argument(
        "--output", type=Path, default=Path("runs/demo"), help="where the models go"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds, not minutes)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_console_logging()
    try:
        if not args.corpus.is_file():
            raise SparknnError(f"corpus not found: {args.corpus} (pass --corpus PATH)")
        check_output(args.output, [args.corpus], overwrite=True)  # it replaces its own outputs

        spark = session(args.master or "local[2]", app_name="sparknn-demo")
        log.info("sparknn demo on Spark %s, master %s", spark.version, spark.sparkContext.master)
        log.info("corpus: %s", args.corpus)
        try:
            settings = DemoSettings.quick() if args.quick else DemoSettings()
            run_demo(spark, args.corpus, settings, args.output)
        finally:
            spark.stop()
    except SparknnError as error:
        print(f"sparknn demo: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
