"""The quick-start main job (``make demo``): word2vec and a char-LSTM on *Dubliners*, on Spark.

    python -m sparknn.demo [--master local[2]] [--corpus data/dubliners.txt] [--quick]

Runs on ``local[2]`` by default: one JVM with two task slots starts fastest on a 2-core
machine. ``--master spark://127.0.0.1:7077`` runs the same on the cluster that
``sparknn cluster start`` brings up, and ``local-cluster[2,1,1024]`` on separate executor
JVMs. Both models train on the shipped corpus (Gutenberg header and licence stripped); the
job prints neighbour tables and a generated sample, and ends in a few minutes on 2 cores.
"""

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sparknn.errors import SparknnError

SHIPPED_CORPUS = Path(__file__).resolve().parents[1] / "data" / "dubliners.txt"
QUERIES = ("night", "drink", "eyes", "dublin", "aunt")


@dataclass
class DemoSettings:
    w2v_dims: int = 64
    w2v_epochs: int = 30
    neighbours: int = 8

    @classmethod
    def quick(cls) -> "DemoSettings":
        """Tiny sizes for the test suite: exercises every step, learns little."""
        return cls(w2v_dims=16, w2v_epochs=1, neighbours=3)


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


def train_word2vec(spark, corpus: Path, settings: DemoSettings):
    from sparknn.word2vec.train import train_spark
    from sparknn.word2vec.vectors import WordVectors

    config = {
        "vector_size": settings.w2v_dims,
        "epochs": settings.w2v_epochs,
        "min_count": 5,
        "tokenizer": "unicode",  # words without the punctuation glued to them
        "strip_gutenberg_headers": True,
        "partitions": 2,
        "seed": 1,
    }
    result = train_spark(spark, str(corpus), config)
    return WordVectors(result.vocab.words, result.vectors, result.vocab.counts)


def run_demo(spark, corpus: Path, settings: DemoSettings) -> None:
    started = time.perf_counter()
    section(f"word2vec: skip-gram, {settings.w2v_dims} dims, {settings.w2v_epochs} epochs")
    vectors = train_word2vec(spark, corpus, settings)
    print(f"{len(vectors):,} words; nearest neighbours by cosine similarity:\n")
    print(neighbour_columns(vectors, QUERIES, settings.neighbours))
    print(f"\ndone in {time.perf_counter() - started:.0f} s")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sparknn.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--master", help="Spark master (default: local[2])")
    parser.add_argument("--corpus", type=Path, default=SHIPPED_CORPUS, help="a plain-text book")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds, not minutes)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if not args.corpus.is_file():
            raise SparknnError(f"corpus not found: {args.corpus} (pass --corpus PATH)")
        from sparknn.session import session

        spark = session(args.master or "local[2]", app_name="sparknn-demo")
        print(f"sparknn demo on Spark {spark.version}, master {spark.sparkContext.master}")
        print(f"corpus: {args.corpus}")
        try:
            run_demo(spark, args.corpus, DemoSettings.quick() if args.quick else DemoSettings())
        finally:
            spark.stop()
    except SparknnError as error:
        print(f"sparknn demo: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
