"""Distributed skip-gram negative-sampling training: rounds of local SGD, merged row deltas.

The scheme
----------
1. **Vocabulary.** Executors tokenize their lines once, an Arrow batch at a time, and count
   the words (:mod:`sparknn.word2vec.encoding`); the driver prunes the counts
   (``min_count``, ``max_vocab``) and broadcasts the word -> id map once.
2. **Encoding, once.** The tokenized batches become ids; line ``i`` of the corpus goes to
   partition ``i % partitions``. Each partition becomes a single record ``(partition,
   tokens int32, sentence_starts int64)`` holding its lines in corpus order,
   out-of-vocabulary words dropped, cached on the executors, so no round reads text.
3. **Replicas.** One long-lived barrier stage (:mod:`sparknn.word2vec.exchange`) runs for the
   whole training; each task holds its partitions as :class:`PartitionTrainer` replicas: the
   tokens and the partition's own copy of ``syn0``/``syn1neg``, kept across rounds. With
   fewer task slots than partitions a task holds several and trains them in turn.
4. **Rounds.** Training is cut into rounds (each partition's tokens are split at the same
   fractions, at sentence starts). A replica does not see what the other P-1 train during a
   round, and the merge adds up P deltas all computed against the same stale model; what
   that costs grows with the learning rate, the round's length and P. Early on, while every
   row still moves fast, it is what costs quality (on Gutenberg-25M with 4 partitions,
   constant 50,000-token rounds lose 15% of the analogy accuracy of one partition;
   bench/RESULTS.md); later, long rounds cost less and save exchanges. So rounds start at
   ``sync_start_words`` tokens per partition and grow geometrically to ``sync_words`` at
   half of training (:func:`round_schedule`), and with P partitions both lengths are divided
   by ``(P-1)**2`` (:func:`round_words`): unchanged for 2 partitions, a ninth for 4. The
   square is measured, not derived. On WikiText-2 with 4 partitions (medians of 7 seeds,
   bench/RESULTS.md), rounds from 15,000 / 3 to 50,000 tokens kept 0.88x of one partition's
   analogy accuracy, from 15,000 / 9 to 50,000 0.93x, and from 15,000 / 9 to 50,000 / 9
   0.98x; shortening the first rounds further (from 1,000) or the late ones only to a third
   (16,667) did not help. With one partition nothing is unseen: rounds hold ``sync_words``
   from the start. The very first rounds start at ``warmup_words`` and double, so partitions
   break the symmetry of the random initialisation together. In a round each replica trains
   on its slice with the backend (sequential SGD within the slice: ``sgns_train``,
   word2vec.c's whole loop in one OpenCL kernel call, or numpy-drawn pairs and
   ``sgns_update``) and sends the driver (over a socket) only the rows it changed: their deltas
   and how many updates each received.
5. **Shared negatives (``shared_negatives``, off by default).** word2vec.c and gensim draw
   ``negative`` negatives per (context, centre) pair; with this setting a centre draws them
   once and every pair of its window uses them (negative sharing, as in Ji et al.,
   "Parallelizing Word2Vec in Shared and Distributed Memory", 2016). The pairs are still
   trained one after another. A window's pairs then update the same ``negative + 1``
   ``syn1neg`` rows, which stay in cache, instead of ``negative`` random rows per pair of a
   matrix far larger than the cache, and a round changes fewer rows. Measured
   (bench/RESULTS.md): the kernel alone trains 1.49x the words/s on Gutenberg-25M (122 K
   words), 1.25x on WikiText-2 (20 K), and a 50,000-token round changes 55% of the
   ``syn1neg`` rows it does with per-pair draws; but one epoch of Gutenberg-25M lost up to
   1.6 points of analogy accuracy (median of 3 seeds: 1.1; WikiText-2, 5 epochs: nothing
   beyond seed noise). So it is an option for speed, not the default.
6. **Deferred rows.** Negatives are drawn from the whole vocabulary, so a round touches
   most ``syn1neg`` rows (82% of Gutenberg-25M's 122 K in a 50,000-token round), most of
   them a few times; exchanging and merging them is most of a round's fixed cost on a large
   vocabulary. A replica sends a ``syn1neg`` row once it has had ``send_min_updates /
   (P-1)**2`` updates (at least 1) since it last sent it; until then the row's change stays
   in the replica's own copy, on top of what the merges bring
   (:meth:`PartitionTrainer.apply`). The last round of training sends everything; ``syn0``
   rows (few per round) are always sent. Measured (bench/RESULTS.md): with 2 partitions the
   default 8 sends 2.8 times fewer rows per round on Gutenberg-25M for 0.3-0.6 points of
   analogy accuracy; with 4 partitions the same 8 cost 0.1 points on WikiText-2 (median of
   7 seeds, 4.65% -> 4.56%, with rounds of up to 50,000 tokens), where 4 partitions were
   short of 1: hence the same square as for the rounds, and from 4 partitions on every
   changed row is sent.
7. **Merge.** The driver merges each row's deltas (see :func:`merge_rows`) and sends the
   changed rows' new values back with the next round. ``sum`` is what Hogwild
   threads approximate, but a row that every partition drives to equilibrium gets moved P
   times too far and oscillates with gain P-1 (it diverges for P >= 3); ``mean`` is stable
   but moves lightly updated rows 1/P of the way (under-training); ``adaptive`` (default)
   interpolates per row using the update counts: the sum for rows updated a few times, the
   mean for rows updated many times. With one partition every merge is plain sequential
   SGD. Shorter rounds keep partitions closer (better vectors with many partitions) but
   exchange more; ``sync_start_words`` and ``sync_words`` trade one for the other. The
   rows' arithmetic (the merge, a replica's report of its changed rows and its move to the
   merged rows) is the backend's row operations: OpenCL kernels where the backend has them,
   with numpy's values bit for bit, so a merge is the same whichever backend ran it.
8. **Schedule and randomness.** The learning rate decays linearly from ``alpha`` to
   ``min_alpha`` over global progress (epoch + fraction of the partition done). Every random
   draw of a replica comes from ``numpy.random.default_rng([seed, partition, epoch,
   round])`` (or a kernel seed drawn from it), so a seed gives the same vectors for a given
   partition count, on one process or a cluster, with the numpy backend or a one-work-item
   OpenCL kernel (the default on a CPU device; on a GPU the kernel runs many Hogwild
   work-items, so the pairs are the same for a seed but the vectors vary run to run).

9. **Hogwild on one host (``hogwild``, off by default).** Where every task runs on the
   driver's host (``local[N]``, ``local-cluster``, one machine), the replicas can skip the
   exchange altogether: the driver writes the model to a file in shared memory
   (:mod:`sparknn.word2vec.shared_model`), every task maps it, and their kernels update the
   same pages lock-free, as gensim's and word2vec.c's threads share one model. Nothing is
   reported, merged or applied, and no update counts are kept; rounds of
   ``HOGWILD_ROUND_WORDS`` only pace the progress reports. What it trades: the tasks' races
   make the vectors vary run to run (one partition, or one process, where the replicas take
   turns, stays exact), it needs a backend that trains the host's memory in place (not a
   GPU, which would copy the whole model back over the other tasks' updates), and a task
   on another host fails with an error that says so. Measured (bench/RESULTS.md): 2.1x
   the exchanging job's words/s on Gutenberg-25M and 1.4x on WikiText-2, at gensim's
   analogy accuracy.

10. **Recovery.** A replica's state between rounds is the driver's model plus its unsent
   ``syn1neg`` rows (their values and update counts, see "Deferred rows"); every random
   draw is a function of the seed and the round. When a Spark task dies, Spark relaunches
   the whole barrier stage and every replica is lost, with the rows it had not sent. So
   every ``RECOVERY_ROUNDS`` rounds the driver keeps a :class:`RecoveryPoint`: a copy of
   its model at the round's start and each replica's unsent rows then (the replicas send
   them with that round's results), with the loss sums so far; after a loss it goes back
   to the last one, sends the new replicas the model and their partitions' unsent rows,
   and trains those rounds again: the vectors are bit for bit those of an undisturbed run,
   for the price of a model copy on the driver and of redoing up to ``RECOVERY_ROUNDS``
   rounds after a failure. (hogwild's races make no run exact: a lost round is retried.)
   A round whose loss per pair diverged or whose merged rows are not finite stops training
   with a :class:`SparknnError` (:mod:`sparknn.divergence`), before anything is written.

``train_local`` runs the same replicas and merges in one process (the reference for the
Spark run and the fast path for tests); ``train_spark`` runs them on a cluster.
"""

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from sparknn.backend import BACKENDS
from sparknn.backend.numpy_backend import NumpyBackend
from sparknn.config import AT_LEAST_ONE, NON_NEGATIVE, OPEN_UNIT, POSITIVE, one_of
from sparknn.divergence import DivergenceCheck
from sparknn.errors import SparknnError
from sparknn.word2vec.pairs import (
    centre_negatives,
    chunk_bounds,
    draw_negatives,
    skipgram_pairs,
    subsample,
)
from sparknn.word2vec.tokenize import TOKENIZERS
from sparknn.word2vec.vocab import Vocabulary, negative_table

