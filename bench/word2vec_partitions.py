"""word2vec quality by partition count and round settings, in one process (no timing).

    PYTHONPATH=$PWD .venv/bin/python bench/word2vec_partitions.py --corpus wikitext-2 \
        --partitions 1 4 --seeds 1 2 3 [--set sync_start_words=45000 send_min_updates=1]

Trains with ``train_local`` (the same replicas, rounds and merges as the Spark job, one
after the other in this process: for a seed, the vectors of bench/word2vec.py's run with
that number), with the OpenCL backend and the job's defaults, overridden by ``--set
key=value``. Prints each run's questions-words accuracy (restrict_vocab 30000) and the rows
a partition sent per round, then the median accuracy per partition count and its ratio to
the first count's. Needs gensim (``make bench``) for the questions file only.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.negatives import corpus_vocabulary  # noqa: E402
from sparknn.word2vec import (  # noqa: E402
    Settings,
    WordVectors,
    encode_lines,
    split_lines,
    train_local,
)


def parse_value(key: str, text: str):
    if key not in Settings.__dataclass_fields__:
        raise SystemExit(f"--set: {key!r} is not a training setting")
    default = Settings.__dataclass_fields__[key].default
    if isinstance(default, bool):
        if text.lower() not in ("true", "false"):
            raise SystemExit(f"--set: {key} takes true or false, not {text!r}")
        return text.lower() == "true"
    return type(default)(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="wikitext-2", choices=["wikitext-2", "gutenberg-25m"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--partitions", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--workdir", default="/tmp/sparknn-w2v")
    args = parser.parse_args()
    from gensim.test.utils import datapath

    overrides = {k: parse_value(k, v) for k, v in (item.split("=", 1) for item in args.set)}
    lines, vocab = corpus_vocabulary(args.corpus, args.workdir)
    settings = dict(backend="opencl", epochs=args.epochs, **overrides)
    print(f"{args.corpus}: {len(vocab):,} words; settings {json.dumps(overrides)}", flush=True)
    medians = {}
    for partitions in args.partitions:
        parts = [encode_lines(chunk, vocab, str.split) for chunk in split_lines(lines, partitions)]
        accuracies = []
        for seed in args.seeds:
            began = time.perf_counter()
            result = train_local(vocab, parts, Settings(**{**settings, "seed": seed}))
            vectors = WordVectors(vocab.words, result.vectors)
            accuracy, _ = vectors.evaluate_word_analogies(datapath("questions-words.txt"))
            accuracies.append(accuracy)
            sent = result.metadata["rows_sent_per_round"]
            print(
                f"  partitions {partitions} seed {seed}: analogy {accuracy:.4f}, "
                f"{result.metadata['rounds']} rounds, rows sent per partition and round: "
                f"syn0 {sent['syn0']:,.0f}, syn1neg {sent['syn1neg']:,.0f} "
                f"({time.perf_counter() - began:.0f} s)",
                flush=True,
            )
        medians[partitions] = float(np.median(accuracies))
    first = args.partitions[0]
    for partitions, median in medians.items():
        ratio = median / medians[first]
        print(f"partitions {partitions}: median analogy {median:.4f}, x {first}: {ratio:.3f}")


if __name__ == "__main__":
    main()
