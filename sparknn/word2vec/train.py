"""Distributed skip-gram negative-sampling training: rounds of local SGD, merged row deltas.

The scheme
----------
1. **Vocabulary.** Executors tokenize and count their lines; the driver prunes the counts
   (``min_count``, ``max_vocab``) and broadcasts the word -> id map once.
2. **Encoding, once.** Line ``i`` of the corpus goes to partition ``i % partitions``. Each
   partition becomes a single record ``(tokens int32, sentence_starts int64)`` holding its
   lines in corpus order, out-of-vocabulary words dropped. The RDD of these records is
   cached, so the corpus is tokenized once and stays resident on the executors.
3. **Rounds.** Each epoch is cut into ``R`` rounds so that a partition trains on about
   ``sync_words`` tokens per round (each partition's tokens are split into ``R`` slices at
   sentence starts). In a round, one Spark job runs one task per partition: the task starts
   from the current global ``syn0``/``syn1neg`` (a broadcast), trains on its slice for the
   round with the backend's ``sgns_update`` (sequential SGD within the task, tens of
   thousands of pairs per call), and returns only the rows it changed, as deltas.
4. **Merge.** The driver adds each row's deltas from all partitions (``merge="sum"``, like
   Hogwild threads that never collide, which is what word2vec.c and gensim approximate), or
   averages them over the partitions that touched the row (``merge="mean"``), and the next
   round broadcasts the new vectors. With one partition this is exactly sequential SGD.
   The synchronisation period bounds how far partitions drift apart: more rounds keep
   4-partition quality at the 1-partition level, fewer rounds cost less Spark overhead.
5. **Schedule and randomness.** The learning rate decays linearly from ``alpha`` to
   ``min_alpha`` over global progress (epoch + fraction of the partition done), constant
   within a chunk of ``chunk_words`` tokens, as word2vec.c does every 10K words. Every random
   draw of a task comes from ``numpy.random.default_rng([seed, partition, epoch, round])``,
   so a seed gives the same vectors for a given partition count.

``train_local`` runs the same rounds in one process (the reference for the Spark run and
the fast path for tests); ``train_spark`` runs them on a cluster.
"""

import math
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from sparknn.errors import SparknnError
from sparknn.word2vec.pairs import chunk_bounds, draw_negatives, skipgram_pairs, subsample
from sparknn.word2vec.vocab import Vocabulary, negative_table

MERGES = ("sum", "mean")

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
    "sync_words": 500_000,
    "chunk_words": 10_000,
    "merge": "sum",
    "export_binary": False,
}


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
    sync_words: int = 500_000
    chunk_words: int = 10_000
    merge: str = "sum"

    def __post_init__(self):
        for name in ("vector_size", "window", "epochs", "sync_words", "chunk_words"):
            if int(getattr(self, name)) < 1:
                raise SparknnError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.negative < 1:
            raise SparknnError(f"negative must be >= 1, got {self.negative!r}")
        if not 0 < self.alpha or self.min_alpha < 0:
            raise SparknnError(
                f"need alpha > 0 and min_alpha >= 0, got {self.alpha}, {self.min_alpha}"
            )
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


def rounds_per_epoch(partition_sizes, sync_words: int) -> int:
    return max(1, math.ceil(max(partition_sizes, default=0) / sync_words))


def round_bounds(sentence_starts, n_tokens: int, rounds: int, round_index: int):
    """Token range of a round's slice; slices are cut at sentence starts."""

    def cut(k):
        if k >= rounds:
            return n_tokens
        target = k * n_tokens / rounds
        j = np.searchsorted(sentence_starts, target, side="left")
        return int(sentence_starts[j]) if j < len(sentence_starts) else n_tokens

    return cut(round_index), cut(round_index + 1)


def learning_rate(settings: Settings, progress: float) -> float:
    return max(
        settings.min_alpha, settings.alpha - (settings.alpha - settings.min_alpha) * progress
    )


def train_slice(syn0, syn1neg, tokens, sentence_starts, lo, hi, epoch, settings, tables, rng):
    """SGNS over tokens ``[lo, hi)`` of one partition, in place. Returns (loss, pairs, alpha)."""
    from sparknn.backend import get_backend

    backend = get_backend(settings.backend)
    n = len(tokens)
    starts = sentence_starts[(sentence_starts >= lo) & (sentence_starts < hi)] - lo
    loss, n_pairs, alpha = 0.0, 0, settings.alpha
    bounds = chunk_bounds(starts, hi - lo, settings.chunk_words)
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        chunk = tokens[lo + a : lo + b]
        sentence_ids = np.searchsorted(starts, np.arange(a, b), side="right")
        chunk, sentence_ids = subsample(chunk, sentence_ids, tables.keep_prob, rng)
        inputs, outputs = skipgram_pairs(chunk, sentence_ids, settings.window, rng)
        if len(inputs) == 0:
            continue
        negatives = draw_negatives(tables.negatives, len(inputs), settings.negative, rng)
        alpha = learning_rate(settings, (epoch + (lo + (a + b) / 2) / n) / settings.epochs)
        alphas = np.full(len(inputs), alpha, dtype=np.float32)
        loss += backend.sgns_update(syn0, syn1neg, inputs, outputs, negatives, alphas)
        n_pairs += len(inputs)
    return loss, n_pairs, alpha


