"""The char-LSTM training run behind ``jobs/train_charlm.py`` and the quick-start demo.

``train(settings, spark)`` reads and encodes the corpus with Spark, trains with synchronous
data-parallel SGD (:mod:`sparknn.distributed`) and writes to ``settings.output``:
metrics.csv (one row per step), checkpoints/, samples/epoch-N.txt (temperatures 0.2, 0.5,
1.0, 1.2 from a seed string taken from the corpus), and the final model.npz
(``sparknn.load``) with vocab.json (``sparknn generate DIR``). Its settings are a
:class:`~sparknn.charlm.settings.CharLMSettings`. An existing output is refused, unless ``resume``
(continue its run) or ``overwrite`` (it is removed once the corpus has been read). Progress
lines are logged at INFO (:mod:`sparknn.logs` prints them); a caller that wants every step
(a notebook's progress bar, curves) passes ``on_step``.
"""

import csv
import logging
import os
import time
from pathlib import Path

import numpy as np

from sparknn.backend import get_backend
from sparknn.charlm.model import (
    SAMPLE_TEMPERATURES,
    CharLMReplica,
    bits_per_char,
    build_charlm,
    sample,
    save_charlm,
)
from sparknn.charlm.settings import CharLMSettings
from sparknn.corpus import read_text
from sparknn.corpus.chars import build_corpus
from sparknn.distributed import BatchSchedule, SparkGradients
from sparknn.distributed.checkpoint import checkpoints
from sparknn.distributed.sources import executor_slots
from sparknn.distributed.trainer import fit, resume
from sparknn.errors import SparknnError
from sparknn.files import atomic_file, check_output, remove_directory
from sparknn.spark.session import session

log = logging.getLogger(__name__)

METRICS = [
    "step", "epoch", "train_loss", "val_loss", "val_bits_per_char", "examples_per_s",
    "compute_s", "framework_s", "update_s",
]  # fmt: skip


def spark_session(master: str):
    from pyspark import SparkConf

    # Under spark-submit the master comes from its --master; outside it, session() decides.
    if not master and "PYSPARK_GATEWAY_PORT" in os.environ:
        master = SparkConf().get("spark.master", None)
    return session(master or None, app_name="sparknn-charlm")


def run_signature(settings: CharLMSettings, corpus, model) -> dict:
    """What must match for --resume to continue the same run."""
    keys = ["seq_len", "batch_size", "seed", "hidden", "layers", "embedding_dim", "dtype",
            "lr", "clipnorm", "val_fraction"]  # fmt: skip
    return {
        **{key: getattr(settings, key) for key in keys},
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


def train(settings: CharLMSettings, spark=None, on_step=None) -> Path:
    """Run the training ``settings`` describe on ``spark`` (default: a session for
    ``settings.master``); return the path of the saved model.

    ``on_step(stats, val_loss)``, if given, is called after each step, once its metrics row,
    progress line and samples are written, with the step's
    :class:`~sparknn.distributed.trainer.StepStats` and the validation loss (nats per
    character) measured after it, or None when the step did not validate.
    """
    output = Path(settings.output)
    checkpoint_dir = output / "checkpoints"
    if not settings.resume and not settings.overwrite and checkpoints(checkpoint_dir):
        raise SparknnError(
            f"{output} already holds checkpoints of a run; pass --resume to continue it, "
            "--overwrite to replace it, or choose another --output"
        )
    check_output(output, settings.corpus, overwrite=settings.resume or settings.overwrite)
    try:
        get_backend(settings.backend)
    except ImportError as error:
        raise SparknnError(f"backend {settings.backend!r} is not available: {error}") from None

    spark = spark or spark_session(settings.master)
    lines = read_text(spark, settings.corpus, strip_gutenberg_headers=settings.strip_gutenberg)
    corpus = build_corpus(
        lines,
        seq_len=settings.seq_len,
        partitions=settings.partitions,
        tasks=executor_slots(spark, settings.partitions),
        val_fraction=settings.val_fraction,
        min_char_count=settings.min_char_count,
        paths=settings.corpus,
    )
    model = build_charlm(
        len(corpus.vocab),
        hidden=settings.hidden,
        layers=settings.layers,
        embedding_dim=settings.embedding_dim,
        lr=settings.lr,
        clipnorm=settings.clipnorm or None,
        seed=settings.seed,
        dtype=settings.dtype,
        backend=settings.backend,
    )
    signature = run_signature(settings, corpus, model)
    if settings.overwrite:
        remove_directory(output)  # not before: a bad corpus must not cost the old output
    output.mkdir(parents=True, exist_ok=True)
    start_step = resume(model, checkpoint_dir, signature) if settings.resume else 0

    schedule = BatchSchedule(corpus.train_windows, settings.batch_size, settings.seed)
    total = settings.max_steps or settings.epochs * schedule.steps_per_epoch
    log.info(
        f"corpus: {corpus.n_chars} chars, vocab {len(corpus.vocab)}, "
        f"{len(corpus.train_windows)} train / {len(corpus.val_windows)} val windows, "
        f"{corpus.partitions} partitions on {corpus.tasks} tasks; model: {model.params.size} "
        f"params; {schedule.steps_per_epoch} steps/epoch, training steps {start_step}..{total}"
    )
    replica = CharLMReplica.factory(model.get_config(), settings.backend)
    with (
        corpus,
        SparkGradients(
            spark, corpus.shards, replica, model.params.size, model.dtype, log=log.info
        ) as source,
        MetricsFile(output / "metrics.csv", keep_until_step=start_step) as metrics,
    ):
        began = time.perf_counter()
        each_step = progress(
            settings, output, model, corpus, schedule, total, source, metrics, on_step
        )
        fit(
            model,
            source,
            schedule,
            total,
            start_step=start_step,
            on_step=each_step,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=settings.checkpoint_every,
            checkpoint_meta=signature,
        )
    path = save_charlm(model, corpus.vocab, output)
    elapsed = time.perf_counter() - began
    log.info(f"done: {total - start_step} steps in {elapsed:.1f} s; model {path}")
    return path


def progress(
    settings: CharLMSettings, output: Path, model, corpus, schedule, total: int, source, metrics,
    caller_on_step=None,
):  # fmt: skip
    """The ``on_step`` of the training loop: a metrics.csv row per step, validation at the
    end of each epoch (and every ``eval_every`` steps), a progress line every ``log_every``
    steps, samples at the end of each epoch, then ``caller_on_step(stats, val_loss)``."""
    val_windows = corpus.val_windows[: settings.val_max_windows or None]
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
        evaluate = end_of_epoch or (settings.eval_every and stats.step % settings.eval_every == 0)
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
        if stats.step % settings.log_every == 0 or stats.step == total or val is not None:
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
                corpus.seed_text, settings.sample_length, settings.seed, stats.epoch,
            )  # fmt: skip
            excerpt = " ".join(texts[0.5].split())[:100]  # one line; the file has them all
            log.info(f"  sample at temperature 0.5: {excerpt}...")
        if caller_on_step is not None:
            caller_on_step(stats, val)

    return on_step
