"""No 2^31-byte limit on word2vec's path: each piece that could hold a whole vocabulary x
vectorSize, or a whole partition of the corpus, is cut into blocks of at most
``encoding.BLOCK_BYTES`` (or, for frames, counts in 64 bits). Shown with a tiny limit: the
results are the same as in one block, without allocating gigabytes."""

import socket
import threading

import numpy as np
import pytest

from sparknn.distributed.protocol import HEADER, Header, recv_exact
from sparknn.ml import Word2VecModel
from sparknn.ml.word2vec import _vectors_table
from sparknn.word2vec import encoding
from sparknn.word2vec.encoding import join_pieces, split_record
from sparknn.word2vec.settings import Settings
from sparknn.word2vec.spark import train_spark
from sparknn.word2vec.vectors import WordVectors

TINY = 64  # bytes: a block of a few sentences, a batch of a few vectors


def sentences(rng, count, longest):
    lengths = rng.integers(1, longest, count)
    tokens = rng.integers(0, 1000, int(lengths.sum())).astype(np.int32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return tokens, starts


def test_a_partition_splits_between_sentences_into_blocks_and_joins_back():
    rng = np.random.default_rng(0)
    tokens, starts = sentences(rng, 200, longest=12)
    pieces = list(split_record(tokens, starts, TINY))
    assert len(pieces) > 10
    for piece_tokens, piece_starts in pieces:
        assert piece_starts[0] == 0 and piece_starts.dtype == np.int64
        one_sentence = len(piece_starts) == 1
        assert piece_tokens.nbytes + piece_starts.nbytes <= TINY or one_sentence
    joined_tokens, joined_starts = join_pieces(pieces)
    np.testing.assert_array_equal(joined_tokens, tokens)
    np.testing.assert_array_equal(joined_starts, starts)
    # a sentence longer than the limit is a block alone, whole
    long_tokens, long_starts = sentences(rng, 5, longest=100)
    pieces = list(split_record(long_tokens, long_starts, 8))
    assert [len(piece_starts) for _, piece_starts in pieces] == [1] * 5
    assert [len(list(split_record(tokens, starts, 1 << 30)))] == [1]


def test_training_on_blocks_gives_the_vectors_of_one_record_per_partition(
    spark, tmp_path, monkeypatch
):
    rng = np.random.default_rng(1)
    lines = [" ".join(f"w{k}" for k in rng.zipf(1.4, rng.integers(2, 30)) % 60) for _ in range(300)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n")
    settings = Settings(vector_size=6, min_count=1, epochs=1, partitions=2, backend="numpy")
    whole = train_spark(spark, str(corpus), settings, verbose=False)
    monkeypatch.setattr(encoding, "BLOCK_BYTES", TINY)
    in_blocks = train_spark(spark, str(corpus), settings, verbose=False)
    assert in_blocks.metadata["partition_words"] == whole.metadata["partition_words"]
    np.testing.assert_array_equal(in_blocks.vectors, whole.vectors)


def word_vectors(count=50, size=3, counts=True):
    rng = np.random.default_rng(2)
    words = [f"w{i}" for i in range(count)]
    vectors = rng.standard_normal((count, size)).astype(np.float32)
    return WordVectors(words, vectors, np.arange(count, 0, -1) if counts else None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_vectors_table_is_batches_of_at_most_the_limit(monkeypatch, dtype):
    wv = word_vectors()
    whole = _vectors_table(wv, dtype)
    monkeypatch.setattr(encoding, "BLOCK_BYTES", TINY)
    table = _vectors_table(wv, dtype)
    batches = table.to_batches()
    assert len(batches) == -(-50 // (TINY // (3 * np.dtype(dtype).itemsize)))
    for batch in batches:
        assert batch.column("vector").flatten().nbytes <= TINY
    assert table.equals(whole)
    one_row = _vectors_table(word_vectors(count=4, size=40), dtype)  # a vector over the limit
    assert [len(batch) for batch in one_row.to_batches()] == [1, 1, 1, 1]


def test_get_vectors_save_and_load_in_small_batches_change_nothing(spark, tmp_path, monkeypatch):
    model = Word2VecModel(word_vectors(), trainingMetadata={"rounds": 3})
    expected = [(row.word, row.vector) for row in model.getVectors().collect()]
    monkeypatch.setattr(encoding, "BLOCK_BYTES", TINY)
    got = [(row.word, row.vector) for row in model.getVectors().collect()]
    assert got == expected
    model.write().save(str(tmp_path / "model"))
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    loaded = Word2VecModel.load(str(tmp_path / "model"))
    assert spark.conf.get(key) == before  # the load's batch size was its own
    assert loaded.wordVectors.words == model.wordVectors.words
    np.testing.assert_array_equal(loaded.wordVectors.vectors, model.wordVectors.vectors)
    np.testing.assert_array_equal(loaded.wordVectors.counts, model.wordVectors.counts)
    assert loaded.trainingMetadata == {"rounds": 3}
    unknown = Word2VecModel(word_vectors(counts=False))
    unknown.write().save(str(tmp_path / "no-counts"))
    assert Word2VecModel.load(str(tmp_path / "no-counts")).wordVectors.counts is None


def test_frames_count_their_payload_in_64_bits():
    """The exchange's frames say how many values follow in an int64, and a receive fills a
    buffer of any size in as many reads as it takes."""
    big = 3 << 31  # values: more than 2^31 bytes
    header = Header(kind=1, count=big, length=big)
    assert Header.unpack(header.pack()) == header and HEADER.size == len(header.pack())
    left, right = socket.socketpair()
    with left, right:
        payload = np.arange(1_000_000, dtype=np.float32)  # more than one read's worth
        sender = threading.Thread(target=left.sendall, args=(payload.tobytes(),))
        sender.start()
        received = np.empty_like(payload)
        recv_exact(right, memoryview(received))
        sender.join()
        np.testing.assert_array_equal(received, payload)


def test_broadcasts_pickle_with_64_bit_sizes():
    """The vocabulary (and transform's vectors) reach the executors as Python broadcasts:
    pickled into a file in a protocol whose frames and sizes are 64-bit (4 and up), which
    Spark ships in torrent blocks, so no broadcast meets a 2^31-byte frame."""
    import pickle

    from pyspark import serializers

    assert serializers.pickle_protocol >= 4
    vocabulary = {f"w{i}": i for i in range(1000)}
    assert pickle.loads(pickle.dumps(vocabulary, serializers.pickle_protocol)) == vocabulary
