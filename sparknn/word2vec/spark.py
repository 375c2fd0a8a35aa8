"""word2vec training on Spark: :func:`train_spark` reads the corpus, builds the vocabulary,
encodes it once and runs the driver loop (:func:`~sparknn.word2vec.rounds.run_rounds`) on a
barrier stage of :class:`~sparknn.word2vec.replica.PartitionTrainer` replicas
(:mod:`sparknn.word2vec.exchange`), or, with ``hogwild``, on one shared model
(:mod:`sparknn.word2vec.shared_model`). For a seed and a partition count it gives
:func:`~sparknn.word2vec.rounds.train_local`'s vectors; see docs/word2vec-design.md.
"""

import logging
import time
from contextlib import ExitStack, contextmanager

import numpy as np

from sparknn.corpus import read_text
from sparknn.distributed.sources import executor_slots
from sparknn.word2vec.encoding import count_tokens, encode_partitions, tokenize_lines
from sparknn.word2vec.exchange import SparkRounds
from sparknn.word2vec.replica import PartitionTrainer, Tables, init_vectors
from sparknn.word2vec.rounds import TrainResult, run_rounds
from sparknn.word2vec.settings import Settings
from sparknn.word2vec.shared_model import SharedModel, map_shared_model
from sparknn.word2vec.tokenize import get_tokenizer
from sparknn.word2vec.vocab import build_vocabulary, negative_table

log = logging.getLogger(__name__)


def train_spark(spark, corpus, settings: Settings, verbose=True) -> TrainResult:
    """Read ``corpus`` with Spark, build the vocabulary, encode once into
    ``settings.partitions`` partitions, train in rounds.

    With ``verbose``, progress (the vocabulary, words/s, alpha, ETA, task failures) is
    logged at INFO on the ``sparknn`` logger (``sparknn.word2vec.*``); nothing is printed. To
    see it, call :func:`sparknn.logs.setup_console_logging` (as the jobs do) or configure
    :mod:`logging` yourself."""
    from pyspark import StorageLevel, TaskContext

    partitions = settings.partitions
    sc = spark.sparkContext
    started = time.perf_counter()
    tokenizer = get_tokenizer(settings.tokenizer, settings.lowercase)
    lines = read_text(spark, corpus, settings.strip_gutenberg_headers)
    with ExitStack() as cleanup:
        # On local disk, not in the JVM's heap: read back once, for encoding, and a heap grown
        # to hold it would still be resident when training starts (docs/word2vec-design.md).
        with persisted(tokenize_lines(lines, tokenizer), StorageLevel.DISK_ONLY) as tokenized:
            vocab = build_vocabulary(
                count_tokens(tokenized, corpus), settings.min_count, settings.max_vocab or None
            )
            if verbose:
                log.info(
                    f"vocabulary: {len(vocab):,} words, "
                    f"{vocab.total_words:,} of {vocab.corpus_words:,} tokens kept"
                )
            vocab_bc = sc.broadcast(vocab.index)
            cleanup.callback(vocab_bc.destroy)
            # A barrier stage runs all its tasks at once: with fewer task slots than
            # partitions, each task holds several partitions (trained one after the other;
            # same result).
            tasks = executor_slots(spark, partitions)
            encoded = cleanup.enter_context(
                persisted(
                    encode_partitions(tokenized, vocab_bc, partitions, tasks),
                    StorageLevel.MEMORY_ONLY,
                )
            )
            found = dict(encoded.map(lambda record: (record[0], len(record[1]))).collect())
        sizes = [found.get(p, 0) for p in range(partitions)]
        prepare_seconds = time.perf_counter() - started
        tables_bc = sc.broadcast((vocab.keep_probabilities(settings.sample), vocab.counts))
        cleanup.callback(tables_bc.destroy)
        vocab_size = len(vocab)
        shared = None
        if settings.hogwild:
            shared = cleanup.enter_context(
                SharedModel(*init_vectors(vocab_size, settings.vector_size, settings.seed))
            )
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

        source = cleanup.enter_context(
            SparkRounds(spark, encoded, make_trainers, settings.vector_size, log=_log(verbose))
        )
        in_place = (shared.syn0, shared.syn1neg) if shared else None
        vectors, metadata = run_rounds(vocab, sizes, settings, source, verbose, in_place)
        if shared is not None:
            vectors = np.array(vectors)  # out of the shared file before it goes
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
        }
    )
    return TrainResult(vocab, vectors, metadata)


@contextmanager
def persisted(rdd, level):
    """``rdd`` persisted at storage ``level`` within the block, unpersisted when it is left."""
    rdd.persist(level)
    try:
        yield rdd
    finally:
        rdd.unpersist()


def _log(verbose: bool):
    if not verbose:
        return lambda message: None
    return log.info
