"""Train the character-level LSTM language model with synchronous data-parallel SGD on Spark.

    spark-submit jobs/train_charlm.py --config conf/charlm.toml [--corpus PATH] [--output DIR]
        [--max-steps N] [--epochs N] [--batch-size N] [--hidden N] ... [--resume | --overwrite]

Writes to --output: metrics.csv (one row per step), checkpoints/, samples/epoch-N.txt
(temperatures 0.2, 0.5, 1.0, 1.2 from a seed string taken from the corpus), and the final
model.npz (``sparknn.load``) with vocab.json (``sparknn generate DIR``). An existing
--output needs --resume (continue its run) or --overwrite (replace it). Every setting (its
flag, TOML key, default and doc) is a field of :class:`sparknn.charlm.settings.CharLMSettings`;
``--help`` lists them. The run itself is :func:`sparknn.charlm.train.train`.
"""

import sys

from sparknn.charlm.settings import CharLMSettings
from sparknn.charlm.train import train
from sparknn.config import ArgumentParser, add_config_arguments, resolve
from sparknn.errors import SparknnError
from sparknn.logs import setup_console_logging


def parse_config(argv) -> CharLMSettings:
    parser = ArgumentParser(prog="train_charlm.py", description=__doc__.splitlines()[0])
    add_config_arguments(parser, CharLMSettings)
    return resolve(parser.parse_args(argv), CharLMSettings)


def main(argv=None) -> int:
    setup_console_logging()
    try:
        train(parse_config(argv))
    except SparknnError as error:
        print(f"train_charlm: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
