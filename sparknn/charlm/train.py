"""The char-LSTM training run behind ``jobs/train_charlm.py`` and the quick-start demo.

``train(config, spark)`` reads and encodes the corpus with Spark, trains with synchronous
data-parallel SGD (:mod:`sparknn.distributed`) and writes to ``config["output"]``:
metrics.csv (one row per step), checkpoints/, samples/epoch-N.txt (temperatures 0.2, 0.5,
1.0, 1.2 from a seed string taken from the corpus), and the final model.npz
(``sparknn.load``) with vocab.json (``sparknn generate DIR``). ``DEFAULTS`` lists every key,
``RULES`` the values they may take. An existing output is refused, unless ``resume``
(continue its run) or ``overwrite`` (it is removed once the corpus has been read). Progress
lines are logged at INFO (:mod:`sparknn.logs` prints them).
"""

import csv
import logging
import os
import time
from pathlib import Path

import numpy as np

from sparknn.backend import BACKENDS
from sparknn.charlm.model import (
    SAMPLE_TEMPERATURES,
    CharLMReplica,
    bits_per_char,
    build_charlm,
    sample,
    save_charlm,
)
from sparknn.config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, one_of
from sparknn.corpus import SHIPPED_CORPUS
from sparknn.errors import SparknnError
from sparknn.files import atomic_file, check_output, remove_directory

log = logging.getLogger(__name__)

DEFAULTS = {
    "corpus": str(SHIPPED_CORPUS),
    "strip_gutenberg": True,
    "seq_len": 100,
    "val_fraction": 0.05,
    "val_max_windows": 512,
    "min_char_count": 2,
    "partitions": 2,
    "hidden": 128,
    "layers": 1,
    "embedding_dim": 32,
    "dtype": "float32",
    "backend": "numpy",
    "batch_size": 64,
    "lr": 0.002,
    "clipnorm": 5.0,
    "epochs": 1,
    "max_steps": 0,
    "seed": 0,
    "output": "runs/charlm",
    "checkpoint_every": 200,
    "resume": False,
    "overwrite": False,
    "log_every": 10,
    "eval_every": 0,
    "sample_length": 300,
    "master": "",
}
# The values each number or choice may take, checked as the config is read (sparknn.config).
RULES = {
    "seq_len": AT_LEAST_ONE, "val_fraction": FRACTION, "val_max_windows": NON_NEGATIVE,
    "min_char_count": NON_NEGATIVE, "partitions": AT_LEAST_ONE, "hidden": AT_LEAST_ONE,
    "layers": AT_LEAST_ONE, "embedding_dim": AT_LEAST_ONE, "dtype": one_of(("float32", "float64")),
    "backend": one_of(BACKENDS), "batch_size": AT_LEAST_ONE, "lr": POSITIVE,
    "clipnorm": NON_NEGATIVE, "epochs": NON_NEGATIVE, "max_steps": NON_NEGATIVE,
    "seed": NON_NEGATIVE, "checkpoint_every": NON_NEGATIVE, "log_every": AT_LEAST_ONE,
    "eval_every": NON_NEGATIVE, "sample_length": AT_LEAST_ONE,
}  # fmt: skip
METRICS = [
    "step", "epoch", "train_loss", "val_loss", "val_bits_per_char", "examples_per_s",
    "compute_s", "framework_s", "update_s",
]  # fmt: skip


def spark_session(master: str):
    from pyspark import SparkConf

    from sparknn.spark.session import session

    # Under spark-submit the master comes from its --master; outside it, session() decides.
    if not master and "PYSPARK_GATEWAY_PORT" in os.environ:
        master = SparkConf().get("spark.master", None)
    return session(master or None, app_name="sparknn-charlm")


def run_signature(config, corpus, model) -> dict:
    """What must match for --resume to continue the same run."""
    keys = ["seq_len", "batch_size", "seed", "hidden", "layers", "embedding_dim", "dtype",
            "lr", "clipnorm", "val_fraction"]  # fmt: skip
    return {
        **{key: config[key] for key in keys},
        "vocab": corpus.vocab.to_json(),
        "n_chars": corpus.n_chars,
        "n_params": int(model.params.size),
    }


class MetricsFile:
    """metrics.csv, appended one row per step; on resume, rows after the checkpoint are cut.
    A context manager: leaving the ``with`` block closes the file."""

    def __init__(self, path: Path, keep_until_step: int | None):
        self.path = path
        rows = []
        if keep_until_step is not None and path.is_file():
            with path.open(newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= keep_until_step]
        with atomic_file(path) as handle:
            writer = csv.DictWriter(handle, METRICS)
            writer.writeheader()
            writer.writerows(rows)
        self.handle = path.open("a", newline="")
        self.writer = csv.DictWriter(self.handle, METRICS)

    def write(self, row: dict) -> None:
        self.writer.writerow(row)
        self.handle.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        self.handle.close()


