"""What each part of the word2vec kernel costs, or a kernel change against an earlier commit.

    PYTHONPATH=$PWD .venv/bin/python bench/sgns_variants.py --corpus gutenberg-25m \
        --words 1000000 --runs 5 --variants no-loss no-counts small-table frequent-negatives
    PYTHONPATH=$PWD .venv/bin/python bench/sgns_variants.py --against 6171b17

Times ``sgns_train`` (the OpenCL backend, one work-item: one core) as the job runs it, with
its hyperparameters (dim 100, window 5, negative 5, sample 1e-3, min_count 5), over the
first ``--words`` tokens of the corpus (vocabulary and negative table from the whole
corpus) in rounds of 50,000 tokens, against variants of it:

* ``--variants``: the working tree's kernel with one part taken out or changed (edits of
  its source below, for measuring only: most compute something else than the kernel):
  ``no-loss`` (no loss terms), ``no-counts`` (no per-row update counts), ``small-table``
  (a negative table of 100,000 slots instead of 10 M: it fits in L2, but the rarest words
  lose their slots), ``frequent-negatives`` (negatives from the 1,000 most frequent words
  only, no table: rows and table in cache), ``uniform-negatives`` (negatives uniform over
  the vocabulary, no table: mostly rows out of cache);
* ``--against REV``: the kernel sources of an earlier commit (``git show``).

Each variant trains its own model from the same start and seeds, and the variants take
turns round by round (the order rotating), in one process: a shared machine's speed drifts
by 10-30% from minute to minute here, and alternating whole runs measured differences that
round-by-round turns did not. words/s are per CPU second of the process (the kernel runs
on PoCL's threads in it); the ratios are against the working tree's kernel, per run and
the median of those. The losses are printed: a variant that computes the same thing gives
the same loss up to float rounding.
"""

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Internal on purpose: the variants replace the backend's kernel sources and its cache of
# built kernels (see Variant.use), so this bench reaches into the OpenCL backend's module.
import sparknn.backend.opencl_backend as opencl_backend  # noqa: E402
from bench.negatives import (  # noqa: E402
    CORPORA,
    ROUND_WORDS,
    corpus_vocabulary,
    first_tokens,
    round_inputs,
)
from sparknn.backend import OpenCLBackend, SGNSRun  # noqa: E402
from sparknn.word2vec import Tables, init_vectors, negative_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KERNELS = "sparknn/backend/kernels"
LOOK_UP = "ready->negative[k] = table[drawn->slot[k]];"

# Variant name -> (edits of sgns.cl as (old, new) pairs, negative table size or None).
VARIANTS = {
    "no-loss": (
        [("  *loss += log1p_unit(e) + (signed_score < 0.0f ? -signed_score : 0.0f);\n", "")],
        None,
    ),
    "no-counts": (
        [("#define COUNT(counts, row) (++(counts)[row])", "#define COUNT(counts, row) ((void)0)")],
        None,
    ),
    "small-table": ([], 100_000),
    "frequent-negatives": (
        [(LOOK_UP, "ready->negative[k] = (int)(drawn->slot[k] % 1000u);")],
        None,
    ),
    "uniform-negatives": (
        [(LOOK_UP, "ready->negative[k] = (int)(drawn->slot[k] % VOCAB_SIZE);")],
        None,
    ),
}


def kernel_sources(revision: str | None) -> dict:
    """``{file name: source}`` of the kernels: the working tree's, or ``revision``'s."""
    if revision is None:
        return {path.name: path.read_text() for path in (ROOT / KERNELS).glob("*.cl")}

    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout

    names = git("ls-tree", "--name-only", f"{revision}:{KERNELS}").split()
    return {name: git("show", f"{revision}:{KERNELS}/{name}") for name in names}


def edited(sources: dict, edits, vocab_size: int) -> dict:
    text = sources["sgns.cl"]
    for old, new in edits:
        if old not in text:
            raise SystemExit(f"sgns.cl no longer contains {old.strip()!r}: update VARIANTS")
        text = text.replace(old, new.replace("VOCAB_SIZE", f"{vocab_size}u"))
    return {**sources, "sgns.cl": text}


