"""The driver loop of word2vec training, shared by one process and Spark: rounds, merges,
recovery points and progress (:func:`run_rounds`); :func:`train_local`, every replica in this
process, the reference for the Spark run (:func:`sparknn.word2vec.spark.train_spark`).

A seed gives the same vectors for a given partition count whichever runs the rounds (one
process or a cluster, the numpy backend or a one-work-item OpenCL kernel), and after a lost
replica the driver trains again from its last recovery point, to the same vectors. The
scheme, its choices and their measurements: docs/word2vec-design.md.
"""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace

import numpy as np

from sparknn.divergence import DivergenceCheck
from sparknn.word2vec.memory import keep_freed_memory
from sparknn.word2vec.merge import MERGE_BLOCKS, MERGE_THREADS, merge_backend, merge_blocks
from sparknn.word2vec.replica import NO_ROWS, PartitionTrainer, Tables, init_vectors
from sparknn.word2vec.schedule import round_schedule, round_words
from sparknn.word2vec.settings import Settings
from sparknn.word2vec.vocab import Vocabulary

log = logging.getLogger(__name__)


class Progress:
    """Logs words/s, alpha, epoch and ETA at INFO every few seconds and per epoch."""

    def __init__(self, total_words: int, epochs: int, every: float = 2.0):
        self.total, self.epochs = total_words * epochs, epochs
        self.every = every
        self.done = 0
        self.started = self.printed = time.perf_counter()

    def update(self, epoch, words, loss, pairs, alpha, epoch_done=False):
        self.done += words
        now = time.perf_counter()
        if not epoch_done and now - self.printed < self.every:
            return
        self.printed = now
        rate = self.done / max(now - self.started, 1e-9)
        eta = (self.total - self.done) / max(rate, 1e-9)
        log.info(
            f"epoch {epoch + 1}/{self.epochs} {100 * self.done / max(self.total, 1):5.1f}%: "
            f"{rate:,.0f} words/s, alpha {alpha:.5f}, loss/pair {loss / max(pairs, 1):.4f}, "
            f"ETA {eta:.0f}s"
        )


@dataclass
class TrainResult:
    vocab: Vocabulary
    vectors: np.ndarray  # syn0, float32 (V, d)
    metadata: dict


# The driver keeps a recovery point every this many rounds (see "Recovery" in
# docs/word2vec-design.md).
RECOVERY_ROUNDS = 20


class ReplicasLost(Exception):
    """A round source lost its replicas mid-round (a Spark task failed and Spark relaunches
    the stage): the driver goes back to its last recovery point."""


@dataclass
class RecoveryPoint:
    """All it takes to train again from round ``round`` (in the flat order of every
    epoch's rounds) exactly as the first time: the model at the round's start, each
    partition's unsent rows then, and the sums reported so far."""

    round: int
    model: tuple  # (syn0, syn1neg) copies
    unsent: dict  # partition -> PartitionTrainer.unsent_rows()
    sums: np.ndarray  # (epochs, 2): loss and pairs by epoch
    words_done: int


