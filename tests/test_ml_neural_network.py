"""sparknn.ml.NeuralNetwork: a Spark ML Estimator over the distributed trainer.

References are independent of the Spark path: a one-process ``Sequential.fit`` on the same
rows, ``network.predict`` / ``network.evaluate`` in this process.
"""

import numpy as np
import pytest

import sparknn
from sparknn import layers, optimizers
from sparknn.distributed import LocalGradients, Replica, RowReplica, RowShard
from sparknn.errors import SparknnError

ROWS = 40
BATCH = 16  # does not divide ROWS: the last batch of an epoch is shorter, as in model.fit


def classifier(metrics=None):
    model = sparknn.Sequential(
        [layers.Dense(4, activation="tanh", input_dim=3), layers.Dense(3, activation="softmax")],
        seed=1,
        dtype="float64",
    )
    model.compile(
        "sparse_categorical_crossentropy", optimizers.SGD(learning_rate=0.1), metrics=metrics
    )
    return model


def regressor():
    model = sparknn.Sequential(
        [layers.Dense(5, activation="tanh", input_dim=4), layers.Dense(1)], seed=2, dtype="float64"
    )
    model.compile("mse", optimizers.Adam(learning_rate=0.01))
    return model


def class_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, 3))
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    return x, y


def array_frame(spark, x, y):
    rows = [(i, xi.tolist(), float(yi)) for i, (xi, yi) in enumerate(zip(x, y, strict=True))]
    return spark.createDataFrame(rows, "id long, features array<double>, label double")


def probabilities(pandas_frame):
    return np.stack([vector.toArray() for vector in pandas_frame["probability"]])


def test_row_replica_sums_what_one_call_over_its_rows_computes():
    x, y = class_data()
    model = classifier()
    odd, even = np.arange(1, ROWS, 2), np.arange(0, ROWS, 2)
    replica = RowReplica(
        classifier(), [RowShard(odd, x[odd], y[odd]), RowShard(even, x[even], y[even])]
    )
    assert isinstance(replica, Replica)
    wanted = np.array([0, 3, 4, 7, 30, 39, 1000])  # 1000: held by no shard
    loss, grad, n = replica.gradient(wanted)
    ref_loss, ref_grad, ref_n = model.loss_and_gradient(x[wanted[:-1]], y[wanted[:-1]])
    assert n == ref_n == 6
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-15)
    assert replica.gradient(np.array([1000])) == (0.0, None, 0)
    val_loss, val_n = replica.evaluate(wanted)
    assert val_n == 6
    np.testing.assert_allclose(val_loss / 6, model.evaluate(x[wanted[:-1]], y[wanted[:-1]]))


def test_row_replica_of_a_model_with_accuracy_also_returns_the_summed_accuracy():
    x, y = class_data()
    odd, even = np.arange(1, ROWS, 2), np.arange(0, ROWS, 2)
    replica = RowReplica(
        classifier(["accuracy"]), [RowShard(odd, x[odd], y[odd]), RowShard(even, x[even], y[even])]
    )
    model = classifier(["accuracy"])
    model.params[...] = np.random.default_rng(7).normal(size=model.params.size)  # not chance
    replica.params[...] = model.params
    wanted = np.arange(ROWS)
    out = model.predict(x)
    correct = float((out.argmax(axis=1) == y).sum())
    assert 0 < correct < ROWS
    loss, grad, n, train_correct = replica.gradient(wanted)
    assert n == ROWS and train_correct == correct
    val_loss, val_n, val_correct = replica.evaluate(wanted)
    assert val_n == ROWS
    np.testing.assert_allclose(val_correct, correct, rtol=1e-12)
    source = LocalGradients(replica)  # and a gradient source keeps what the replica summed
    source.gradient(0, wanted, replica.params, version=0)
    assert source.correct == correct
    source.evaluate(wanted, replica.params, version=0)
    np.testing.assert_allclose(source.correct, correct, rtol=1e-12)


SEED, VAL_FRACTION, EPOCHS = 5, 0.25, 2