def train_round(partition, data, syn0, syn1neg, epoch, round_index, rounds, settings, tables):
    """One partition's work in one round; returns the changed rows as deltas, and stats."""
    tokens, sentence_starts = data
    local0, local1 = syn0.copy(), syn1neg.copy()
    lo, hi = round_bounds(sentence_starts, len(tokens), rounds, round_index)
    rng = np.random.default_rng([settings.seed, partition, epoch, round_index])
    loss, n_pairs, alpha = train_slice(
        local0, local1, tokens, sentence_starts, lo, hi, epoch, settings, tables, rng
    )
    local0 -= syn0
    local1 -= syn1neg
    rows0 = np.flatnonzero(local0.any(axis=1)).astype(np.int32)
    rows1 = np.flatnonzero(local1.any(axis=1)).astype(np.int32)
    stats = {"loss": loss, "pairs": n_pairs, "words": hi - lo, "alpha": alpha}
    return rows0, local0[rows0], rows1, local1[rows1], stats


def merge_deltas(matrix, deltas, how: str):
    """Add per-partition ``(rows, delta)`` into ``matrix``: summed, or averaged per row."""
    if how == "sum":
        for rows, delta in deltas:
            matrix[rows] += delta
        return
    total = np.zeros_like(matrix)
    touched = np.zeros(len(matrix), dtype=np.int32)
    for rows, delta in deltas:
        total[rows] += delta
        touched[rows] += 1
    hit = touched > 0
    matrix[hit] += total[hit] / touched[hit, None]


