"""Train skip-gram word2vec on Spark.

    spark-submit jobs/train_word2vec.py --corpus PATH --output DIR [--overwrite]
        [--config conf/word2vec.toml]
        [--vector-size N --window N --epochs N --backend numpy|opencl|auto ...]
        [--master local[2]]

Every setting (its flag, TOML key, default and doc) is a field of
:class:`sparknn.word2vec.settings.Settings`; ``--help`` lists them.

Writes DIR/vectors.npy, vocab.tsv, metadata.json, vectors.txt (and vectors.bin with
--export-binary), all at once when training ends; an existing DIR only with --overwrite.
Training is :class:`sparknn.ml.Word2Vec` on the corpus's tokens (:mod:`sparknn.word2vec.job`);
the scheme is described in docs/word2vec-design.md.
"""

import sys

from sparknn.config import ArgumentParser, add_config_arguments, resolve
from sparknn.errors import SparknnError
from sparknn.files import check_output
from sparknn.logs import setup_console_logging
from sparknn.word2vec.settings import Settings


def parse_args(argv=None):
    parser = ArgumentParser(prog="train_word2vec.py", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", required=True, help="text file(s), dirs or globs")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--master", help="Spark master (default: spark-submit's, or local[2])")
    add_config_arguments(parser, Settings)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    setup_console_logging()
    try:
        args = parse_args(argv)
        settings = resolve(args, Settings)
        check_output(args.output, args.corpus, args.overwrite)
        from sparknn.ml import Word2Vec
        from sparknn.spark.session import session
        from sparknn.word2vec.job import TOKENS, in_job_terms, read_tokens, save_output

        spark = session(args.master, app_name="sparknn-word2vec")
        frame = read_tokens(spark, args.corpus, settings)
        with in_job_terms(args.corpus):
            model = Word2Vec.fromSettings(settings, inputCol=TOKENS).fit(frame)
        save_output(args.output, model, settings, args.corpus, overwrite=args.overwrite)
        print(f"wrote {len(model.wordVectors):,} vectors to {args.output}", file=sys.stderr)
        return 0
    except SparknnError as error:
        print(f"train_word2vec: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