def reference_fit(x, y, is_val, epochs=EPOCHS, batch_size=BATCH, seed=SEED, model=None):
    """One process, ``model.fit`` (default: a ``classifier()``) epoch by epoch over the rows in
    the order RowSchedule documents: epoch e visits the training rows in
    ``default_rng([seed, e])``'s permutation."""
    model = model or classifier()
    train = np.flatnonzero(~is_val)
    history = {}
    for epoch in range(epochs):
        order = train[np.random.default_rng([seed, epoch]).permutation(len(train))]
        logs = model.fit(
            x[order], y[order], batch_size=batch_size, shuffle=False, verbose=0,
            validation_data=(x[is_val], y[is_val]),
        ).history  # fmt: skip
        for key, values in logs.items():
            history.setdefault(key, []).extend(values)
    return model, history


@pytest.fixture(scope="module")
def shuffled_runs(spark):
    """One estimator (shuffled batches, a validation fraction) fitted on 1, 2 and 4 partitions."""
    from sparknn.ml import NeuralNetwork

    x, y = class_data()
    frame = array_frame(spark, x, y)
    estimator = NeuralNetwork(
        model=classifier(), batchSize=BATCH, epochs=EPOCHS, validationFraction=VAL_FRACTION,
        seed=SEED,
    )  # fmt: skip
    fits = {n: estimator.copy({estimator.numPartitions: n}).fit(frame) for n in (1, 2, 4)}
    return estimator, frame, fits


@pytest.mark.parametrize("partitions", [1, 2, 4])
def test_same_weights_and_history_for_1_2_4_partitions_as_one_process(shuffled_runs, partitions):
    from sparknn.ml import NeuralNetworkModel
    from sparknn.ml.neural_network import _validation_mask

    _, _, fits = shuffled_runs
    x, y = class_data()
    held_out = _validation_mask(ROWS, VAL_FRACTION, SEED)
    assert held_out.sum() == 10
    single, history = reference_fit(x, y, held_out)
    fitted = fits[partitions]
    assert isinstance(fitted, NeuralNetworkModel)
    np.testing.assert_allclose(fitted.network.params, single.params, rtol=1e-10, atol=1e-12)
    assert sorted(fitted.history) == ["loss", "val_loss"]
    for key in ("loss", "val_loss"):  # val_loss: evaluated on the executors each epoch
        assert len(fitted.history[key]) == EPOCHS
        np.testing.assert_allclose(fitted.history[key], history[key], rtol=1e-10)


def test_accuracy_history_is_one_process_fits_for_1_and_2_partitions(spark):
    from sparknn.ml import NeuralNetwork
    from sparknn.ml.neural_network import _validation_mask

    x, y = class_data()
    frame = array_frame(spark, x, y)
    held_out = _validation_mask(ROWS, VAL_FRACTION, SEED)
    _, history = reference_fit(x, y, held_out, model=classifier(["accuracy"]))
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(set(history["accuracy"] + history["val_accuracy"])) > 1  # not one constant
    estimator = NeuralNetwork(
        model=classifier(["accuracy"]), batchSize=BATCH, epochs=EPOCHS,
        validationFraction=VAL_FRACTION, seed=SEED,
    )  # fmt: skip
    for partitions in (1, 2):
        fitted = estimator.copy({estimator.numPartitions: partitions}).fit(frame)
        assert sorted(fitted.history) == sorted(history)
        for key, values in history.items():
            np.testing.assert_allclose(fitted.history[key], values, rtol=1e-10, err_msg=key)


def test_the_users_model_is_left_untouched(shuffled_runs):
    estimator, _, _ = shuffled_runs
    np.testing.assert_array_equal(estimator.getModel().params, classifier().params)