class Progress:
    """Prints words/s, alpha, epoch and ETA after each round (to stderr)."""

    def __init__(self, total_words: int, epochs: int, rounds: int, stream=sys.stderr):
        self.total, self.epochs, self.rounds, self.stream = (
            total_words * epochs,
            epochs,
            rounds,
            stream,
        )
        self.done, self.started = 0, time.perf_counter()

    def update(self, epoch, round_index, words, loss, pairs, alpha):
        self.done += words
        elapsed = time.perf_counter() - self.started
        rate = self.done / max(elapsed, 1e-9)
        eta = (self.total - self.done) / max(rate, 1e-9)
        print(
            f"epoch {epoch + 1}/{self.epochs} round {round_index + 1}/{self.rounds}: "
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


def _run_rounds(vocab, partition_sizes, settings, run_round, verbose=True):
    """The driver loop shared by local and Spark training: rounds, merges, progress."""
    syn0, syn1neg = init_vectors(len(vocab), settings.vector_size, settings.seed)
    rounds = rounds_per_epoch(partition_sizes, settings.sync_words)
    progress = Progress(sum(partition_sizes), settings.epochs, rounds)
    started, loss_history = time.perf_counter(), []
    for epoch in range(settings.epochs):
        epoch_loss = epoch_pairs = 0.0
        for round_index in range(rounds):
            results = run_round(syn0, syn1neg, epoch, round_index, rounds)
            merge_deltas(syn0, [(r[0], r[1]) for r in results], settings.merge)
            merge_deltas(syn1neg, [(r[2], r[3]) for r in results], settings.merge)
            stats = [r[4] for r in results]
            loss, pairs = sum(s["loss"] for s in stats), sum(s["pairs"] for s in stats)
            epoch_loss, epoch_pairs = epoch_loss + loss, epoch_pairs + pairs
            if verbose:
                alpha = min(s["alpha"] for s in stats)
                progress.update(
                    epoch, round_index, sum(s["words"] for s in stats), loss, pairs, alpha
                )
        loss_history.append(epoch_loss / max(epoch_pairs, 1))
    seconds = time.perf_counter() - started
    words = sum(partition_sizes) * settings.epochs
    metadata = {
        "settings": asdict(settings),
        "rounds_per_epoch": rounds,
        "partitions": len(partition_sizes),
        "training_seconds": seconds,
        "words_per_second": words / max(seconds, 1e-9),
        "loss_per_pair_by_epoch": loss_history,
    }
    return syn0, metadata


def train_local(vocab: Vocabulary, parts, settings: Settings, verbose=False) -> TrainResult:
    """Train in this process on ``parts`` (list of (tokens, sentence_starts)), same scheme."""
    tables = Tables.build(vocab, settings.sample)

    def run_round(syn0, syn1neg, epoch, round_index, rounds):
        return [
            train_round(p, data, syn0, syn1neg, epoch, round_index, rounds, settings, tables)
            for p, data in enumerate(parts)
        ]

    sizes = [len(tokens) for tokens, _ in parts]
    vectors, metadata = _run_rounds(vocab, sizes, settings, run_round, verbose)
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


def train_spark(spark, corpus, config: dict, verbose: bool = True) -> TrainResult:
    """Read ``corpus`` with Spark, build the vocabulary, encode once, train in rounds."""
    from pyspark import StorageLevel

    from sparknn.corpus import read_text
    from sparknn.word2vec.tokenize import get_tokenizer
    from sparknn.word2vec.vocab import build_vocabulary, count_words

    settings = Settings.from_config(config)
    partitions = int(config.get("partitions", 2))
    if partitions < 1:
        raise SparknnError(f"partitions must be >= 1, got {partitions}")
    sc = spark.sparkContext
    started = time.perf_counter()
    tokenizer = get_tokenizer(config.get("tokenizer", "whitespace"), config.get("lowercase", True))
    lines = read_text(spark, corpus, config.get("strip_gutenberg_headers", False))
    rows = lines.rdd.map(lambda row: (row.line_id, row.line))
    counts = count_words(rows.map(lambda item: tokenizer(item[1])))
    vocab = build_vocabulary(
        counts, int(config.get("min_count", 5)), config.get("max_vocab") or None
    )
    if verbose:
        print(
            f"vocabulary: {len(vocab):,} words, "
            f"{vocab.total_words:,} of {vocab.corpus_words:,} tokens kept",
            file=sys.stderr,
        )
    vocab_bc = sc.broadcast(vocab.index)

    def encode_source(items):
        # Group this source partition's lines by target partition, keep them in order.
        index = vocab_bc.value
        buckets = [([], [], []) for _ in range(partitions)]
        for line_id, line in items:
            encoded = [index[t] for t in tokenizer(line) if t in index]
            if encoded:
                ids, lengths, first = buckets[line_id % partitions]
                first.append(line_id)
                ids.extend(encoded)
                lengths.append(len(encoded))
        for target, (ids, lengths, first) in enumerate(buckets):
            if ids:
                yield target, (first[0], np.array(ids, np.int32), np.array(lengths, np.int64))

    def assemble(blocks):
        blocks = sorted((block for _, block in blocks), key=lambda block: block[0])
        tokens = np.concatenate([b[1] for b in blocks]) if blocks else np.zeros(0, np.int32)
        lengths = np.concatenate([b[2] for b in blocks]) if blocks else np.zeros(0, np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        yield tokens, starts[: len(lengths)]

    encoded = (
        rows.mapPartitions(encode_source)
        .partitionBy(partitions, lambda target: target)
        .mapPartitions(assemble, preservesPartitioning=True)
        .persist(StorageLevel.MEMORY_ONLY)
    )
    sizes = encoded.map(lambda data: len(data[0])).collect()
    prepare_seconds = time.perf_counter() - started
    tables_bc = sc.broadcast((vocab.keep_probabilities(settings.sample), vocab.counts))

    def run_round(syn0, syn1neg, epoch, round_index, rounds):
        state = sc.broadcast((syn0, syn1neg))

        def task(partition, records):
            tables = _executor_tables(tables_bc)
            start0, start1 = state.value
            for data in records:
                yield train_round(
                    partition, data, start0, start1, epoch, round_index, rounds, settings, tables
                )

        try:
            return encoded.mapPartitionsWithIndex(task).collect()
        finally:
            state.destroy()

    try:
        vectors, metadata = _run_rounds(vocab, sizes, settings, run_round, verbose)
    finally:
        encoded.unpersist()
        vocab_bc.destroy()
        tables_bc.destroy()
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


_TABLE_CACHE: dict = {}


def _executor_tables(tables_bc) -> Tables:
    # Build the negative table once per Python worker and reuse it across rounds.
    keep_prob, counts = tables_bc.value
    key = hash((counts.tobytes(), keep_prob.tobytes()))
    if key not in _TABLE_CACHE:
        _TABLE_CACHE.clear()
        _TABLE_CACHE[key] = Tables(keep_prob, negative_table(counts))
    return _TABLE_CACHE[key]