def run_rounds(vocab, partition_sizes, settings, source, verbose=True, model=None):
    """The driver loop shared by local and Spark training: rounds, merges, progress.

    ``source.run_round(epoch, round_index, start, stop, update, model, report_unsent,
    restore)`` has every partition apply ``update`` (the rows merged last round and their
    new values), train on the fraction ``[start, stop)`` and return the :class:`RoundResult`
    list ordered by partition, with the unsent rows (before training) when
    ``report_unsent``. It raises :class:`ReplicasLost` when replicas were lost; the driver
    then goes back to its last :class:`RecoveryPoint` and calls it with ``restore`` (partition
    -> unsent rows there): the replicas are new and must be sent the whole ``model`` and
    their unsent rows. With ``settings.hogwild``, ``model`` is the one the replicas train in
    place (they send no rows, so the merges are empty), and a lost round is just retried.

    A round whose loss per pair diverged or whose merged rows are no longer finite raises
    :class:`SparknnError` (:mod:`sparknn.divergence`).
    """
    keep_freed_memory()
    backend = merge_backend(settings.backend)
    if model is None:
        model = init_vectors(len(vocab), settings.vector_size, settings.seed)
    syn0, syn1neg = model
    largest = max(partition_sizes, default=0)
    schedules = round_schedule(
        largest, settings.epochs, *round_words(settings, len(partition_sizes))
    )
    plan = [
        (epoch, index, cuts[index], cuts[index + 1])
        for epoch, cuts in enumerate(schedules)
        for index in range(len(cuts) - 1)
    ]
    progress = Progress(sum(partition_sizes), settings.epochs)
    empty = np.zeros(0, dtype=np.int32)
    nothing_merged = (empty, syn0[empty], empty, syn1neg[empty])
    update = nothing_merged  # before round 1
    started, started_at = time.perf_counter(), time.time()
    compute_seconds = merge_seconds = 0.0
    rows_sent = np.zeros(2, dtype=np.int64)  # syn0, syn1neg rows the partitions sent
    sums = np.zeros((settings.epochs, 2))  # loss, pairs by epoch
    # hogwild's tasks race, so no run of it is exact: a lost round is only tried again.
    exact = not settings.hogwild
    recovery = None
    if exact:
        recovery = RecoveryPoint(0, (syn0.copy(), syn1neg.copy()), {}, sums.copy(), 0)
    restore = None  # after a loss: the new replicas' unsent rows
    divergence = DivergenceCheck("lower alpha")
    pool = ThreadPoolExecutor(max_workers=MERGE_THREADS, thread_name_prefix="sparknn-merge")
    i = 0
    while i < len(plan):
        epoch, round_index, start, stop = plan[i]
        at_recovery_point = exact and i > recovery.round and i % RECOVERY_ROUNDS == 0
        try:
            results = source.run_round(
                epoch, round_index, start, stop, update, (syn0, syn1neg), at_recovery_point,
                restore,
            )  # fmt: skip
        except ReplicasLost:
            restore, update = {}, nothing_merged
            if exact:
                i, restore = recovery.round, recovery.unsent
                np.copyto(syn0, recovery.model[0])
                np.copyto(syn1neg, recovery.model[1])
                sums[...], progress.done = recovery.sums, recovery.words_done
            continue
        restore = None
        if at_recovery_point:
            # The round is done and the model still as it began (only the merge below changes
            # it): the new point overwrites the old one's copy, no longer needed, in place.
            np.copyto(recovery.model[0], syn0)
            np.copyto(recovery.model[1], syn1neg)
            recovery.sums[...], recovery.words_done = sums, progress.done
            recovery.round, recovery.unsent = i, {r.partition: r.unsent for r in results}
        merging = time.perf_counter()
        how, eta = settings.merge, settings.merge_eta
        merging0 = merge_blocks(
            pool, syn0, [(r.rows0, r.deltas0, r.counts0) for r in results], how, eta, 1,
            backend,
        )  # fmt: skip
        merging1 = merge_blocks(
            pool, syn1neg, [(r.rows1, r.deltas1, r.counts1) for r in results], how, eta,
            MERGE_BLOCKS, backend,
        )  # fmt: skip
        update = (*merging0(), *merging1())
        merge_seconds += time.perf_counter() - merging
        compute_seconds += max(r.seconds for r in results)
        rows_sent += [sum(len(r.rows0) for r in results), sum(len(r.rows1) for r in results)]
        loss, pairs = sum(r.loss for r in results), sum(r.pairs for r in results)
        sums[epoch] += loss, pairs
        where = f"epoch {epoch + 1}, round {round_index + 1}"
        if pairs:
            divergence.check(loss / pairs, where)
        if not (np.isfinite(update[1]).all() and np.isfinite(update[3]).all()):
            divergence.fail(f"vectors became non-finite at {where}")
        if verbose:
            last = round_index == len(schedules[epoch]) - 2
            alpha = min(r.alpha for r in results)
            words = sum(r.words for r in results)
            progress.update(epoch, words, loss, pairs, alpha, epoch_done=last)
        i += 1
    pool.shutdown()
    if not np.isfinite(syn0).all():  # hogwild merges nothing: its vectors are checked here
        divergence.fail("vectors became non-finite by the end of training")
    seconds = time.perf_counter() - started
    words = sum(partition_sizes) * settings.epochs
    metadata = {
        "settings": asdict(settings),
        "rounds": len(plan),
        "partitions": len(partition_sizes),
        "training_seconds": seconds,
        "training_started_unix": started_at,
        "words_per_second": words / max(seconds, 1e-9),
        # Of training_seconds: the slowest partition's training summed over rounds, and
        # the driver's merges; the rest is exchanging rows and waiting.
        "compute_seconds": compute_seconds,
        "merge_seconds": merge_seconds,
        # Rows a partition sent per round, on average: the size of the exchanges.
        "rows_sent_per_round": {
            name: float(sent / max(len(plan) * len(partition_sizes), 1))
            for name, sent in zip(("syn0", "syn1neg"), rows_sent, strict=True)
        },
        "loss_per_pair_by_epoch": [float(loss / max(pairs, 1)) for loss, pairs in sums],
    }
    return syn0, metadata


