"""The ``sparknn`` console script: a thin dispatcher to per-feature subcommands.

Each subcommand lives next to the feature it drives and exposes
``add_arguments(parser)`` and ``run(args) -> int``; this module only wires them up
and turns :class:`~sparknn.errors.SparknnError` into a one-line message and exit 2.
"""

import argparse
import sys
from importlib import import_module

from sparknn import __version__
from sparknn.config import ArgumentParser
from sparknn.errors import SparknnError

# name -> (module, one-line help). Modules are imported only when their command runs.
SUBCOMMANDS = {
    "generate": ("sparknn.charlm.cli", "generate text from a trained char-LSTM model"),
    "neighbors": ("sparknn.word2vec.cli_neighbors", "nearest neighbours of words"),
    "analogy": ("sparknn.word2vec.cli_analogy", "solve a : b :: c : ?"),
    "evaluate": ("sparknn.word2vec.cli_evaluate", "analogy accuracy and word-pair correlation"),
    "cluster": ("sparknn.spark.cluster", "start/stop/status of a local standalone Spark cluster"),
    "class-archive": (
        "sparknn.spark.class_archive",
        "make the class archive Spark's JVMs start from (once)",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparknn", description="sparknn: neural-network training on Apache Spark."
    )
    parser.add_argument("--version", action="version", version=f"sparknn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv)  # handles --version/--help and unknown commands
        parser.print_help()
        return 2
    name, rest = argv[0], argv[1:]
    module = import_module(SUBCOMMANDS[name][0])
    command_parser = ArgumentParser(prog=f"sparknn {name}", description=SUBCOMMANDS[name][1])
    module.add_arguments(command_parser)
    args = command_parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except SparknnError as error:
        print(f"sparknn {name}: error: {error}", file=sys.stderr)
        return 2
