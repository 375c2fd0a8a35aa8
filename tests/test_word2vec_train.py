"""word2vec training: planted structure, partitions vs one process, Spark job, bad input."""

import json
import logging
import os
import subprocess
import sys
import time
import tracemalloc
from collections import Counter

import numpy as np
import pytest

from sparknn.errors import SparknnError
from sparknn.testing import task_dies
from sparknn.word2vec.encoding import encode_lines, split_lines
from sparknn.word2vec.replica import NO_ROWS, PartitionTrainer, RoundResult, Tables
from sparknn.word2vec.rounds import (
    RECOVERY_ROUNDS,
    LocalRounds,
    ReplicasLost,
    local_trainers,
    run_rounds,
    train_local,
)
from sparknn.word2vec.schedule import round_schedule, round_words, send_threshold
from sparknn.word2vec.settings import Settings
from sparknn.word2vec.spark import train_spark
from sparknn.word2vec.vectors import WordVectors, load_vectors
from sparknn.word2vec.vocab import build_vocabulary

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASES = 8


def planted_corpus(n_sentences, seed=0):
    """Sentences about an entity ``w{b}{m|f}``: two words of its base's context pool
    ``c{b}x*``, two of its gender's pool ``g{m|f}x*``, and Zipfian filler ``f*``.
    Word vectors that capture the contexts make ``w1m : w1f :: w2m : w2f`` hold."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n_sentences):
        base, gender = rng.integers(BASES), "mf"[rng.integers(2)]
        words = [f"c{base}x{k}" for k in rng.integers(0, 4, 2)]
        words += [f"g{gender}x{k}" for k in rng.integers(0, 4, 2)]
        words += [f"w{base}{gender}"] + [f"f{k}" for k in np.minimum(rng.zipf(1.3, 3), 500)]
        rng.shuffle(words)
        lines.append(" ".join(words))
    return lines


def write_questions(path):
    lines = [": gender"]
    lines += [f"w{a}m w{a}f w{b}m w{b}f" for a in range(BASES) for b in range(BASES) if a != b]
    path.write_text("\n".join(lines) + "\n")
    return path


SETTINGS = dict(vector_size=20, window=5, negative=5, sample=0, epochs=3, backend="numpy")


def train(lines, partitions, **overrides):
    counts = Counter(token for line in lines for token in line.split())
    vocab = build_vocabulary(counts, min_count=1)
    parts = [encode_lines(chunk, vocab, str.split) for chunk in split_lines(lines, partitions)]
    return train_local(vocab, parts, Settings(**{**SETTINGS, **overrides}))


@pytest.fixture(scope="module")
def corpus():
    return planted_corpus(4000)


def analogy_accuracy(result, questions):
    wv = WordVectors(result.vocab.words, result.vectors)
    return wv.evaluate_word_analogies(questions)[0], wv


@pytest.mark.parametrize("shared_negatives", [True, False])
def test_planted_structure_is_recovered(corpus, tmp_path, shared_negatives):
    result = train(corpus, 1, shared_negatives=shared_negatives)
    accuracy, wv = analogy_accuracy(result, write_questions(tmp_path / "q.txt"))
    assert accuracy >= 0.9
    # Each entity is closer to its own context pool than to any other base's pool.
    for base in range(BASES):
        own = wv.similarity(f"w{base}m", f"c{base}x0")
        others = [wv.similarity(f"w{base}m", f"c{b}x0") for b in range(BASES) if b != base]
        assert own > max(others)


def test_four_partitions_keep_one_partition_quality(corpus, tmp_path):
    questions = write_questions(tmp_path / "q.txt")
    one, _ = analogy_accuracy(train(corpus, 1, sync_words=2000), questions)
    four_result = train(corpus, 4, sync_words=2000)
    four, _ = analogy_accuracy(four_result, questions)
    assert four_result.metadata["rounds"] > 3 * 3  # several merges per epoch really happened
    assert four >= 0.97 * one


def test_seed_makes_training_reproducible(corpus):
    lines = corpus[:800]
    a, b = train(lines, 2, epochs=1), train(lines, 2, epochs=1)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    c = train(lines, 2, epochs=1, seed=2)
    assert not np.allclose(a.vectors, c.vectors)


def test_progress_goes_to_the_sparknn_logger_not_to_the_terminal(
    corpus, caplog, capsys, monkeypatch
):
    """Library code prints nothing: a verbose run's progress lines (one per epoch at least)
    are INFO records under ``sparknn``, shown only where someone set up logging."""
    # as in a fresh process: no console handler from a job or the demo run earlier
    monkeypatch.setattr(logging.getLogger("sparknn"), "handlers", [])
    lines = corpus[:400]
    counts = Counter(token for line in lines for token in line.split())
    vocab = build_vocabulary(counts, min_count=1)
    parts = [encode_lines(chunk, vocab, str.split) for chunk in split_lines(lines, 2)]
    with caplog.at_level(logging.INFO, logger="sparknn"):
        train_local(vocab, parts, Settings(**{**SETTINGS, "epochs": 2}), verbose=True)
    progress = [r for r in caplog.records if "words/s" in r.getMessage()]
    assert {r.getMessage()[:9] for r in progress} == {"epoch 1/2", "epoch 2/2"}
    assert progress[-1].getMessage().startswith("epoch 2/2 100.0%: ")
    assert {r.name for r in progress} == {"sparknn.word2vec.rounds"}
    assert {r.levelno for r in progress} == {logging.INFO}
    assert capsys.readouterr() == ("", "")


def one_partition_trainer(lines, **overrides):
    """Partition 0's replica, as one of 2 partitions (its send threshold is
    ``send_min_updates`` itself), on all of ``lines``."""
    counts = Counter(token for line in lines for token in line.split())
    vocab = build_vocabulary(counts, min_count=1)
    tokens, starts = encode_lines(lines, vocab, str.split)
    settings = Settings(**{**SETTINGS, "epochs": 1, **overrides})
    return PartitionTrainer(0, tokens, starts, len(vocab), settings, Tables.build(vocab, 0), 2)


def test_rarely_updated_syn1neg_rows_wait_until_enough_updates_or_the_last_round(corpus):
    lines = corpus[:600]
    deferring = one_partition_trainer(lines, send_min_updates=6)
    everything = one_partition_trainer(lines, send_min_updates=1)
    sent, full = deferring.train(0, 0, 0.0, 0.2), everything.train(0, 0, 0.0, 0.2)
    np.testing.assert_array_equal(deferring.syn1neg, everything.syn1neg)  # same training
    enough = full.counts1 >= 6
    assert 0 < enough.sum() < len(full.rows1)  # some rows sent, some held back
    np.testing.assert_array_equal(sent.rows1, full.rows1[enough])
    np.testing.assert_array_equal(sent.deltas1, full.deltas1[enough])
    held, held_counts = full.rows1[~enough], full.counts1[~enough]
    np.testing.assert_array_equal(deferring.pending1[held], held_counts)
    np.testing.assert_array_equal(sent.rows0, full.rows0)  # syn0 rows are always sent

    # Another replica's merged change to a held row lands under this replica's own change.
    row, theirs = held[0], np.full((1, deferring.syn1neg.shape[1]), 0.5, np.float32)
    own = deferring.syn1neg[row] - deferring.base1[row]
    nothing = np.zeros(0, np.int32)
    merged = deferring.base1[[row]] + theirs
    deferring.apply(nothing, deferring.syn0[nothing], np.array([row], np.int32), merged)
    np.testing.assert_allclose(deferring.syn1neg[row] - deferring.base1[row], own, atol=1e-7)
    np.testing.assert_allclose(deferring.base1[row], everything.base1[row] + 0.5, atol=1e-7)

    # The last round of the last epoch sends every changed row with all its updates.
    counts_before = deferring.pending1.copy()
    last = deferring.train(0, 1, 0.2, 1.0)
    assert not deferring.pending1.any()
    assert set(held) <= set(last.rows1)
    position = {r: i for i, r in enumerate(last.rows1)}
    assert all(last.counts1[position[r]] >= counts_before[r] for r in held)


def test_send_threshold_shrinks_with_the_partitions_a_replica_keeps_rows_from():
    assert [send_threshold(8, p) for p in (1, 2, 3, 4, 8)] == [8, 8, 2, 1, 1]
    assert send_threshold(1, 2) == 1


def test_deferring_rows_leaves_one_partition_training_unchanged(corpus):
    """One partition's merge adds its own deltas back: sending a row late changes nothing
    but rounding."""
    lines = corpus[:1500]
    deferred = train(lines, 1, epochs=1, sync_words=500, send_min_updates=8)
    immediate = train(lines, 1, epochs=1, sync_words=500, send_min_updates=1)
    sent = [run.metadata["rows_sent_per_round"]["syn1neg"] for run in (deferred, immediate)]
    assert sent[0] < 0.8 * sent[1]  # rows really were held back
    np.testing.assert_allclose(deferred.vectors, immediate.vectors, atol=1e-5)


class LosingRounds(LocalRounds):
    """Loses every replica after training the rounds of the calls in ``lose_at`` (1-based),
    as a Spark task that dies mid-round takes the whole barrier stage with it."""

    def __init__(self, make_trainers, lose_at):
        super().__init__(make_trainers)
        self.lose_at, self.calls, self.restored = set(lose_at), 0, []

    def run_round(self, epoch, round_index, start, stop, update, model, report_unsent, restore):
        self.calls += 1
        if restore is not None:
            self.restored.append(sum(len(rows) for rows, _, _ in restore.values()))
        results = super().run_round(
            epoch, round_index, start, stop, update, model, report_unsent, restore
        )
        if self.calls in self.lose_at:
            raise ReplicasLost(f"lost at call {self.calls}")
        return results


@pytest.mark.usefixtures("one_sgns_work_item")
@pytest.mark.parametrize("backend", ["numpy", "opencl"])
def test_lost_replicas_resume_from_the_recovery_point_exactly(corpus, backend):
    """Replicas lost in the first round, after a recovery point, and in the round that was
    to be one: the driver goes back to its last recovery point, sends new replicas the model
    and the unsent rows they held then, and the vectors are those of an undisturbed run."""
    lines = corpus[:600]
    counts = Counter(token for line in lines for token in line.split())
    vocab = build_vocabulary(counts, min_count=1)
    parts = [encode_lines(chunk, vocab, str.split) for chunk in split_lines(lines, 2)]
    settings = Settings(**{**SETTINGS, "epochs": 2, "sync_words": 100, "backend": backend})
    sizes = [len(tokens) for tokens, _ in parts]
    undisturbed, _ = run_rounds(
        vocab, sizes, settings, LocalRounds(local_trainers(vocab, parts, settings)), False
    )
    assert RECOVERY_ROUNDS == 20  # the rounds below are the calls' with points every 20
    # call 1: round 0, the first; 25: round 23, back to 20; 46: round 40, to be a recovery
    # point, back to 20 (a point counts once its round is done); 49: round 22, back to 20;
    # 73: round 43, back to 40.
    losing = LosingRounds(local_trainers(vocab, parts, settings), lose_at=(1, 25, 46, 49, 73))
    recovered, metadata = run_rounds(vocab, sizes, settings, losing, False)
    assert metadata["rounds"] > 44
    assert losing.restored[0] == 0 and min(losing.restored[1:]) > 0  # unsent rows came back
    np.testing.assert_array_equal(recovered, undisturbed)
    lost_calls = [1, 23 - 20 + 1, 40 - 20 + 1, 22 - 20 + 1, 43 - 40 + 1]
    assert losing.calls == metadata["rounds"] + sum(lost_calls)


def test_the_driver_keeps_one_recovery_copy_of_the_model():
    """However many recovery points a run passes, the driver holds its model and one copy of
    it: a new point overwrites the last one's copy instead of allocating beside it."""
    words, dim = 20_000, 50
    model_bytes = 2 * words * dim * 4  # syn0 and syn1neg, float32
    settings = Settings(**{**SETTINGS, "vector_size": dim, "epochs": 1, "sync_words": 1})
    idle = (np.zeros(0, np.int32), np.zeros((0, dim), np.float32), np.zeros(0, np.int32))

    class Idle:  # one partition that trains nothing: the model is the run's only big array
        calls = 0

        def run_round(self, epoch, round_index, start, stop, update, model, report, restore):
            self.calls += 1
            unsent = NO_ROWS if report else None
            return [RoundResult(0, *idle, *idle, 0.0, 0, 0, 0.01, 0.0, unsent)]

    source = Idle()
    tracemalloc.start()
    try:
        run_rounds(range(words), [3 * RECOVERY_ROUNDS], settings, source, verbose=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert source.calls == 3 * RECOVERY_ROUNDS  # past two recovery points
    assert 2 * model_bytes <= peak < 2.5 * model_bytes


@pytest.mark.parametrize("backend", ["numpy", "opencl"])
def test_diverging_training_stops_with_the_round_and_the_loss(corpus, backend):
    with pytest.raises(
        SparknnError, match=r"^loss became nan at epoch 1, round 1: training diverged; lower alpha$"
    ):
        train(corpus[:300], 2, epochs=1, alpha=1e6, backend=backend)


def test_non_finite_merged_rows_stop_training_even_with_a_finite_loss(corpus):
    lines = corpus[:300]
    counts = Counter(token for line in lines for token in line.split())
    vocab = build_vocabulary(counts, min_count=1)
    parts = [encode_lines(chunk, vocab, str.split) for chunk in split_lines(lines, 2)]
    settings = Settings(**{**SETTINGS, "epochs": 1, "sync_words": 100})
    sizes = [len(tokens) for tokens, _ in parts]

    class Poisoned(LocalRounds):
        def run_round(self, *args):
            results = super().run_round(*args)
            if args[1] == 2:  # round 3 of epoch 1
                results[1].deltas0[0, 0] = np.nan
            return results

    source = Poisoned(local_trainers(vocab, parts, settings))
    with pytest.raises(SparknnError, match=r"^vectors became non-finite at epoch 1, round 3: "):
        run_rounds(vocab, sizes, settings, source, verbose=False)


def test_round_words_shrink_with_the_square_of_the_unseen_partitions():
    settings = Settings(sync_words=50_000, sync_start_words=15_000, warmup_words=1000)
    assert round_words(settings, 1) == (50_000, 0, 0)  # sequential SGD: no ramp, no warm-up
    assert round_words(settings, 2) == (50_000, 15_000, 1000)
    assert round_words(settings, 3) == (12_500, 3750, 1000)
    assert round_words(settings, 4) == (5556, 1667, 1000)  # rounded up, never 0
    assert round_words(Settings(sync_words=1, sync_start_words=1), 8) == (1, 1, 1000)


def test_round_schedule_warms_up_then_ramps_to_sync_words():
    words, epochs = 1_000_000, 4
    schedules = round_schedule(words, epochs, 50_000, start_words=5000, warmup_words=1000)
    assert len(schedules) == epochs
    sizes = [np.diff(np.array(cuts) * words).round().astype(int) for cuts in schedules]
    for cuts in schedules:  # every epoch covers its partition exactly once, in order
        assert cuts[0] == 0 and cuts[-1] == 1 and np.all(np.diff(cuts) > 0)
    assert list(sizes[0][:3]) == [1000, 2000, 4000]  # warm-up doubling, up to the ramp
    assert 5000 <= sizes[0][3] < 5100  # the ramp starts at start_words ...
    inner = np.concatenate([s[:-1] for s in sizes])[3:]  # last round of an epoch is a remainder
    assert np.all(np.diff(inner) >= 0)  # ... grows monotonically ...
    assert np.all(sizes[2][:-1] == 50_000) and np.all(sizes[3][:-1] == 50_000)  # ... to half-way
    # Thousands of rounds (a large corpus, many epochs) stay finite and capped.
    many = round_schedule(5_000_000, 5, 5000, start_words=100, warmup_words=100)
    assert sum(len(cuts) - 1 for cuts in many) > 5000
    assert all(np.max(np.diff(cuts)) * 5_000_000 <= 5000 + 1 for cuts in many)
    # Without a ramp or warm-up every round holds sync_words (start_words above it is capped).
    for cuts in round_schedule(words, 2, 50_000, start_words=80_000):
        assert np.all(np.diff(cuts)[:-1] * words == pytest.approx(50_000))


def test_settings_reject_bad_values():
    with pytest.raises(SparknnError, match="merge.*adaptive, sum, mean"):
        Settings(merge="median")
    with pytest.raises(SparknnError, match="window must be >= 1"):
        Settings(window=0)


@pytest.mark.parametrize("partitions", [2, 3])
def test_spark_training_equals_the_single_process_run(spark, tmp_path, partitions):
    """The barrier-stage rounds compute what one process computes; with 3 partitions on
    2 task slots one task holds two partitions."""
    lines = planted_corpus(500, seed=3)
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n")
    settings = Settings(
        **{**SETTINGS, "epochs": 1, "min_count": 1, "partitions": partitions, "sync_words": 1000}
    )
    spark_result = train_spark(spark, str(path), settings, verbose=False)
    local_result = train(lines, partitions, epochs=1, sync_words=1000)
    assert spark_result.vocab.words == local_result.vocab.words
    assert spark_result.metadata["rounds"] == local_result.metadata["rounds"] > 1
    assert spark_result.metadata["tasks"] == 2
    np.testing.assert_array_equal(spark_result.vectors, local_result.vectors)


def test_encode_batch_maps_drops_and_routes_lines():
    """A tokenized batch's tokens map to vocabulary ids, unknown tokens and lines left empty
    drop out, and line ``i`` goes to partition ``i % partitions`` in order."""
    from sparknn.word2vec.encoding import encode_batch

    words = ["the", "cat", "zzz", "sat"]  # "zzz" is not in the vocabulary
    lines = {10: [0, 1], 11: [2], 12: [3, 2, 0], 13: [1, 1]}  # line_id -> indices into words
    index = {"the": 0, "sat": 1, "cat": 2}
    blocks = dict(
        encode_batch(
            np.array([index.get(word, -1) for word in words], np.int32),
            np.array([i for ids in lines.values() for i in ids], np.int32),
            np.array([len(ids) for ids in lines.values()], np.int32),
            np.array(list(lines), np.int64),
            partitions=2,
        )
    )
    first, tokens, lengths = blocks[0]  # lines 10 and 12
    assert first == 10 and tokens.tolist() == [0, 2, 1, 0] and lengths.tolist() == [2, 2]
    first, tokens, lengths = blocks[1]  # line 11 holds only "zzz": gone; line 13 stays
    assert first == 13 and tokens.tolist() == [2, 2] and lengths.tolist() == [2]
    assert tokens.dtype == np.int32 and lengths.dtype == np.int64


def test_spark_encoding_is_the_same_in_many_arrow_batches(spark, tmp_path):
    """Lines reach Python in Arrow batches, each with its own word list; a corpus cut into
    many batches counts and encodes to exactly the single-process run's vectors."""
    lines = planted_corpus(400, seed=5)
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n")
    settings = Settings(
        **{**SETTINGS, "epochs": 1, "min_count": 1, "partitions": 2, "sync_words": 1000}
    )
    from sparknn.corpus import read_text
    from sparknn.word2vec.encoding import tokenize_lines
    from sparknn.word2vec.tokenize import Tokenizer

    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    previous = spark.conf.get(key)
    spark.conf.set(key, "37")
    try:
        batches = tokenize_lines(read_text(spark, str(path)), Tokenizer(str.split)).count()
        spark_result = train_spark(spark, str(path), settings, verbose=False)
    finally:
        spark.conf.set(key, previous)
    local_result = train(lines, 2, epochs=1, sync_words=1000)
    assert batches >= len(lines) // 37  # the corpus did reach Python in many batches
    assert spark_result.vocab.words == local_result.vocab.words
    assert spark_result.vocab.counts.tolist() == local_result.vocab.counts.tolist()
    np.testing.assert_array_equal(spark_result.vectors, local_result.vectors)


def test_spark_counts_and_encodings_are_counter_and_encode_lines(spark, tmp_path, monkeypatch):
    """In many Arrow batches, with the partitions' counts sent in many small batches, Spark's
    counts are collections.Counter's over the tokens, and each training partition's records
    join to encode_lines of its lines (line i in partition i % 3)."""
    from sparknn.corpus import read_text
    from sparknn.word2vec import encoding
    from sparknn.word2vec.tokenize import get_tokenizer

    lines = planted_corpus(300, seed=7)
    lines[5:5] = ["", "  Mixed CASE  Ünï\u3000cöde\x1cword  ", "tab\tsep\x0bvt\xa0nb", "   "]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n")
    tokenizer = get_tokenizer("whitespace", lowercase=True)
    monkeypatch.setattr(encoding, "BLOCK_BYTES", 64)
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    previous = spark.conf.get(key)
    spark.conf.set(key, "29")
    try:
        tokenized = encoding.tokenize_lines(read_text(spark, str(path)), tokenizer)
        counts = encoding.count_tokens(tokenized)
        assert counts == Counter(token for line in lines for token in tokenizer(line))
        vocab = build_vocabulary(counts, min_count=2)
        words = spark.sparkContext.broadcast(vocab.words)
        records = encoding.encode_partitions(tokenized, words, 3, 2).collect()
    finally:
        spark.conf.set(key, previous)
    for partition, its_lines in enumerate(split_lines(lines, 3)):
        pieces = [(tokens, starts) for p, tokens, starts in records if p == partition]
        assert len(pieces) > 1  # cut into blocks of at most 64 bytes
        tokens, starts = encoding.join_pieces(pieces)
        expected_tokens, expected_starts = encode_lines(its_lines, vocab, tokenizer)
        np.testing.assert_array_equal(tokens, expected_tokens)
        np.testing.assert_array_equal(starts, expected_starts)


@pytest.mark.parametrize("fail_at_round", [0, 25])
def test_a_task_failure_is_retried_and_changes_nothing(spark, tmp_path, fail_at_round):
    """A Python worker that dies mid-training (in the first round, or past the recovery
    point of round 20) makes Spark relaunch the stage; the driver goes back to its last
    recovery point and sends the new tasks the model and the syn1neg rows the lost replicas
    had not sent yet (held back by default with 2 partitions), so the vectors are bit for
    bit those of an undisturbed run."""
    lines = planted_corpus(300, seed=4)
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n")
    settings = Settings(
        **{**SETTINGS, "sync_words": 40, "epochs": 1, "min_count": 1, "partitions": 2}
    )
    with task_dies(at_round=fail_at_round):
        failed = train_spark(spark, str(path), settings, verbose=False)
    assert failed.metadata["rounds"] == 30
    assert failed.metadata["task_failures"] == 1
    local_result = train(lines, 2, epochs=1, sync_words=40)
    np.testing.assert_array_equal(failed.vectors, local_result.vectors)


def test_spark_bad_corpora_are_clear_errors(spark, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(SparknnError, match="corpus is empty"):
        train_spark(spark, str(empty), Settings(min_count=1), verbose=False)
    small = tmp_path / "small.txt"
    small.write_text("a b c\n")
    with pytest.raises(SparknnError, match="vocabulary is empty"):
        train_spark(spark, str(small), Settings(min_count=5), verbose=False)


def test_neighbors_job_matches_brute_force(spark, tmp_path):
    from sparknn.word2vec.all_neighbors import write_neighbors

    rng = np.random.default_rng(0)
    wv = WordVectors([f"w{i}" for i in range(300)], rng.normal(size=(300, 8)))
    write_neighbors(spark, wv, topn=5, output=str(tmp_path / "nn"), block_rows=64)
    rows = {r.word: r for r in spark.read.parquet(str(tmp_path / "nn")).collect()}
    assert len(rows) == 300
    for word in ("w0", "w123", "w299"):
        expected = wv.most_similar(word, topn=5)
        assert rows[word].neighbors == [w for w, _ in expected]
        np.testing.assert_allclose(rows[word].cosines, [s for _, s in expected], atol=1e-5)
    write_neighbors(spark, wv, topn=2, output=str(tmp_path / "nn"), overwrite=True)
    assert {len(r.neighbors) for r in spark.read.parquet(str(tmp_path / "nn")).collect()} == {2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nn"]


def test_job_rejects_bad_flags_before_starting_spark(tmp_path, capsys):
    sys.path.insert(0, os.path.join(REPO, "jobs"))
    from train_word2vec import main

    with pytest.raises(SystemExit) as exit:  # argparse's one-line error
        main(["--corpus", "x.txt", "--output", str(tmp_path / "o"), "--backend", "cuda"])
    assert exit.value.code == 2
    expected = "--backend: must be one of numpy, opencl, auto, got 'cuda'"
    assert expected in capsys.readouterr().err


def test_job_stops_a_diverging_run_with_one_line_and_no_output(spark, tmp_path, capsys):
    sys.path.insert(0, os.path.join(REPO, "jobs"))
    from train_word2vec import main

    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(planted_corpus(300, seed=4)) + "\n")
    output = tmp_path / "vectors"
    argv = ["--corpus", str(path), "--output", str(output), "--alpha", "1e6", "--epochs", "1"]
    assert main(argv + ["--min-count", "1", "--vector-size", "20", "--backend", "numpy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "train_word2vec: error: loss became nan at epoch 1, round 1: training diverged; lower alpha"
    )
    assert not any("Traceback" in line for line in err)
    assert not output.exists()


@pytest.mark.spark
def test_spark_submit_job_writes_a_loadable_model(tmp_path, dubliners_path):
    import pyspark

    spark_submit = os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")
    out = tmp_path / "model"
    env = dict(os.environ, PYTHONPATH=REPO, PYSPARK_PYTHON=sys.executable)
    command = [
        spark_submit,
        "--master",
        "local[2]",
        os.path.join(REPO, "jobs", "train_word2vec.py"),
        "--corpus",
        str(dubliners_path),
        "--output",
        str(out),
        "--config",
        os.path.join(REPO, "conf", "word2vec.toml"),
        "--epochs",
        "1",
        "--vector-size",
        "16",
        "--backend",
        "numpy",
        "--tokenizer",
        "unicode",
        "--export-binary",
    ]
    submitted = time.time()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    finished = time.time()
    assert proc.returncode == 0, proc.stderr[-2000:]
    output = proc.stdout + proc.stderr  # spark-submit forwards the driver's stderr to stdout
    assert "words/s" in output and "ETA" in output and "alpha" in output
    # As quiet as the demo: Spark starts at WARN, not with some 45 INFO lines of start-up.
    assert [line for line in proc.stderr.splitlines() if " INFO " in line] == []
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["settings"]["vector_size"] == 16 and metadata["partitions"] == 2
    assert metadata["corpus_words"] > 60_000 and metadata["training_seconds"] > 0
    # training's place in the job's wall time (the bench reads CPU use over that window)
    started = metadata["training_started_unix"]
    assert submitted < started < started + metadata["training_seconds"] < finished
    from_dir, from_text, from_bin = (
        load_vectors(p) for p in (out, out / "vectors.txt", out / "vectors.bin")
    )
    assert from_dir.words == from_text.words == from_bin.words
    assert "dublin" in from_dir and from_dir.counts[0] >= from_dir.counts[-1] >= 5
    np.testing.assert_allclose(from_bin.vectors, from_dir.vectors)
    np.testing.assert_allclose(from_text.vectors, from_dir.vectors, rtol=1e-4, atol=1e-6)