def test_transform_adds_probabilities_and_their_argmax(shuffled_runs):
    _, frame, fits = shuffled_runs
    x, _ = class_data()
    fitted = fits[2]
    from pyspark.ml.linalg import DenseVector, VectorUDT

    transformed = fitted.transform(frame)
    assert isinstance(transformed.schema["probability"].dataType, VectorUDT)  # as Spark's
    out = transformed.orderBy("id").toPandas()
    expected = fitted.network.predict(x)
    assert all(isinstance(v, DenseVector) for v in out["probability"])
    np.testing.assert_allclose(probabilities(out), expected, rtol=1e-12)
    np.testing.assert_array_equal(out["prediction"].to_numpy(), expected.argmax(axis=1))
    assert list(out.columns) == ["id", "features", "label", "prediction", "probability"]


def test_vector_features_regression_and_double_prediction(spark):
    from pyspark.ml.linalg import Vectors

    from sparknn.ml import NeuralNetwork

    rng = np.random.default_rng(3)
    x = rng.normal(size=(ROWS, 4))
    x[::3, 1:] = 0.0  # every third row is stored as a sparse vector
    y = x @ np.array([0.5, -1.0, 0.25, 2.0]) + 0.1
    vectors = [
        Vectors.sparse(4, {0: float(row[0])}) if i % 3 == 0 else Vectors.dense(row)
        for i, row in enumerate(x)
    ]
    frame = spark.createDataFrame(
        [(i, v, float(t)) for i, (v, t) in enumerate(zip(vectors, y, strict=True))],
        ["id", "features", "label"],
    )
    single = regressor()
    single.fit(x, y, epochs=3, batch_size=BATCH, shuffle=False, verbose=0)
    fitted = NeuralNetwork(
        model=regressor(), batchSize=BATCH, epochs=3, shuffle=False, numPartitions=2
    ).fit(frame)
    np.testing.assert_allclose(fitted.network.params, single.params, rtol=1e-9, atol=1e-12)

    out = fitted.transform(frame).orderBy("id").select("prediction").toPandas()
    assert out["prediction"].dtype == np.float64
    np.testing.assert_allclose(out["prediction"], fitted.network.predict(x)[:, 0], rtol=1e-12)


@pytest.mark.parametrize(
    "schema, features, message",
    [
        ("features array<double>, label double", [[1.0, 2.0, 3.0]] * 5 + [[1.0, 2.0]],
         "features column 'features': expected shape (3,) per row, found (2,) in row 5"),
        ("features array<double>, label double", [[1.0, 2.0, 3.0]] * 3 + [None],
         "features column 'features' is null in row 3"),
        ("features array<double>, label double", [[1.0, 2.0, 3.0]] * 3 + [[1.0, float("nan"), 0.0]],
         "features column 'features' has NaN in row 3"),
        ("features array<double>, label double", [[1.0, 2.0]] * 4,
         "features column 'features': the model expects shape (3,) per row, found (2,)"),
        ("features string, label double", ["a"] * 4,
         "features column 'features' has type string; expected array<float|double|int> or Vector"),
    ],
)  # fmt: skip
def test_bad_features_are_one_clear_error_before_training(spark, schema, features, message):
    from sparknn.ml import NeuralNetwork

    frame = spark.createDataFrame([(f, 1.0) for f in features], schema)
    estimator = NeuralNetwork(model=classifier(), batchSize=2, numPartitions=2)
    with pytest.raises(SparknnError) as caught:
        estimator.fit(frame)
    assert str(caught.value) == message


def test_a_null_label_is_one_clear_error(spark):
    from sparknn.ml import NeuralNetwork

    frame = spark.createDataFrame(
        [([1.0, 2.0, 3.0], 1.0)] * 3 + [([1.0, 2.0, 3.0], None)],
        "features array<double>, label double",
    )
    estimator = NeuralNetwork(model=classifier(), batchSize=2, numPartitions=2)
    with pytest.raises(SparknnError) as caught:
        estimator.fit(frame)
    assert str(caught.value) == "labels column 'label' is null in row 3"