def write_samples(path: Path, model, vocab, seed_text, length, seed, epoch) -> dict:
    """Sample at every temperature into ``path``; returns {temperature: text}."""
    rng = np.random.default_rng([seed, epoch])
    texts = {
        t: seed_text + sample(model, vocab, seed_text, length, t, rng) for t in SAMPLE_TEMPERATURES
    }
    parts = [f"seed text: {seed_text!r}\n"]
    parts += [f"\n----- temperature {t} -----\n{text}\n" for t, text in texts.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text("".join(parts), encoding="utf-8")
    os.replace(tmp, path)
    return texts


def format_eta(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else (f"{seconds // 60}m{seconds % 60:02d}s")
    )


def train(config: dict, spark=None) -> Path:
    from sparknn.backend import get_backend
    from sparknn.corpus import read_text
    from sparknn.corpus.chars import build_corpus
    from sparknn.distributed import BatchSchedule, SparkGradients
    from sparknn.distributed.checkpoint import checkpoints
    from sparknn.distributed.sources import executor_slots
    from sparknn.distributed.trainer import fit, resume

    output = Path(config["output"])
    checkpoint_dir = output / "checkpoints"
    if config["resume"] and config["overwrite"]:
        raise SparknnError("pass --resume (continue the run in --output) or --overwrite, not both")
    if not config["resume"] and not config["overwrite"] and checkpoints(checkpoint_dir):
        raise SparknnError(
            f"{output} already holds checkpoints of a run; pass --resume to continue it, "
            "--overwrite to replace it, or choose another --output"
        )
    check_output(output, config["corpus"], overwrite=config["resume"] or config["overwrite"])
    try:
        get_backend(config["backend"])
    except ImportError as error:
        raise SparknnError(f"backend {config['backend']!r} is not available: {error}") from None

    spark = spark or spark_session(config["master"])
    lines = read_text(spark, config["corpus"], strip_gutenberg_headers=config["strip_gutenberg"])
    corpus = build_corpus(
        lines,
        seq_len=config["seq_len"],
        partitions=config["partitions"],
        tasks=executor_slots(spark, config["partitions"]),
        val_fraction=config["val_fraction"],
        min_char_count=config["min_char_count"],
        paths=config["corpus"],
    )
    model = build_charlm(
        len(corpus.vocab),
        hidden=config["hidden"],
        layers=config["layers"],
        embedding_dim=config["embedding_dim"],
        lr=config["lr"],
        clipnorm=config["clipnorm"] or None,
        seed=config["seed"],
        dtype=config["dtype"],
        backend=config["backend"],
    )
    signature = run_signature(config, corpus, model)
    if config["overwrite"]:
        remove_directory(output)  # not before: a bad corpus must not cost the old output
    output.mkdir(parents=True, exist_ok=True)
    start_step = resume(model, checkpoint_dir, signature) if config["resume"] else 0

    schedule = BatchSchedule(corpus.train_windows, config["batch_size"], config["seed"])
    total = config["max_steps"] or config["epochs"] * schedule.steps_per_epoch
    log.info(
        f"corpus: {corpus.n_chars} chars, vocab {len(corpus.vocab)}, "
        f"{len(corpus.train_windows)} train / {len(corpus.val_windows)} val windows, "
        f"{corpus.partitions} partitions on {corpus.tasks} tasks; model: {model.params.size} "
        f"params; {schedule.steps_per_epoch} steps/epoch, training steps {start_step}..{total}"
    )
    replica = CharLMReplica.factory(model.get_config(), config["backend"])
    with (
        corpus,
        SparkGradients(
            spark, corpus.shards, replica, model.params.size, model.dtype, log=log.info
        ) as source,
        MetricsFile(output / "metrics.csv", keep_until_step=start_step) as metrics,
    ):
        began = time.perf_counter()
        on_step = progress(config, output, model, corpus, schedule, total, source, metrics)
        fit(
            model,
            source,
            schedule,
            total,
            start_step=start_step,
            on_step=on_step,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=config["checkpoint_every"],
            checkpoint_meta=signature,
        )
    path = save_charlm(model, corpus.vocab, output)
    elapsed = time.perf_counter() - began
    log.info(f"done: {total - start_step} steps in {elapsed:.1f} s; model {path}")
    return path


def progress(config, output: Path, model, corpus, schedule, total: int, source, metrics):
    """The ``on_step`` of the training loop: a metrics.csv row per step, validation at the
    end of each epoch (and every ``eval_every`` steps), a progress line every ``log_every``
    steps, and samples at the end of each epoch."""
    val_windows = corpus.val_windows[: config["val_max_windows"] or None]
    recent = []

    def validate(step):
        if not len(val_windows):
            return float("nan")
        loss, n = source.evaluate(val_windows, model.params, version=step)
        return loss / n

    def on_step(stats):
        recent.append(stats.seconds)
        del recent[:-20]
        end_of_epoch = stats.step % schedule.steps_per_epoch == 0 or stats.step == total
        evaluate = end_of_epoch or (config["eval_every"] and stats.step % config["eval_every"] == 0)
        val = validate(stats.step) if evaluate else None
        metrics.write({
            "step": stats.step, "epoch": stats.epoch, "train_loss": f"{stats.loss:.5f}",
            "val_loss": "" if val is None else f"{val:.5f}",
            "val_bits_per_char": "" if val is None else f"{bits_per_char(val):.4f}",
            "examples_per_s": f"{stats.examples / stats.seconds:.1f}",
            "compute_s": f"{stats.compute_seconds:.4f}",
            "framework_s": f"{stats.framework_seconds:.4f}",
            "update_s": f"{stats.update_seconds:.4f}",
        })  # fmt: skip
        if stats.step % config["log_every"] == 0 or stats.step == total or val is not None:
            per_step = sum(recent) / len(recent)
            line = (
                f"step {stats.step}/{total}  epoch {stats.epoch}  loss {stats.loss:.4f}  "
                f"{stats.examples / per_step:.0f} ex/s  "
                f"ETA {format_eta(per_step * (total - stats.step))}"
            )
            if val is not None:
                line += f"  val_loss {val:.4f} ({bits_per_char(val):.3f} bits/char)"
            log.info(line)
        if end_of_epoch:
            texts = write_samples(
                output / "samples" / f"epoch-{stats.epoch + 1}.txt", model, corpus.vocab,
                corpus.seed_text, config["sample_length"], config["seed"], stats.epoch,
            )  # fmt: skip
            excerpt = " ".join(texts[0.5].split())[:100]  # one line; the file has them all
            log.info(f"  sample at temperature 0.5: {excerpt}...")

    return on_step