MERGES = ("adaptive", "sum", "mean")

# Every job setting with its default; conf/word2vec.toml documents each key.
DEFAULTS = {
    "vector_size": 100,
    "window": 5,
    "negative": 5,
    "sample": 1e-3,
    "min_count": 5,
    "max_vocab": 0,
    "epochs": 5,
    "alpha": 0.025,
    "min_alpha": 0.0001,
    "partitions": 2,
    "backend": "auto",
    "seed": 1,
    "lowercase": True,
    "tokenizer": "whitespace",
    "strip_gutenberg_headers": False,
    "sync_words": 50_000,
    "sync_start_words": 15_000,
    "warmup_words": 1000,
    "chunk_words": 10_000,
    "merge": "adaptive",
    "merge_eta": 0.002,
    "send_min_updates": 8,
    "shared_negatives": False,
    "hogwild": False,
    "export_binary": False,
}
# The values each number or choice may take, checked as the job's config is read.
RULES = {
    "vector_size": AT_LEAST_ONE, "window": AT_LEAST_ONE, "negative": AT_LEAST_ONE,
    "sample": NON_NEGATIVE, "min_count": NON_NEGATIVE, "max_vocab": NON_NEGATIVE,
    "epochs": AT_LEAST_ONE, "alpha": POSITIVE, "min_alpha": NON_NEGATIVE,
    "partitions": AT_LEAST_ONE, "backend": one_of(BACKENDS), "seed": NON_NEGATIVE,
    "tokenizer": one_of(TOKENIZERS), "sync_words": AT_LEAST_ONE,
    "sync_start_words": AT_LEAST_ONE, "warmup_words": NON_NEGATIVE, "chunk_words": AT_LEAST_ONE,
    "merge": one_of(MERGES), "merge_eta": OPEN_UNIT, "send_min_updates": AT_LEAST_ONE,
}  # fmt: skip