def test_pipeline_saves_and_loads_with_the_same_predictions(spark, tmp_path):
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import VectorAssembler

    from sparknn.ml import NeuralNetwork, NeuralNetworkModel

    x, y = class_data()
    frame = spark.createDataFrame(
        [(i, *map(float, xi), float(yi)) for i, (xi, yi) in enumerate(zip(x, y, strict=True))],
        ["id", "a", "b", "c", "label"],
    )
    estimator = NeuralNetwork(model=classifier(), batchSize=BATCH, epochs=2, numPartitions=2)
    pipeline = Pipeline(stages=[VectorAssembler(inputCols=["a", "b", "c"], outputCol="features"),
                                estimator])  # fmt: skip
    fitted = pipeline.fit(frame)
    fitted.write().save(str(tmp_path / "pipeline"))
    loaded = PipelineModel.load(f"file://{tmp_path / 'pipeline'}")

    network_stage = loaded.stages[-1]
    assert isinstance(network_stage, NeuralNetworkModel)
    assert network_stage.history == fitted.stages[-1].history
    assert network_stage.getBatchSize() == BATCH and network_stage.getEpochs() == 2
    np.testing.assert_array_equal(network_stage.network.params, fitted.stages[-1].network.params)
    before = fitted.transform(frame).orderBy("id").toPandas()
    after = loaded.transform(frame).orderBy("id").toPandas()
    np.testing.assert_array_equal(probabilities(after), probabilities(before))
    np.testing.assert_array_equal(after["prediction"], before["prediction"])

    # the unfitted estimator keeps its model (as npz) and Params
    estimator.write().save(str(tmp_path / "estimator"))
    again = NeuralNetwork.load(str(tmp_path / "estimator"))
    assert again.getNumPartitions() == 2 and again.uid == estimator.uid
    assert again.getModel().get_config() == estimator.getModel().get_config()
    np.testing.assert_array_equal(again.getModel().params, estimator.getModel().params)


def test_cross_validator_tunes_the_learning_rate(spark):
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    from sparknn.ml import NeuralNetwork

    x, y = class_data()
    frame = array_frame(spark, x, y)
    estimator = NeuralNetwork(model=classifier(), batchSize=BATCH, epochs=2, numPartitions=2)
    grid = ParamGridBuilder().addGrid(estimator.learningRate, [0.001, 1.0]).build()
    evaluator = MulticlassClassificationEvaluator(metricName="accuracy")
    search = CrossValidator(
        estimator=estimator, estimatorParamMaps=grid, evaluator=evaluator, numFolds=2, seed=3
    )
    tuned = search.fit(frame)
    assert len(tuned.avgMetrics) == 2
    best = grid[int(np.argmax(tuned.avgMetrics))][estimator.learningRate]
    assert tuned.bestModel.getLearningRate() == best
    assert tuned.bestModel.network.optimizer.learning_rate == best  # the Param reached training
    assert estimator.getModel().optimizer.learning_rate == 0.1  # the user's model is untouched


def test_a_run_resumes_from_its_checkpoint(shuffled_runs, tmp_path):
    estimator, frame, fits = shuffled_runs
    straight = fits[2]
    two = estimator.copy({estimator.numPartitions: 2})
    checkpoints = {estimator.checkpointDir: str(tmp_path), estimator.checkpointEvery: 2}
    two.copy({**checkpoints, estimator.epochs: 1}).fit(frame)  # 2 steps: one checkpoint
    resumed = two.copy(checkpoints).fit(frame)
    assert len(resumed.history["loss"]) == 1  # it trained only the second epoch
    np.testing.assert_allclose(resumed.network.params, straight.network.params, rtol=1e-12)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(resumed.history[key], straight.history[key][1:], rtol=1e-12)


