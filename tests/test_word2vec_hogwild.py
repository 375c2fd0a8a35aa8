"""word2vec with ``hogwild``: every replica trains one model in shared memory."""

import os

import numpy as np
import pytest

from sparknn.backend.numpy_backend import NumpyBackend
from sparknn.errors import SparknnError
from sparknn.word2vec import replica
from sparknn.word2vec.replica import PartitionTrainer, Tables, init_vectors
from sparknn.word2vec.settings import Settings
from sparknn.word2vec.shared_model import SharedModel, map_shared_model
from sparknn.word2vec.spark import train_spark
from sparknn.word2vec.vocab import build_vocabulary
from tests.test_word2vec_train import (
    SETTINGS,
    analogy_accuracy,
    planted_corpus,
    train,
    write_questions,
)


def write_corpus(tmp_path, lines):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_hogwild_in_one_process_recovers_planted_structure(tmp_path):
    """In one process the replicas take turns on the one model: nothing is exchanged, and
    the vectors learn what the exchanging run learns."""
    lines = planted_corpus(4000)
    result = train(lines, 2, hogwild=True)
    accuracy, _ = analogy_accuracy(result, write_questions(tmp_path / "q.txt"))
    assert accuracy >= 0.9
    assert result.metadata["rows_sent_per_round"] == {"syn0": 0.0, "syn1neg": 0.0}
    assert result.metadata["rounds"] == 3  # one per epoch: the corpus is under a round


def test_shared_model_maps_the_drivers_values_and_is_removed(tmp_path):
    syn0, syn1neg = init_vectors(50, 8, seed=1)
    with SharedModel(syn0, syn1neg) as shared:
        mapped0, mapped1 = map_shared_model(shared.path, 50, 8)
        np.testing.assert_array_equal(mapped0, syn0)
        np.testing.assert_array_equal(mapped1, syn1neg)
        mapped1[3, 2] = 7.0  # a task's update is the driver's
        assert shared.syn1neg[3, 2] == 7.0
        with pytest.raises(SparknnError, match="expected"):
            map_shared_model(shared.path, 51, 8)  # another model's shape
    assert not os.path.exists(shared.folder)
    with pytest.raises(SparknnError, match="not on this task's host"):
        map_shared_model(shared.path, 50, 8)


def test_hogwild_refuses_a_backend_that_copies_the_model(monkeypatch):
    """A device with memory of its own would copy the whole model back over the other
    tasks' updates."""
    device_backend = NumpyBackend()
    device_backend.trains_in_place = False
    monkeypatch.setattr(replica, "get_backend", lambda name: device_backend)
    vocab = build_vocabulary({"a": 3, "b": 2}, min_count=1)
    settings = Settings(**{**SETTINGS, "hogwild": True})
    tables = Tables.build(vocab, settings.sample)
    model = init_vectors(len(vocab), settings.vector_size, settings.seed)
    tokens, starts = np.array([0, 1], np.int32), np.array([0], np.int64)
    with pytest.raises(SparknnError, match="copies the model"):
        PartitionTrainer(0, tokens, starts, len(vocab), settings, tables, 2, model)


def test_spark_hogwild_one_partition_equals_the_single_process_run(spark, tmp_path):
    """One task alone trains the driver's shared file: exactly what one process computes
    (the model crosses from the driver to the task and back only through the file)."""
    lines = planted_corpus(500, seed=3)
    settings = Settings(
        **{**SETTINGS, "epochs": 2, "min_count": 1, "partitions": 1, "hogwild": True}
    )
    spark_result = train_spark(spark, write_corpus(tmp_path, lines), settings, verbose=False)
    local_result = train(lines, 1, epochs=2, hogwild=True)
    assert spark_result.vocab.words == local_result.vocab.words
    np.testing.assert_array_equal(spark_result.vectors, local_result.vectors)


@pytest.mark.parametrize("backend", ["numpy", "opencl"])
def test_spark_hogwild_tasks_train_one_model(spark, tmp_path, backend):
    """Two executors' tasks train the one file lock-free: every row moved (words of both
    partitions reached the driver's model without an exchange) and the structure is
    learnt. Their races make the vectors vary run to run, so quality is what is checked."""
    lines = planted_corpus(4000)
    settings = Settings(
        **{**SETTINGS, "min_count": 1, "partitions": 2, "hogwild": True, "backend": backend}
    )
    result = train_spark(spark, write_corpus(tmp_path, lines), settings, verbose=False)
    assert result.metadata["tasks"] == 2
    assert result.metadata["rows_sent_per_round"] == {"syn0": 0.0, "syn1neg": 0.0}
    initial, _ = init_vectors(len(result.vocab), SETTINGS["vector_size"], Settings().seed)
    assert np.all(np.any(result.vectors != initial, axis=1))
    accuracy, _ = analogy_accuracy(result, write_questions(tmp_path / "q.txt"))
    assert accuracy >= 0.9


def test_spark_hogwild_task_without_the_shared_model_is_a_clear_error(spark, tmp_path, monkeypatch):
    """A task on another host than the driver's does not find the shared model: the job
    fails with the reason, not a hang or a trace about memory maps."""
    import sparknn.word2vec.spark as word2vec_spark

    class ElsewhereModel(SharedModel):  # a path no task finds, as on another host
        def __init__(self, syn0, syn1neg):
            self.folder, self.path = str(tmp_path / "gone"), str(tmp_path / "gone" / "m.f32")
            self.syn0, self.syn1neg = syn0, syn1neg

    monkeypatch.setattr(word2vec_spark, "SharedModel", ElsewhereModel)
    lines = planted_corpus(200, seed=1)
    settings = Settings(
        **{**SETTINGS, "epochs": 1, "min_count": 1, "partitions": 2, "hogwild": True}
    )
    with pytest.raises(SparknnError, match="not on this task.s host"):
        train_spark(spark, write_corpus(tmp_path, lines), settings, verbose=False)