class LocalRounds:
    """Every partition's replica in this process, trained one after the other.

    ``make_trainers()`` builds them; after a loss (``restore`` given) they are built again,
    as a relaunched Spark stage's are, and sent the whole model."""

    def __init__(self, make_trainers):
        self.make_trainers = make_trainers
        self.trainers = make_trainers()

    def run_round(
        self, epoch, round_index, start, stop, update, model, report_unsent=False, restore=None
    ):  # fmt: skip
        if restore is not None:
            self.trainers = self.make_trainers()
            everything = np.arange(len(model[0]), dtype=np.int32)
            update = (everything, model[0], everything, model[1])
        results = []
        for trainer in self.trainers:
            lost = None if restore is None else restore.get(trainer.partition, NO_ROWS)
            results.append(
                trainer.round(epoch, round_index, start, stop, update, lost, report_unsent)
            )
        return results


def local_trainers(vocab: Vocabulary, parts, settings: Settings, model=None):
    """``make_trainers`` of :class:`LocalRounds`: a replica for each of ``parts`` (list of
    (tokens, sentence_starts)); given ``model`` (hogwild), all train it in place."""
    tables = Tables.build(vocab, settings.sample)

    def make_trainers():
        return [
            PartitionTrainer(p, tokens, starts, len(vocab), settings, tables, len(parts), model)
            for p, (tokens, starts) in enumerate(parts)
        ]

    return make_trainers


def train_local(vocab: Vocabulary, parts, settings: Settings, verbose=False) -> TrainResult:
    """Train in this process on ``parts`` (list of (tokens, sentence_starts)), same scheme:
    one partition per part, whatever ``settings.partitions`` says (the metadata says
    ``len(parts)``).

    With ``verbose``, progress lines (words/s, alpha, ETA) are logged at INFO on the
    ``sparknn`` logger (``sparknn.word2vec.rounds``); nothing is printed. To see them, call
    :func:`sparknn.logs.setup_console_logging` (or configure :mod:`logging` yourself)."""
    settings = replace(settings, partitions=len(parts))
    # hogwild: one model, which the replicas (taking turns here) all train in place
    shared = None
    if settings.hogwild:
        shared = init_vectors(len(vocab), settings.vector_size, settings.seed)
    source = LocalRounds(local_trainers(vocab, parts, settings, shared))
    sizes = [len(tokens) for tokens, _ in parts]
    vectors, metadata = run_rounds(vocab, sizes, settings, source, verbose, model=shared)
    return TrainResult(vocab, vectors, metadata)