def test_early_stopping_stops_at_the_epoch_one_process_fit_stops(spark):
    from sparknn.ml import NeuralNetwork
    from sparknn.nn.callbacks import EarlyStopping

    x, y = class_data()
    held_out = np.arange(ROWS) % 4 == 1
    frame = spark.createDataFrame(
        [(xi.tolist(), float(yi), bool(v)) for xi, yi, v in zip(x, y, held_out, strict=True)],
        "features array<double>, label double, held_out boolean",
    )
    # the validation loss improves by less than min_delta after a few epochs
    single = classifier()
    single.optimizer.learning_rate = 1.0
    stopper = EarlyStopping(min_delta=0.04)
    history = single.fit(
        x[~held_out], y[~held_out], epochs=8, batch_size=BATCH, shuffle=False, verbose=0,
        validation_data=(x[held_out], y[held_out]), callbacks=[stopper],
    ).history  # fmt: skip
    assert 2 <= len(history["loss"]) < 8  # it did stop early

    spark_stopper = EarlyStopping(min_delta=0.04)
    fitted = NeuralNetwork(
        model=classifier(), batchSize=BATCH, epochs=8, shuffle=False, numPartitions=2,
        learningRate=1.0, validationCol="held_out", callbacks=[spark_stopper],
    ).fit(frame)  # fmt: skip
    assert spark_stopper.stopped_epoch == stopper.stopped_epoch
    assert spark_stopper.model is fitted.network
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(fitted.history[key], history[key], rtol=1e-10)
    np.testing.assert_allclose(fitted.network.params, single.params, rtol=1e-10, atol=1e-12)


def test_an_executor_killed_mid_training_gives_the_same_weights(shuffled_runs, monkeypatch):
    from sparknn.distributed import SparkGradients
    from sparknn.ml import neural_network
    from sparknn.testing import task_dies

    estimator, frame, fits = shuffled_runs
    sources = []

    def keeping_the_source(*args, **kwargs):
        sources.append(SparkGradients(*args, **kwargs))
        return sources[-1]

    monkeypatch.setattr(neural_network, "SparkGradients", keeping_the_source)
    with task_dies(at_step=1):  # task 0's Python worker exits at step 1
        killed = estimator.copy({estimator.numPartitions: 2}).fit(frame)
    assert sources[0].failures == 1  # a Python worker did die, and Spark relaunched the stage
    np.testing.assert_array_equal(killed.network.params, fits[2].network.params)
    assert killed.history == fits[2].history