@dataclass
class Settings:
    """Training hyperparameters (names as in the job flags; see DEFAULTS)."""

    vector_size: int = 100
    window: int = 5
    negative: int = 5
    sample: float = 1e-3
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 0.0001
    seed: int = 1
    backend: str = "numpy"
    sync_words: int = 50_000
    sync_start_words: int = 15_000
    warmup_words: int = 1000
    chunk_words: int = 10_000
    merge: str = "adaptive"
    merge_eta: float = 0.002
    send_min_updates: int = 8
    shared_negatives: bool = False
    hogwild: bool = False

    def __post_init__(self):
        for name in (
            "vector_size", "window", "epochs", "sync_words", "sync_start_words", "chunk_words",
            "send_min_updates",
        ):  # fmt: skip
            if int(getattr(self, name)) < 1:
                raise SparknnError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.negative < 1:
            raise SparknnError(f"negative must be >= 1, got {self.negative!r}")
        if not 0 < self.alpha or self.min_alpha < 0:
            raise SparknnError(
                f"need alpha > 0 and min_alpha >= 0, got {self.alpha}, {self.min_alpha}"
            )
        if not 0 < self.merge_eta < 1:
            raise SparknnError(f"merge_eta must be in (0, 1), got {self.merge_eta!r}")
        if self.merge not in MERGES:
            raise SparknnError(f"unknown merge {self.merge!r}; choose one of {', '.join(MERGES)}")

    @classmethod
    def from_config(cls, config: dict) -> "Settings":
        return cls(**{k: config[k] for k in cls.__dataclass_fields__ if k in config})


@dataclass
class Tables:
    """What every task needs besides its data: per-word keep probabilities, negative table."""

    keep_prob: np.ndarray
    negatives: np.ndarray

    @classmethod
    def build(cls, vocab: Vocabulary, sample: float) -> "Tables":
        return cls(vocab.keep_probabilities(sample), negative_table(vocab.counts))


def init_vectors(vocab_size: int, vector_size: int, seed: int):
    """word2vec.c's initialisation: syn0 ~ U(-0.5, 0.5) / d, syn1neg = 0 (float32)."""
    rng = np.random.default_rng([seed, 0x5EED])
    syn0 = (rng.random((vocab_size, vector_size), dtype=np.float32) - 0.5) / vector_size
    return syn0, np.zeros((vocab_size, vector_size), dtype=np.float32)


# Fraction of training after which rounds hold ``sync_words`` tokens (see round_schedule).
SYNC_RAMP = 0.5

# Tokens per partition and round with ``hogwild``: there is nothing to exchange, so rounds
# only pace the progress reports (about a second each).
HOGWILD_ROUND_WORDS = 500_000


def round_schedule(
    max_partition_words: int, epochs: int, sync_words: int, start_words: int = 0,
    warmup_words: int = 0,
):  # fmt: skip
    """Round boundaries of each epoch as fractions of each partition: ``epochs`` lists
    ``[0, ..., 1]``.

    Rounds hold ``sync_words`` tokens of the largest partition, except early in training:
    with ``start_words`` a round at training progress ``t`` (0 to 1 over all epochs) holds
    ``start_words * (sync_words / start_words) ** (t / SYNC_RAMP)`` tokens, up to
    ``sync_words``. With ``warmup_words`` the first round holds that many and each next one
    at most twice the last: at the start partitions would otherwise break the symmetry of
    the random initialisation in different directions, and merging those would wash the
    structure out.
    """
    if max_partition_words <= 0:
        return [[0.0, 1.0] for _ in range(epochs)]
    start_words = min(start_words or sync_words, sync_words)
    growth = np.log(sync_words / start_words) / SYNC_RAMP
    ceiling = warmup_words if warmup_words > 0 else sync_words
    schedules = []
    for epoch in range(epochs):
        positions = [0]
        while True:
            progress = (epoch + positions[-1] / max_partition_words) / epochs
            size = min(start_words * np.exp(growth * progress), sync_words, ceiling)
            ceiling = min(2 * ceiling, sync_words)  # an int that kept doubling would overflow
            if positions[-1] + size >= max_partition_words:
                break
            positions.append(positions[-1] + int(size))
        positions.append(max_partition_words)
        schedules.append([p / max_partition_words for p in positions])
    return schedules


