"""word2vec training on Spark: :func:`train_spark` reads the corpus (:func:`train_tokens`
takes a DataFrame column of tokens instead), builds the vocabulary, encodes it once and runs
the driver loop (:func:`~sparknn.word2vec.rounds.run_rounds`) on a barrier stage of
:class:`~sparknn.word2vec.replica.PartitionTrainer` replicas (:mod:`sparknn.word2vec.exchange`)
or, with ``hogwild``, on one shared model (:mod:`sparknn.word2vec.shared_model`). For a seed
and a partition count it gives :func:`~sparknn.word2vec.rounds.train_local`'s vectors; see
docs/word2vec-design.md.
"""

import logging
import time
from contextlib import ExitStack, contextmanager

import numpy as np

from sparknn.corpus import read_text
from sparknn.distributed.sources import executor_slots, task_error
from sparknn.errors import SparknnError
from sparknn.word2vec.encoding import (
    count_tokens,
    cut_sentences,
    encode_partitions,
    join_pieces,
    tokenize_arrays,
    tokenize_lines,
)
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
    started = time.perf_counter()
    tokenizer = get_tokenizer(settings.tokenizer, settings.lowercase)
    lines = read_text(spark, corpus, settings.strip_gutenberg_headers)
    result = train_tokenized(
        spark, tokenize_lines(lines, tokenizer), settings, verbose, corpus=corpus,
        started=started,
    )  # fmt: skip
    paths = [corpus] if isinstance(corpus, str) else corpus
    result.metadata["corpus"] = [str(path) for path in paths]
    return result


def train_tokens(
    spark, frame, input_col: str, settings: Settings, max_sentence_length=None, verbose=False
) -> TrainResult:
    """Train on ``frame``'s ``input_col`` (``array<string>``, one sentence a row, its tokens
    taken as they are) as :func:`train_spark` trains on a corpus's lines: the same rows as
    lines of text give the same vectors. Sentences longer than ``max_sentence_length``
    in-vocabulary words are cut into pieces of that many (MLlib's ``maxSentenceLength``).
    A null row or word is an error naming ``input_col``."""
    return train_tokenized(
        spark, tokenize_arrays(frame, input_col), settings, verbose,
        max_sentence_length=max_sentence_length, reading=f"reading column {input_col!r} failed",
    )  # fmt: skip


def train_tokenized(
    spark, tokenized, settings: Settings, verbose=True, corpus=None, max_sentence_length=None,
    started=None, reading="reading failed",
) -> TrainResult:  # fmt: skip
    """Everything after tokenization: count the tokens of ``tokenized`` (a DataFrame of
    :data:`~sparknn.word2vec.encoding.TOKENIZED_SCHEMA`), build the vocabulary, encode once
    into ``settings.partitions`` partitions, train in rounds. ``corpus``: the paths, for
    error messages; ``started``: when preparing began (reading the corpus, for
    ``prepare_seconds``; default now); ``reading``: what a failed task was doing, for its
    one-line error."""
    from pyspark import StorageLevel, TaskContext

    partitions = settings.partitions
    sc = spark.sparkContext
    started = time.perf_counter() if started is None else started
    with ExitStack() as cleanup:
        # On local disk, not in the JVM's heap: read back once, for encoding, and a heap grown
        # to hold it would still be resident when training starts (docs/word2vec-design.md).
        with persisted(tokenized, StorageLevel.DISK_ONLY) as tokenized:
            counts = _in_tasks(count_tokens, reading, tokenized, corpus)
            vocab = build_vocabulary(counts, settings.min_count, settings.max_vocab or None)
            if verbose:
                log.info(
                    f"vocabulary: {len(vocab):,} words, "
                    f"{vocab.total_words:,} of {vocab.corpus_words:,} tokens kept"
                )
            # A Python broadcast is pickled (protocol >= 4: 64-bit sizes) into a file that
            # Spark ships in torrent blocks: no 2^31-byte frame, however large the vocabulary.
            vocab_bc = sc.broadcast(vocab.words)
            cleanup.callback(vocab_bc.destroy)
            # A barrier stage runs all its tasks at once: with fewer task slots than
            # partitions, each task holds several partitions (trained one after the other;
            # same result).
            tasks = executor_slots(spark, partitions)
            encoded = encode_partitions(tokenized, vocab_bc, partitions, tasks)
            if max_sentence_length is not None:

                def cut(records, limit=max_sentence_length):
                    for p, tokens, starts in records:
                        yield p, tokens, cut_sentences(starts, len(tokens), limit)

                encoded = encoded.mapPartitions(cut, preservesPartitioning=True)
            encoded = cleanup.enter_context(persisted(encoded, StorageLevel.MEMORY_ONLY))
            sizes = [0] * partitions  # tokens per training partition, over its records
            for p, size in encoded.map(lambda record: (record[0], len(record[1]))).collect():
                sizes[p] += size
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
            pieces = {}  # a partition's records, in order (encode_partitions)
            for p, tokens, starts in records:
                pieces.setdefault(p, []).append((tokens, starts))
            held = {p: join_pieces(found) for p, found in pieces.items()}
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
            "corpus_words": vocab.corpus_words,
            "training_words_per_epoch": vocab.total_words,
            "vocabulary_size": len(vocab),
            "partition_words": sizes,
            "prepare_seconds": prepare_seconds,
        }
    )
    return TrainResult(vocab, vectors, metadata)


def _in_tasks(function, context: str, *args):
    """``function(*args)``, where a failed Spark task is one line: the SparknnError it
    raised, or ``context`` and its error."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    try:
        return function(*args)
    except (Py4JJavaError, PySparkException) as error:
        raise SparknnError(task_error(error, context)) from None


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