@dataclasses.dataclass
class Variant:
    """A kernel variant: its sources in a folder of their own, its own cache of built
    kernels, its negative table."""

    name: str
    folder: Path
    table: np.ndarray
    kernels: dict = dataclasses.field(default_factory=dict)

    def use(self, device) -> None:
        """Make the backend build and run this variant's kernels."""
        device.kernels = self.kernels
        opencl_backend.resources = types.SimpleNamespace(files=lambda package: self.folder)


def make_variant(name, sources, table, workdir: Path) -> Variant:
    folder = workdir / name
    (folder / "kernels").mkdir(parents=True)
    for file_name, text in sources.items():
        (folder / "kernels" / file_name).write_text(text)
    return Variant(name, folder, table)


def train_round(backend, variant, model, tokens, starts, lo, keep_prob):
    """The round from ``lo`` (:func:`round_inputs`) on ``model``: ``(CPU seconds, loss)``."""
    round_tokens, round_starts, alphas = round_inputs(tokens, starts, lo)
    vocab_size = len(model[0])
    counts0, counts1 = np.zeros(vocab_size, np.int32), np.zeros(vocab_size, np.int32)
    run = SGNSRun(keep_prob, variant.table, 5, 5, *alphas, 1 + lo)
    began = time.process_time()
    loss, _ = backend.sgns_train(*model, round_tokens, round_starts, run, counts0, counts1)
    return time.process_time() - began, loss


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="gutenberg-25m", choices=CORPORA)
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--variants", nargs="*", default=[], choices=sorted(VARIANTS))
    parser.add_argument("--against", help="also time the kernels of this earlier commit")
    parser.add_argument("--workdir", default="/tmp/sparknn-w2v")
    args = parser.parse_args()
    if not args.variants and not args.against:
        parser.error("name --variants, --against, or both")
    lines, vocab = corpus_vocabulary(args.corpus, args.workdir)
    tokens, starts = first_tokens(lines, vocab, args.words)
    tables = Tables.build(vocab, 1e-3)
    backend = OpenCLBackend()
    device = backend._dev()
    current = kernel_sources(None)
    with tempfile.TemporaryDirectory() as tmp:
        variants = [make_variant("current", current, tables.negatives, Path(tmp))]
        if args.against:
            variants.append(
                make_variant(
                    args.against, kernel_sources(args.against), tables.negatives, Path(tmp)
                )  # fmt: skip
            )
        for name in args.variants:
            edits, table_size = VARIANTS[name]
            table = tables.negatives if table_size is None else negative_table(
                vocab.counts, table_size
            )  # fmt: skip
            variants.append(make_variant(name, edited(current, edits, len(vocab)), table,
                                         Path(tmp)))  # fmt: skip
        for variant in variants:  # build every kernel before timing
            variant.use(device)
            model = init_vectors(len(vocab), 100, seed=1)
            train_round(backend, variant, model, tokens, starts, 0, tables.keep_prob)
        print(f"{args.corpus}: {len(tokens):,} tokens, {len(vocab):,} words", flush=True)
        rates = {variant.name: [] for variant in variants}
        for run in range(args.runs):
            models = {v.name: init_vectors(len(vocab), 100, seed=1) for v in variants}
            seconds = dict.fromkeys(rates, 0.0)
            losses = dict.fromkeys(rates, 0.0)
            for index, lo in enumerate(range(0, len(tokens), ROUND_WORDS)):
                turn = index % len(variants)
                for variant in variants[turn:] + variants[:turn]:
                    variant.use(device)
                    cpu, loss = train_round(backend, variant, models[variant.name], tokens,
                                            starts, lo, tables.keep_prob)  # fmt: skip
                    seconds[variant.name] += cpu
                    losses[variant.name] += loss
            for name in rates:
                rates[name].append(len(tokens) / seconds[name])
            print(f"run {run + 1}: " + "  ".join(
                f"{name} {rates[name][-1]:,.0f} ({rates[name][-1] / rates['current'][-1]:.3f}, "
                f"loss {losses[name]:,.1f})" for name in rates
            ), flush=True)  # fmt: skip
    base = np.array(rates["current"])
    print("medians, words per CPU second (x current: median of the per-run ratios):")
    for name, values in rates.items():
        ratios = np.array(values) / base
        print(f"  {name:<20} {np.median(values):>10,.0f}  {np.median(ratios):.3f}x  "
              f"(per run {', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip


if __name__ == "__main__":
    main()
