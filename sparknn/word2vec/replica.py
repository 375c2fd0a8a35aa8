"""A partition's replica: :class:`PartitionTrainer` holds one partition's encoded tokens and
its own copy of both matrices for the whole run, trains a slice per round and reports the
rows it changed (:class:`RoundResult`); see docs/word2vec-design.md."""

import time
from dataclasses import dataclass

import numpy as np

from sparknn.backend import SGNSRun, get_backend
from sparknn.errors import SparknnError
from sparknn.word2vec.pairs import (
    centre_negatives,
    chunk_bounds,
    draw_negatives,
    skipgram_pairs,
    subsample,
)
from sparknn.word2vec.schedule import learning_rate, send_threshold, slice_bounds
from sparknn.word2vec.vocab import Vocabulary, negative_table


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
        self.partition = partition
        self.send_threshold = send_threshold(settings.send_min_updates, partitions)
        self.tokens, self.sentence_starts = tokens, sentence_starts
        self.settings, self.tables = settings, tables
        self.backend = get_backend(settings.backend)
        self.shared = model is not None  # hogwild, see docs/word2vec-design.md
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
        this replica's whole state between rounds (see "Recovery" in docs/word2vec-design.md)."""
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
        # sent in the last round): see "Deferred rows" in docs/word2vec-design.md.
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
            run = SGNSRun(
                tables.keep_prob, tables.negatives, settings.window, settings.negative,
                alpha_at(lo), alpha_at(hi), int(rng.integers(0, 2**63)),
                shared_negatives=settings.shared_negatives,
            )  # fmt: skip
            loss, pairs = self.backend.sgns_train(
                self.syn0, self.syn1neg, self.tokens[lo:hi], starts, run, counts0, counts1
            )
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