def unseen_squared(partitions: int) -> int:
    """``(P-1)**2``, at least 1: what round lengths and the send threshold are divided by,
    P-1 being the partitions whose round a replica does not see (see "Rounds")."""
    return max(partitions - 1, 1) ** 2


def round_words(settings: Settings, partitions: int):
    """``(sync_words, start_words, warmup_words)`` of :func:`round_schedule` for a partition
    count: the settings' round lengths divided by :func:`unseen_squared` (rounded up); one
    partition needs no ramp, and hogwild's rounds only pace progress reports."""
    if settings.hogwild:
        return HOGWILD_ROUND_WORDS, 0, 0
    if partitions < 2:
        return settings.sync_words, 0, 0
    divisor = unseen_squared(partitions)
    return (
        -(-settings.sync_words // divisor),
        -(-settings.sync_start_words // divisor),
        settings.warmup_words,
    )


def send_threshold(send_min_updates: int, partitions: int) -> int:
    """Updates a ``syn1neg`` row needs before a replica sends it (see "Deferred rows"):
    ``send_min_updates`` divided by :func:`unseen_squared`, at least 1 (every changed row)."""
    return max(1, send_min_updates // unseen_squared(partitions))


def slice_bounds(sentence_starts, n_tokens: int, start: float, stop: float):
    """Token range ``[lo, hi)`` for the fraction range ``[start, stop)``, cut at sentences."""

    def cut(fraction):
        if fraction >= 1:
            return n_tokens
        j = np.searchsorted(sentence_starts, fraction * n_tokens, side="left")
        return int(sentence_starts[j]) if j < len(sentence_starts) else n_tokens

    return cut(start), cut(stop)


def learning_rate(settings: Settings, progress: float) -> float:
    return max(
        settings.min_alpha, settings.alpha - (settings.alpha - settings.min_alpha) * progress
    )


@dataclass
class RoundResult:
    """What one partition sends back after a round: the rows it changed and by how much.

    ``counts0``/``counts1`` say how many updates each of ``rows0``/``rows1`` received (the
    merge tells lightly from heavily trained rows by them).
    """

    partition: int
    rows0: np.ndarray  # int32 (n0,)
    deltas0: np.ndarray  # float32 (n0, d)
    counts0: np.ndarray  # int32 (n0,)
    rows1: np.ndarray
    deltas1: np.ndarray
    counts1: np.ndarray
    loss: float
    pairs: int
    words: int
    alpha: float
    seconds: float
    # At a recovery point: the partition's unsent rows at the round's start (unsent_rows).
    unsent: tuple | None = None


def keep_freed_memory() -> None:
    """Make glibc keep freed memory for reuse instead of returning it to the OS.

    Every round allocates and frees tens of MB (received deltas, merge temporaries); by
    default glibc serves blocks that large with fresh ``mmap`` pages and unmaps them on
    free, so every round pays page faults on all of it again (a third of the merge's time on
    a 120 K-word vocabulary). The heap then stays at its high-water mark, which the run
    reaches anyway. A no-op off glibc.
    """
    import ctypes

    m_trim_threshold, m_mmap_threshold = -1, -3
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(m_mmap_threshold, 1 << 30)
        libc.mallopt(m_trim_threshold, 1 << 30)
    except (OSError, AttributeError):
        pass


# No rows: what a replica without unsent rows reports (see PartitionTrainer.unsent_rows).
NO_ROWS = (np.zeros(0, np.int32), np.zeros((0, 0), np.float32), np.zeros(0, np.int32))


class PartitionTrainer:
    """One partition's replica: its encoded tokens and its own copy of both matrices.

    Every replica starts from :func:`init_vectors` (the same for a seed) and keeps ``base0``/
    ``base1``, the model as of the start of the round, to report its rows' deltas. Between
    rounds it receives the merged rows' values (:meth:`apply`), so all replicas and the
    driver agree on the model at the start of every round. Given ``model`` (hogwild), it
    trains that ``(syn0, syn1neg)``, shared with the other replicas, in place instead: no
    base, nothing to report or to apply.
    """

    def __init__(
        self, partition, tokens, sentence_starts, vocab_size, settings, tables, partitions,
        model=None,
    ):  # fmt: skip
        from sparknn.backend import get_backend

        self.partition = partition
        self.send_threshold = send_threshold(settings.send_min_updates, partitions)
        self.tokens, self.sentence_starts = tokens, sentence_starts
        self.settings, self.tables = settings, tables
        self.backend = get_backend(settings.backend)
        self.shared = model is not None  # hogwild, see the module docstring
        if self.shared and not self.backend.trains_in_place:
            raise SparknnError(
                f"hogwild: backend {settings.backend!r} copies the model to its device and "
                "back, which would undo the other tasks' updates; use a CPU backend or "
                "turn hogwild off"
            )
        if self.shared:
            self.syn0, self.syn1neg = model
        else:
            self.syn0, self.syn1neg = init_vectors(vocab_size, settings.vector_size, settings.seed)
            self.base0, self.base1 = self.syn0.copy(), self.syn1neg.copy()
            # Per syn1neg row: updates since this replica last sent it (0: nothing unsent).
            self.pending1 = np.zeros(vocab_size, dtype=np.int32)

    def apply(self, rows0, values0, rows1, values1) -> None:
        """Move to the merged model: the merged values of the rows anyone changed.

        A ``syn1neg`` row this replica changed but has not sent yet keeps its own unsent
        change on top of the merged value.
        """
        if self.shared:
            return
        self.backend.apply_rows(self.syn0, self.base0, rows0, values0)
        self.backend.apply_rows(self.syn1neg, self.base1, rows1, values1, self.pending1)

    def unsent_rows(self):
        """``(rows, values, counts)``: the ``syn1neg`` rows changed but not sent yet, their
        values here and their updates since last sent. With the driver's model, they are
        this replica's whole state between rounds (see "Recovery")."""
        if self.shared:
            return NO_ROWS
        rows = np.flatnonzero(self.pending1).astype(np.int32)
        return rows, self.syn1neg[rows], self.pending1[rows]

    def restore_unsent(self, rows, values, counts) -> None:
        """Take over the :meth:`unsent_rows` of a lost replica of this partition (this one
        has just been sent the whole model the lost one had)."""
        if not self.shared and len(rows):
            self.syn1neg[rows] = values
            self.pending1[rows] = counts

    def round(self, epoch, round_index, start, stop, update, restore=None, report_unsent=False):
        """One round: :meth:`apply` ``update``; for a new replica after a loss, take over
        the lost one's unsent rows (``restore``, of :meth:`unsent_rows`); then
        :meth:`train`, the result carrying the unsent rows as of before training when
        ``report_unsent`` (a recovery point)."""
        self.apply(*update)
        if restore is not None:
            self.restore_unsent(*restore)
        unsent = self.unsent_rows() if report_unsent else None
        result = self.train(epoch, round_index, start, stop)
        result.unsent = unsent
        return result

    def train(self, epoch: int, round_index: int, start: float, stop: float) -> RoundResult:
        """Train on the fraction ``[start, stop)`` of the partition; report changed rows."""
        began = time.perf_counter()
        lo, hi = slice_bounds(self.sentence_starts, len(self.tokens), start, stop)
        rng = np.random.default_rng([self.settings.seed, self.partition, epoch, round_index])
        loss, pairs, alpha, counts0, counts1 = self._train_slice(lo, hi, epoch, rng)
        if self.shared:  # the other replicas already train on what changed
            none, dim = np.zeros(0, np.int32), self.syn0.shape[1]
            return RoundResult(
                self.partition, none, np.zeros((0, dim), np.float32), none,
                none, np.zeros((0, dim), np.float32), none,
                loss, pairs, hi - lo, alpha, time.perf_counter() - began,
            )  # fmt: skip
        rows0 = np.flatnonzero(counts0).astype(np.int32)
        # syn1neg rows wait until they have had send_threshold updates (everything is
        # sent in the last round): see "Deferred rows" in the module docstring.
        counts1 += self.pending1
        last = epoch == self.settings.epochs - 1 and stop >= 1
        send = counts1 >= (1 if last else self.send_threshold)
        self.pending1 = np.where(send, 0, counts1).astype(np.int32)
        rows1 = np.flatnonzero(send).astype(np.int32)
        return RoundResult(
            self.partition,
            rows0, self.backend.subtract_rows(self.syn0, self.base0, rows0), counts0[rows0],
            rows1, self.backend.subtract_rows(self.syn1neg, self.base1, rows1), counts1[rows1],
            loss, pairs, hi - lo, alpha, time.perf_counter() - began,
        )  # fmt: skip

    def _train_slice(self, lo, hi, epoch, rng):
        """SGNS over tokens ``[lo, hi)``, in place: ``(loss, pairs, alpha, counts0, counts1)``
        (the counts are None for a shared model: nothing is reported)."""
        settings, tables, n = self.settings, self.tables, len(self.tokens)
        vocab_size = len(self.syn0)
        counts0 = counts1 = None
        if not self.shared:
            counts0 = np.zeros(vocab_size, dtype=np.int32)
            counts1 = np.zeros(vocab_size, dtype=np.int32)
        sentence_starts = self.sentence_starts
        first, last = np.searchsorted(sentence_starts, (lo, hi))  # starts are sorted
        starts = sentence_starts[first:last] - lo

        def alpha_at(position):
            return learning_rate(settings, (epoch + position / max(n, 1)) / settings.epochs)

        if hi <= lo:
            return 0.0, 0, alpha_at(lo), counts0, counts1
        if self.backend.fused_sgns:
            # The backend draws everything itself, word2vec.c's loop in one kernel call.
            loss, pairs = self.backend.sgns_train(
                self.syn0, self.syn1neg, self.tokens[lo:hi], starts, tables.keep_prob,
                tables.negatives, settings.window, settings.negative, alpha_at(lo),
                alpha_at(hi), int(rng.integers(0, 2**63)), counts0, counts1,
                shared_negatives=settings.shared_negatives,
            )  # fmt: skip
            return loss, pairs, alpha_at(hi), counts0, counts1
        # Otherwise numpy draws the pairs (see pairs.py), a chunk at a time, with the
        # learning rate constant within a chunk, as word2vec.c does every 10K words.
        loss, pairs, alpha = 0.0, 0, settings.alpha
        bounds = chunk_bounds(starts, hi - lo, settings.chunk_words)
        for a, b in zip(bounds[:-1], bounds[1:], strict=False):
            chunk = self.tokens[lo + a : lo + b]
            sentence_ids = np.searchsorted(starts, np.arange(a, b), side="right")
            chunk, sentence_ids = subsample(chunk, sentence_ids, tables.keep_prob, rng)
            inputs, outputs, centres = skipgram_pairs(chunk, sentence_ids, settings.window, rng)
            if len(inputs) == 0:
                continue
            if settings.shared_negatives:
                negatives = centre_negatives(
                    tables.negatives, centres, len(chunk), settings.negative, rng
                )
            else:
                negatives = draw_negatives(tables.negatives, len(inputs), settings.negative, rng)
            alpha = alpha_at(lo + (a + b) / 2)
            alphas = np.full(len(inputs), alpha, dtype=np.float32)
            loss += self.backend.sgns_update(
                self.syn0, self.syn1neg, inputs, outputs, negatives, alphas
            )
            pairs += len(inputs)
            if not self.shared:
                counts0 += np.bincount(inputs, minlength=vocab_size).astype(np.int32)
                counts1 += np.bincount(outputs, minlength=vocab_size).astype(np.int32)
                counts1 += np.bincount(negatives.ravel(), minlength=vocab_size).astype(np.int32)
        return loss, pairs, alpha, counts0, counts1


def merge_rows(matrix, parts, how: str, eta: float = 0.002, backend=None):
    """Merge each partition's ``(rows, deltas, update counts)`` into ``matrix``, in place.

    ``sum`` adds the deltas; ``mean`` averages them over the partitions that touched a row.
    ``adaptive`` models a row's ``n`` updates as contracting towards a target by a factor
    ``(1 - eta)`` each, so partition ``p`` moved the row a fraction ``c(n_p) = 1 - (1-eta)**n_p``
    of the way. It estimates the full way as the mean of ``delta_p / c(n_p)`` and moves
    ``c(N)`` of it, ``N = sum(n_p)``: that is the sum of the deltas for lightly updated rows
    (where sequential SGD adds up) and their mean for rows every partition has driven to
    equilibrium (where summing would overshoot by the partition count and oscillate).

    Returns ``(rows, values)``: the sorted rows any partition changed and their new values
    (what the replicas are sent). The rows' arithmetic is ``backend``'s row operations (the
    numpy reference by default; every backend's give the same bits).
    """
    backend = backend or NumpyBackend()
    parts = [part for part in parts if len(part[0])]
    changed = np.zeros(len(matrix), dtype=bool)
    for rows, _, _ in parts:
        changed[rows] = True
    union = np.flatnonzero(changed).astype(np.int32)
    position = np.cumsum(changed) - 1  # row -> its index in union
    merged = np.zeros((len(union), matrix.shape[1]), dtype=matrix.dtype)
    touched = np.zeros(len(union), dtype=np.float64)
    updates = np.zeros(len(union), dtype=np.float64)
    log_keep = np.log1p(-eta)
    for rows, deltas, counts in parts:
        at = position[rows]  # rows are unique within a partition
        weight = None
        if how == "adaptive":
            moved = -np.expm1(counts.astype(np.float64) * log_keep)  # c(n_p)
            weight = (1.0 / moved).astype(np.float32)
        backend.add_scaled_rows(merged, at, deltas, weight)
        touched[at] += 1
        updates[at] += counts
    scale = None
    if how != "sum":
        scale = 1.0 / touched
        if how == "adaptive":
            scale *= -np.expm1(updates * log_keep)  # c(N)
        scale = scale.astype(matrix.dtype)
    return union, backend.add_scaled_rows(matrix, union, merged, scale)


def merge_backend(name: str):
    """The backend whose row operations the driver merges with: the training backend where
    the driver has it, else numpy (the same bits, see :func:`merge_rows`)."""
    from sparknn.backend import get_backend

    try:
        return get_backend(name)
    except SparknnError:
        return NumpyBackend()


# Where the backend's row operations can run in threads (numpy), the driver merges on this
# many (the tasks wait for the merge, so their cores are free), syn1neg in this many blocks
# of rows: most rows that are sent are syn1neg rows. The OpenCL kernels merge in one pass
# on one core, faster than numpy on two (bench/RESULTS.md).
MERGE_THREADS, MERGE_BLOCKS = 2, 3


def merge_blocks(pool, matrix, parts, how, eta, blocks: int, backend):
    """:func:`merge_rows` on ``pool`` in ``blocks`` ranges of rows with about as many sent
    rows each (at once, unless ``backend.threaded_rows``); returns a function that waits and
    returns ``(rows, values)``. Rows merge independently of each other, so the result is
    the same as one :func:`merge_rows`."""
    rows = next((part[0] for part in parts if len(part[0])), np.zeros(0, np.int32))
    if not backend.threaded_rows or len(rows) == 0:  # nothing sent: no rows to cut at
        merged = merge_rows(matrix, parts, how, eta, backend)
        return lambda: merged
    cuts = [0, *(int(rows[len(rows) * k // blocks]) for k in range(1, blocks)), len(matrix)]
    futures = []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=False):
        block = []
        for part in parts:
            a, b = np.searchsorted(part[0], (lo, hi))  # a partition's rows are sorted
            block.append(tuple(array[a:b] for array in part))
        futures.append(pool.submit(merge_rows, matrix, block, how, eta, backend))

    def result():
        done = [future.result() for future in futures]
        if len(done) == 1:
            return done[0]
        return np.concatenate([r for r, _ in done]), np.concatenate([m for _, m in done])

    return result


class Progress:
    """Prints words/s, alpha, epoch and ETA (to stderr) every few seconds and per epoch."""

    def __init__(self, total_words: int, epochs: int, every: float = 2.0, stream=sys.stderr):
        self.total, self.epochs = total_words * epochs, epochs
        self.every, self.stream = every, stream
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
        print(
            f"epoch {epoch + 1}/{self.epochs} {100 * self.done / max(self.total, 1):5.1f}%: "
            f"{rate:,.0f} words/s, alpha {alpha:.5f}, loss/pair {loss / max(pairs, 1):.4f}, "
            f"ETA {eta:.0f}s",
            file=self.stream,
            flush=True,
        )


@dataclass
class TrainResult:
    vocab: Vocabulary
    vectors: np.ndarray  # syn0, float32 (V, d)
    metadata: dict


# The driver keeps a recovery point every this many rounds (see "Recovery").
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


def _run_rounds(vocab, partition_sizes, settings, source, verbose=True, model=None):
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
        if at_recovery_point:
            point = RecoveryPoint(i, (syn0.copy(), syn1neg.copy()), {}, sums.copy(), progress.done)
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
            point.unsent = {r.partition: r.unsent for r in results}
            recovery = point
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
    """Train in this process on ``parts`` (list of (tokens, sentence_starts)), same scheme."""
    # hogwild: one model, which the replicas (taking turns here) all train in place
    shared = None
    if settings.hogwild:
        shared = init_vectors(len(vocab), settings.vector_size, settings.seed)
    source = LocalRounds(local_trainers(vocab, parts, settings, shared))
    sizes = [len(tokens) for tokens, _ in parts]
    vectors, metadata = _run_rounds(vocab, sizes, settings, source, verbose, model=shared)
    return TrainResult(vocab, vectors, metadata)


def encode_lines(lines, vocab: Vocabulary, tokenizer):
    """Encode text lines to ``(tokens int32, sentence_starts int64)``, OOV words dropped."""
    index = vocab.index
    ids, lengths = [], []
    for line in lines:
        encoded = [index[t] for t in tokenizer(line) if t in index]
        if encoded:
            ids.extend(encoded)
            lengths.append(len(encoded))
    tokens = np.array(ids, dtype=np.int32)
    starts = (
        np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        if lengths
        else np.zeros(0, np.int64)
    )
    return tokens, starts


def split_lines(lines, partitions: int):
    """Line ``i`` goes to partition ``i % partitions`` (the Spark job's assignment)."""
    return [lines[p::partitions] for p in range(partitions)]


# ---------------------------------------------------------------------------- Spark


def train_spark(spark, corpus, config: dict, verbose=True, fail_at_round=None) -> TrainResult:
    """Read ``corpus`` with Spark, build the vocabulary, encode once, train in rounds.

    ``fail_at_round`` (tests only) makes the first task's Python worker exit at that round.
    """
    from pyspark import StorageLevel, TaskContext

    from sparknn.corpus import read_text
    from sparknn.distributed.sources import executor_slots
    from sparknn.word2vec.encoding import count_tokens, encode_partitions, tokenize_lines
    from sparknn.word2vec.exchange import SparkRounds
    from sparknn.word2vec.shared_model import SharedModel, map_shared_model
    from sparknn.word2vec.tokenize import get_tokenizer
    from sparknn.word2vec.vocab import build_vocabulary

    settings = Settings.from_config(config)
    partitions = int(config.get("partitions", 2))
    if partitions < 1:
        raise SparknnError(f"partitions must be >= 1, got {partitions}")
    sc = spark.sparkContext
    started = time.perf_counter()
    tokenizer = get_tokenizer(config.get("tokenizer", "whitespace"), config.get("lowercase", True))
    lines = read_text(spark, corpus, config.get("strip_gutenberg_headers", False))
    # On local disk, not in the JVM's heap: read back once, for encoding, and a heap grown
    # to hold it would still be resident when training starts (bench/RESULTS.md).
    tokenized = tokenize_lines(lines, tokenizer).persist(StorageLevel.DISK_ONLY)
    try:
        min_count, max_vocab = int(config.get("min_count", 5)), config.get("max_vocab") or None
        vocab = build_vocabulary(count_tokens(tokenized, corpus), min_count, max_vocab)
        if verbose:
            print(
                f"vocabulary: {len(vocab):,} words, "
                f"{vocab.total_words:,} of {vocab.corpus_words:,} tokens kept",
                file=sys.stderr,
            )
        vocab_bc = sc.broadcast(vocab.index)
        # A barrier stage runs all its tasks at once: with fewer task slots than partitions,
        # each task holds several partitions (trained one after the other; same result).
        tasks = executor_slots(spark, partitions)
        encoded = encode_partitions(tokenized, vocab_bc, partitions, tasks).persist(
            StorageLevel.MEMORY_ONLY
        )
        found = dict(encoded.map(lambda record: (record[0], len(record[1]))).collect())
    finally:
        tokenized.unpersist()
    sizes = [found.get(p, 0) for p in range(partitions)]
    prepare_seconds = time.perf_counter() - started
    tables_bc = sc.broadcast((vocab.keep_probabilities(settings.sample), vocab.counts))
    vocab_size = len(vocab)
    shared = None
    if settings.hogwild:
        shared = SharedModel(*init_vectors(vocab_size, settings.vector_size, settings.seed))
    model_path = shared.path if shared else None  # the tasks get the path, not the model

    def make_trainers(records):
        keep_prob, word_counts = tables_bc.value
        tables = Tables(keep_prob, negative_table(word_counts))
        held = {p: (tokens, starts) for p, tokens, starts in records}
        empty = (np.zeros(0, np.int32), np.zeros(0, np.int64))
        model = None
        if model_path is not None:
            model = map_shared_model(model_path, vocab_size, settings.vector_size)
        # A partition without a line still trains (on nothing), so every task answers.
        mine = [p for p in range(partitions) if p % tasks == TaskContext.get().partitionId()]
        return [
            PartitionTrainer(
                p, *held.get(p, empty), vocab_size, settings, tables, partitions, model
            )
            for p in mine
        ]

    try:
        source = SparkRounds(spark, encoded, make_trainers, settings.vector_size, log=_log(verbose))
        if fail_at_round is not None:
            source.server.die_at_round = (fail_at_round, 0)
        try:
            in_place = (shared.syn0, shared.syn1neg) if shared else None
            vectors, metadata = _run_rounds(vocab, sizes, settings, source, verbose, in_place)
            if shared is not None:
                vectors = np.array(vectors)  # out of the shared file before it goes
        finally:
            try:
                source.close()
            finally:
                encoded.unpersist()
                vocab_bc.destroy()
                tables_bc.destroy()
    finally:
        if shared is not None:
            shared.remove()
    metadata.update(tasks=tasks, task_failures=source.stage.failures)
    # Where the tasks ran and how they reached the driver ("unix" on its host, else "tcp").
    metadata["task_connections"] = [
        {"host": report["host"], "transport": report["transport"]}
        for report in source.stage.reports or []
    ]
    metadata.update(
        {
            "corpus": [str(c) for c in ([corpus] if isinstance(corpus, str) else corpus)],
            "corpus_words": vocab.corpus_words,
            "training_words_per_epoch": vocab.total_words,
            "vocabulary_size": len(vocab),
            "partition_words": sizes,
            "prepare_seconds": prepare_seconds,
            "config": dict(config),
        }
    )
    return TrainResult(vocab, vectors, metadata)


def _log(verbose: bool):
    if not verbose:
        return lambda message: None
    return lambda message: print(message, file=sys.stderr, flush=True)