def test_model_fit_on_token_id_arrays_trains_an_embedding_lstm_as_one_process_fit(spark):
    from sparknn.ml import NeuralNetworkModel

    def tagger():
        model = sparknn.Sequential(
            [layers.Embedding(7, 4, input_length=5), layers.LSTM(6),
             layers.Dense(3, activation="softmax")],
            seed=3, dtype="float64",
        )  # fmt: skip
        model.compile("sparse_categorical_crossentropy", optimizers.Adam(learning_rate=0.05))
        return model

    rng = np.random.default_rng(4)
    ids = rng.integers(0, 7, size=(24, 5))
    y = ids[:, 0] % 3  # the class is a function of the first token
    frame = spark.createDataFrame(
        [(i, row.tolist(), int(t)) for i, (row, t) in enumerate(zip(ids, y, strict=True))],
        "id long, features array<int>, label int",
    )
    single = tagger()
    history = single.fit(ids, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    model = tagger()
    # the Keras habit: Sequential.fit takes the DataFrame and trains the model itself
    spark_history = model.fit(frame, epochs=2, batch_size=8, shuffle=False, numPartitions=2)
    np.testing.assert_allclose(model.params, single.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(spark_history.history["loss"], history.history["loss"], rtol=1e-9)
    assert spark_history.epoch == [0, 1]
    out = NeuralNetworkModel(model).transform(frame).orderBy("id").toPandas()
    np.testing.assert_allclose(probabilities(out), single.predict(ids), rtol=1e-9)


def test_a_save_that_fails_leaves_nothing_at_the_path(spark, tmp_path, monkeypatch):
    import sparknn.ml.neural_network as ml_network
    from sparknn.ml import NeuralNetwork, NeuralNetworkModel

    # a network that cannot be saved yet (no input shape, so no weights): refused first
    unbuilt = sparknn.Sequential([layers.Dense(3)])
    unbuilt.compile("mse", optimizers.SGD(learning_rate=0.1))
    with pytest.raises(SparknnError, match="cannot save a model without weights"):
        NeuralNetwork(model=unbuilt).write().save(str(tmp_path / "estimator"))
    assert not (tmp_path / "estimator").exists()

    # the network's data failing to write after the metadata: the metadata goes too
    def failing_write(spark, path, blob):
        raise OSError("disk full")

    monkeypatch.setattr(ml_network, "save_blob", failing_write)
    model = NeuralNetworkModel(classifier(), {"loss": [1.0]})
    with pytest.raises(OSError, match="disk full"):
        model.write().save(str(tmp_path / "model"))
    assert not (tmp_path / "model").exists()


def test_network_bytes_round_trip_and_damaged_bytes_are_one_clear_error():
    from sparknn.ml import network_from_bytes, network_to_bytes

    model = regressor()
    model.fit(np.ones((4, 4)), np.ones((4, 1)), epochs=1, batch_size=2, verbose=0)  # Adam state
    again = network_from_bytes(network_to_bytes(model))
    assert again.get_config() == model.get_config()
    np.testing.assert_array_equal(again.params, model.params)
    state, restored = model.optimizer.get_state(), again.optimizer.get_state()
    assert state.keys() == restored.keys()
    for name in state:
        np.testing.assert_array_equal(restored[name], state[name])

    blob = network_to_bytes(model)
    for damaged in (b"not an npz", blob[: len(blob) // 2]):
        with pytest.raises(SparknnError, match="not a sparknn model file") as raised:
            network_from_bytes(damaged)
        assert "\n" not in str(raised.value)


def pylist_reference(values, shape, dtype):
    """What read_column must return, cell by cell from Python lists."""
    cells = values.to_pylist()
    return np.array(cells, dtype=dtype).reshape(len(cells), *shape)


def test_read_column_converts_lists_numbers_and_sliced_batches_as_python_lists_do():
    import pyarrow as pa

    from sparknn.ml.data import read_column

    rows = np.random.default_rng(6).normal(size=(7, 3))
    lists = pa.array([[9.0, 9.0, 9.0], *rows.tolist()]).slice(1)  # a batch that is a slice
    np.testing.assert_array_equal(
        read_column(lists, "f", "features", (3,), np.dtype(np.float64), 0),
        pylist_reference(lists, (3,), np.float64),
    )
    ids = pa.array([[1, 2], [3, 4]], pa.list_(pa.int32()))
    got = read_column(ids, "f", "features", (None,), np.dtype(np.int64), 0)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, pylist_reference(ids, (2,), np.int64))
    labels = pa.array([0.0, 2.0, 1.0])
    np.testing.assert_array_equal(
        read_column(labels, "y", "labels", (), np.dtype(np.int64), 0), [0, 2, 1]
    )
    # a null cell may own a stretch of the child array: it must not shift the rows after it
    offsets = pa.array([0, 2, 4, 6], pa.int32())
    backed = pa.ListArray.from_arrays(
        offsets, pa.array([1.0, 2.0, 7.0, 7.0, 5.0, 6.0]), mask=pa.array([False, True, False])
    )
    with pytest.raises(SparknnError, match=r"^features column 'f' is null in row 11$"):
        read_column(backed, "f", "features", (2,), np.dtype(np.float64), 10)
    np.testing.assert_array_equal(
        read_column(backed.slice(2), "f", "features", (2,), np.dtype(np.float64), 0), [[5, 6]]
    )
    empty = read_column(pa.array([], pa.list_(pa.float64())), "f", "features", (3,), np.float64)
    assert empty.shape == (0, 3)


@pytest.mark.parametrize(
    "cells, shape, message",
    [
        ([[1.0, 2.0], [1.0, None], [1.0]], (2,),
         "features column 'f' has a null element in row 8"),
        ([[1.0, 2.0], [1.0], [1.0, None]], (2,),
         "features column 'f': expected shape (2,) per row, found (1,) in row 8"),
        ([[1.0, 2.0], [1.0, 2.0], [float("nan"), 2.0]], (2,),
         "features column 'f' has NaN in row 9"),
        ([[1.0, 2.0], None], (2,), "features column 'f' is null in row 8"),
        ([[1.0, 2.0], [1.0, 2.0, 3.0]], (None,),
         "features column 'f': rows have different shapes (2,) and (3,)"),
        ([[1.5, 2.0]], (2,), "features column 'f' must hold integers for this model"),
    ],
)  # fmt: skip
def test_read_column_names_the_first_bad_row(cells, shape, message):
    import pyarrow as pa

    from sparknn.ml.data import read_column

    dtype = np.int64 if "integers" in message else np.float64
    with pytest.raises(SparknnError) as caught:
        read_column(pa.array(cells), "f", "features", shape, np.dtype(dtype), 7)
    assert str(caught.value) == message


def test_empty_partitions_array_labels_and_a_validation_column_train_as_one_process(spark):
    from pyspark.ml.linalg import Vectors, VectorUDT
    from pyspark.sql.types import (
        ArrayType,
        BooleanType,
        DoubleType,
        LongType,
        StructField,
        StructType,
    )

    from sparknn.ml import NeuralNetwork

    rng = np.random.default_rng(8)
    x = rng.normal(size=(12, 4))
    y = np.stack([x[:, 0] - x[:, 1], x[:, 2] * 0.5], axis=1)
    held_out = np.arange(12) % 5 == 2
    rows = [
        (i, Vectors.sparse(4, {0: float(xi[0]), 3: float(xi[3])}) if i % 2 else Vectors.dense(xi),
         yi.tolist(), bool(v))
        for i, (xi, yi, v) in enumerate(zip(x, y, held_out, strict=True))
    ]  # fmt: skip
    x[1::2, 1:3] = 0.0  # what the sparse rows hold
    schema = StructType(
        [StructField("id", LongType()), StructField("features", VectorUDT()),
         StructField("label", ArrayType(DoubleType())), StructField("held_out", BooleanType())]
    )  # fmt: skip
    frame = spark.createDataFrame(spark.sparkContext.parallelize(rows, 20), schema)
    assert frame.rdd.glom().map(len).collect().count(0) > 0  # some partitions are empty

    def two_outputs():
        model = sparknn.Sequential(
            [layers.Dense(5, activation="tanh", input_dim=4), layers.Dense(2)],
            seed=2, dtype="float64",
        )  # fmt: skip
        model.compile("mse", optimizers.SGD(learning_rate=0.05))
        return model

    single = two_outputs()
    history = single.fit(
        x[~held_out], y[~held_out], epochs=2, batch_size=4, shuffle=False, verbose=0,
        validation_data=(x[held_out], y[held_out]),
    ).history  # fmt: skip
    fitted = NeuralNetwork(
        model=two_outputs(), batchSize=4, epochs=2, shuffle=False, numPartitions=3,
        validationCol="held_out",
    ).fit(frame)  # fmt: skip
    np.testing.assert_allclose(fitted.network.params, single.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fitted.history["val_loss"], history["val_loss"], rtol=1e-10)

    transformed = fitted.transform(frame)
    assert transformed.schema["prediction"].dataType.simpleString() == "array<double>"
    out = transformed.orderBy("id").toPandas()
    np.testing.assert_allclose(np.stack(out["prediction"]), single.predict(x), rtol=1e-12)


def test_a_null_element_inside_a_features_array_is_one_clear_error(spark):
    from sparknn.ml import NeuralNetwork

    frame = spark.createDataFrame(
        [([1.0, 2.0, 3.0], 1.0)] * 4 + [([1.0, None, 3.0], 1.0)],
        "features array<double>, label double",
    )
    with pytest.raises(SparknnError) as caught:
        NeuralNetwork(model=classifier(), batchSize=2, numPartitions=2).fit(frame)
    assert str(caught.value) == "features column 'features' has a null element in row 4"
