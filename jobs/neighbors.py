"""Top-k neighbours of every vocabulary word, computed on Spark, written as Parquet.

    spark-submit jobs/neighbors.py MODEL --topn 10 --output PATH [--overwrite]
        [--block-rows 2048] [--partitions N] [--master local[2]]

The unit-normalised matrix is broadcast once; the vocabulary is cut into row blocks, one
Spark task per block computes ``block @ matrix.T`` (a BLAS product) and keeps the top-k of
each row with argpartition. Output columns: ``word``, ``neighbors`` (array of words, best
first), ``cosines`` (array of float). The Parquet directory is written under a temporary
name next to PATH and renamed into place; an existing PATH is replaced only with
--overwrite, and never one that is, holds or lies inside MODEL.
"""

import sys

from sparknn.config import ArgumentParser, positive_int
from sparknn.errors import SparknnError
from sparknn.files import check_output
from sparknn.logs import setup_console_logging


def parse_args(argv=None):
    parser = ArgumentParser(prog="neighbors.py", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="sparknn output directory or word2vec text/binary file")
    parser.add_argument("--topn", type=positive_int, default=10)
    parser.add_argument("--output", required=True, help="Parquet output directory")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--block-rows", type=positive_int, default=2048, help="rows per block")
    parser.add_argument("--partitions", type=positive_int, help="Spark partitions")
    parser.add_argument("--master", help="Spark master (default: spark-submit's, or local[2])")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    setup_console_logging()
    try:
        args = parse_args(argv)
        check_output(args.output, [args.model], args.overwrite)
        from sparknn.spark.session import session
        from sparknn.word2vec.all_neighbors import write_neighbors
        from sparknn.word2vec.vectors import load_vectors

        vectors = load_vectors(args.model)
        if len(vectors) < 2:
            raise SparknnError("the model needs at least two words to have neighbours")
        spark = session(args.master, app_name="sparknn-neighbors")
        write_neighbors(
            spark, vectors, args.topn, args.output, args.block_rows, args.partitions,
            overwrite=args.overwrite,
        )  # fmt: skip
        print(f"wrote neighbours of {len(vectors):,} words to {args.output}", file=sys.stderr)
        return 0
    except SparknnError as error:
        print(f"neighbors: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
