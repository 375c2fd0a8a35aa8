"""``NeuralNetwork``: a Spark ML Estimator training a compiled ``Sequential`` on a DataFrame.

>>> net = sparknn.Sequential([layers.Dense(3, activation="softmax", input_dim=4)])
>>> net.compile("sparse_categorical_crossentropy", optimizers.SGD(0.1))
>>> fitted = NeuralNetwork(model=net, batchSize=64, epochs=5, numPartitions=2).fit(train_df)
>>> fitted.history["loss"]                       # one value per epoch
>>> fitted.transform(test_df).select("prediction", "probability")

Training is the char-LM trainer's synchronous data-parallel SGD
(:mod:`sparknn.distributed`): rows are numbered once, each of ``numPartitions`` shards is
converted to numpy once and stays resident in one long-lived barrier stage, the batch at step t
is a function of (seed, t) over the row numbers (:class:`~sparknn.ml.data.RowSchedule`), and
the driver adds the shards' gradient sums and takes the step. So the weights do not depend on
``numPartitions`` beyond float rounding, and with ``shuffle=False`` they are those of
``model.fit(x, y, batch_size=batchSize, shuffle=False)`` in one process (models without
dropout: dropout masks are drawn per replica).
"""

import io
import math
import uuid
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.linalg import VectorUDT
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import (
    HasFeaturesCol,
    HasLabelCol,
    HasPredictionCol,
    HasProbabilityCol,
    HasSeed,
)
from pyspark.ml.util import MLReadable, MLWritable
from pyspark.sql import functions as F
from pyspark.sql.functions import arrow_udf
from pyspark.sql.types import ArrayType, DoubleType, StructField, StructType

from sparknn.backend import get_backend
from sparknn.distributed import RowReplica, SparkGradients
from sparknn.distributed.checkpoint import checkpoints
from sparknn.distributed.sources import executor_slots
from sparknn.distributed.trainer import fit, resume
from sparknn.errors import SparknnError
from sparknn.ml.data import (
    FEATURES,
    LABELS,
    ResidentRows,
    RowSchedule,
    arrow_column,
    check_column,
    check_validation_column,
    dense_vectors,
    read_column,
    survey_rows,
)
from sparknn.ml.persistence import StageReader, StageWriter, data_path, load_blob, save_blob
from sparknn.nn.callbacks import Callback, History
from sparknn.nn.layers import Embedding
from sparknn.nn.losses import SparseCategoricalCrossentropy
from sparknn.nn.model import Sequential
from sparknn.nn.serialization import model_arrays, read_model

# One Python worker keeps the networks of the last few transforms it served, so a network is
# deserialised once per worker, not once per batch or task.
_NETWORK_CACHE_SIZE = 4
_networks_on_executor: dict[str, object] = {}


class _StopTraining(Exception):
    """A callback set ``model.stop_training``: leaves the driver loop after the epoch."""


def _to_callbacks(value):
    value = list(value)
    for hook in value:
        if not isinstance(hook, Callback):
            raise TypeError(
                "callbacks must be sparknn.nn.callbacks.Callback objects, "
                f"got {type(hook).__name__}"
            )
    return value


def _to_compiled_sequential(value):
    if not isinstance(value, Sequential):
        raise TypeError(f"model must be a sparknn.Sequential, got {type(value).__name__}")
    if value.loss is None or value.optimizer is None:
        raise TypeError("model must be compiled: call model.compile(loss=..., optimizer=...)")
    return value


class _NeuralNetworkParams(
    HasFeaturesCol, HasLabelCol, HasPredictionCol, HasProbabilityCol, HasSeed
):
    """Params shared by :class:`NeuralNetwork` and :class:`NeuralNetworkModel`."""

    batchSize = Param(
        Params._dummy(), "batchSize", "examples per step, over all partitions together (>= 1)",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    epochs = Param(
        Params._dummy(), "epochs", "passes over the training rows (>= 1)",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    numPartitions = Param(
        Params._dummy(), "numPartitions",
        "shards the rows are split into (default: one per executor slot); shards beyond the "
        "executor slots share tasks",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    shuffle = Param(
        Params._dummy(), "shuffle",
        "visit the rows in a fresh order each epoch (drawn from seed and epoch); "
        "false: in row order",
        typeConverter=TypeConverters.toBoolean,
    )  # fmt: skip
    validationFraction = Param(
        Params._dummy(), "validationFraction",
        "fraction of rows held out to report val_loss each epoch, in [0, 1)",
        typeConverter=TypeConverters.toFloat,
    )  # fmt: skip
    validationCol = Param(
        Params._dummy(), "validationCol",
        "boolean column: true marks a row held out to report val_loss each epoch (instead of "
        "validationFraction)",
        typeConverter=TypeConverters.toString,
    )  # fmt: skip
    learningRate = Param(
        Params._dummy(), "learningRate",
        "overrides the compiled optimizer's learning rate (unset: keep it)",
        typeConverter=TypeConverters.toFloat,
    )  # fmt: skip
    backend = Param(
        Params._dummy(), "backend", "compute backend on the executors: numpy, opencl or auto",
        typeConverter=TypeConverters.toString,
    )  # fmt: skip
    checkpointDir = Param(
        Params._dummy(), "checkpointDir",
        "driver-side directory for checkpoints; a run resumes from the newest one it finds",
        typeConverter=TypeConverters.toString,
    )  # fmt: skip
    checkpointEvery = Param(
        Params._dummy(), "checkpointEvery", "steps between checkpoints (0: none)",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip

    def __init__(self, *args):
        super().__init__(*args)
        self._setDefault(
            batchSize=32,
            epochs=1,
            shuffle=True,
            validationFraction=0.0,
            backend="numpy",
            checkpointEvery=0,
            seed=0,
        )

    def getBatchSize(self) -> int:
        return self.getOrDefault(self.batchSize)

    def getEpochs(self) -> int:
        return self.getOrDefault(self.epochs)

    def getNumPartitions(self):
        return self.getOrDefault(self.numPartitions) if self.isDefined(self.numPartitions) else None

    def getShuffle(self) -> bool:
        return self.getOrDefault(self.shuffle)

    def getValidationFraction(self) -> float:
        return self.getOrDefault(self.validationFraction)

    def getValidationCol(self):
        return self.getOrDefault(self.validationCol) if self.isDefined(self.validationCol) else None

    def getLearningRate(self):
        return self.getOrDefault(self.learningRate) if self.isDefined(self.learningRate) else None

    def getBackend(self) -> str:
        return self.getOrDefault(self.backend)

    def getCheckpointDir(self):
        return self.getOrDefault(self.checkpointDir) if self.isDefined(self.checkpointDir) else None

    def getCheckpointEvery(self) -> int:
        return self.getOrDefault(self.checkpointEvery)


class NeuralNetwork(Estimator, _NeuralNetworkParams, MLReadable, MLWritable):
    """Trains a copy of ``model`` (a compiled ``sparknn.Sequential``; it is left untouched) on
    a DataFrame's ``featuresCol`` and ``labelCol``; ``fit`` returns a
    :class:`NeuralNetworkModel`. Saves and loads like any Spark ML stage (``model`` as npz;
    ``callbacks`` are not saved).

    ``callbacks`` (sparknn.nn.callbacks, e.g. ``EarlyStopping``) are called as ``model.fit``
    calls them, with the trained copy as their ``model``: ``on_epoch_end`` gets ``loss`` (and
    ``val_loss`` when validating; ``accuracy`` and ``val_accuracy`` too for a model compiled
    with ``metrics=["accuracy"]``) and may set ``model.stop_training``.
    """

    model = Param(
        Params._dummy(), "model", "the compiled sparknn.Sequential to train (a copy is trained)",
        typeConverter=_to_compiled_sequential,
    )  # fmt: skip
    callbacks = Param(
        Params._dummy(), "callbacks",
        "a list of sparknn.nn.callbacks.Callback called during training (not saved)",
        typeConverter=_to_callbacks,
    )  # fmt: skip

    # Defaults live in _NeuralNetworkParams: keyword_only passes only the arguments given.
    @keyword_only
    def __init__(
        self, *, model=None, featuresCol=None, labelCol=None, predictionCol=None,
        probabilityCol=None, batchSize=None, epochs=None, numPartitions=None, seed=None,
        shuffle=None, validationFraction=None, validationCol=None, learningRate=None,
        backend=None, checkpointDir=None, checkpointEvery=None, callbacks=None,
    ):  # fmt: skip
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(
        self, *, model=None, featuresCol=None, labelCol=None, predictionCol=None,
        probabilityCol=None, batchSize=None, epochs=None, numPartitions=None, seed=None,
        shuffle=None, validationFraction=None, validationCol=None, learningRate=None,
        backend=None, checkpointDir=None, checkpointEvery=None, callbacks=None,
    ):  # fmt: skip
        return self._set(**self._input_kwargs)

    def getModel(self):
        return self.getOrDefault(self.model)

    def write(self):
        network = self.getModel() if self.isSet(self.model) else None
        return _network_writer(self, network, skip=("model", "callbacks"))

    @classmethod
    def read(cls):
        return _network_reader(cls, lambda stage, network: stage._set(model=network))

    def setModel(self, value):
        return self._set(model=value)

    def getCallbacks(self) -> list:
        return self.getOrDefault(self.callbacks) if self.isDefined(self.callbacks) else []

    def setCallbacks(self, value):
        return self._set(callbacks=value)

    def setFeaturesCol(self, value):
        return self._set(featuresCol=value)

    def setLabelCol(self, value):
        return self._set(labelCol=value)

    def setPredictionCol(self, value):
        return self._set(predictionCol=value)

    def setProbabilityCol(self, value):
        return self._set(probabilityCol=value)

    def setBatchSize(self, value):
        return self._set(batchSize=value)

    def setEpochs(self, value):
        return self._set(epochs=value)

    def setNumPartitions(self, value):
        return self._set(numPartitions=value)

    def setSeed(self, value):
        return self._set(seed=value)

    def setShuffle(self, value):
        return self._set(shuffle=value)

    def setValidationFraction(self, value):
        return self._set(validationFraction=value)

    def setValidationCol(self, value):
        return self._set(validationCol=value)

    def setLearningRate(self, value):
        return self._set(learningRate=value)

    def setBackend(self, value):
        return self._set(backend=value)

    def setCheckpointDir(self, value):
        return self._set(checkpointDir=value)

    def setCheckpointEvery(self, value):
        return self._set(checkpointEvery=value)

    def _check_params(self):
        if not self.isDefined(self.model):
            raise SparknnError("NeuralNetwork needs model=: a compiled sparknn.Sequential")
        if self.getBatchSize() < 1:
            raise SparknnError(f"batchSize must be >= 1, got {self.getBatchSize()}")
        if self.getEpochs() < 1:
            raise SparknnError(f"epochs must be >= 1, got {self.getEpochs()}")
        if self.getNumPartitions() is not None and self.getNumPartitions() < 1:
            raise SparknnError(f"numPartitions must be >= 1, got {self.getNumPartitions()}")
        if not 0.0 <= self.getValidationFraction() < 1.0:
            raise SparknnError(
                f"validationFraction must be in [0, 1), got {self.getValidationFraction()}"
            )
        if self.getValidationCol() is not None and self.getValidationFraction():
            raise SparknnError("set validationFraction or validationCol, not both")
        if self.getCheckpointEvery() < 0:
            raise SparknnError(f"checkpointEvery must be >= 0, got {self.getCheckpointEvery()}")
        if self.getCheckpointEvery() and self.getCheckpointDir() is None:
            raise SparknnError("checkpointEvery is set but checkpointDir is not")
        try:
            get_backend(self.getBackend())
        except ImportError as error:
            raise SparknnError(f"backend {self.getBackend()!r} is not available: {error}") from None

    def _fit(self, dataset):
        self._check_params()
        features, labels = self.getFeaturesCol(), self.getLabelCol()
        check_column(dataset.schema, features, FEATURES)
        check_column(dataset.schema, labels, LABELS)
        validation = self.getValidationCol()
        if validation is not None:
            check_validation_column(dataset.schema, validation)
        network = _trainable_copy(self.getModel(), self.getBackend(), self.getLearningRate())
        frame = dataset.select(
            arrow_column(dataset.schema, features).alias(FEATURES),
            arrow_column(dataset.schema, labels).alias(LABELS),
            *([F.col(validation).alias("validation")] if validation else []),
        )  # fmt: skip
        sizes, first, val_rows = survey_rows(frame, validation)
        feature_shape, label_shape = _row_shapes(first, features, labels)
        if not network.built:
            network.build(feature_shape)
        expected = tuple(network.built_input_shape)
        if len(expected) != len(feature_shape) or any(
            e is not None and e != f for e, f in zip(expected, feature_shape, strict=False)
        ):
            raise SparknnError(
                f"features column {features!r}: the model expects shape {expected} per row, "
                f"found {feature_shape}"
            )
        spark = dataset.sparkSession
        wanted = self.getNumPartitions() or spark.sparkContext.defaultParallelism
        data = ResidentRows(
            frame.select(FEATURES, LABELS), sizes, features, labels, wanted,
            executor_slots(spark, wanted), feature_shape, label_shape, *_example_dtypes(network),
        )  # fmt: skip
        try:
            if validation is None:
                is_val = _validation_mask(data.n_rows, self.getValidationFraction(), self.getSeed())
            else:
                is_val = np.zeros(data.n_rows, dtype=bool)
                is_val[val_rows] = True
            rows = np.arange(data.n_rows, dtype=np.int64)
            val_rows = rows[is_val]
            schedule = RowSchedule(
                rows[~is_val], self.getBatchSize(), self.getSeed(), self.getShuffle()
            )
            total = self.getEpochs() * schedule.steps_per_epoch
            signature = {
                "model": network.get_config(), "n_rows": data.n_rows,
                "batchSize": self.getBatchSize(), "seed": self.getSeed(),
                "shuffle": self.getShuffle(), "validationFraction": self.getValidationFraction(),
                "validationRows": int(is_val.sum()),
            }  # fmt: skip
            checkpoint_dir = self.getCheckpointDir()
            start_step = 0
            if checkpoint_dir is not None and _has_checkpoint(checkpoint_dir):
                start_step = resume(network, checkpoint_dir, signature)
            source = SparkGradients(
                spark, data.shards, RowReplica.factory(network.get_config(), self.getBackend()),
                network.params.size, network.dtype,
            )  # fmt: skip
            history = History()
            hooks = [history, *self.getCallbacks()]
            for hook in hooks:
                hook.model = network
                hook.on_train_begin()
            network.stop_training = False
            epoch_totals = [0.0, 0, 0.0]  # loss sum, examples, accuracy sum of the epoch so far
            accuracy = bool(network.metrics)

            def on_step(stats):
                if not math.isfinite(stats.loss):
                    raise SparknnError(
                        f"loss became {stats.loss} at step {stats.step}: training diverged; "
                        "lower the learning rate or set clipnorm"
                    )
                epoch_totals[0] += stats.loss * stats.examples
                epoch_totals[1] += stats.examples
                epoch_totals[2] += stats.correct
                for hook in hooks:
                    hook.on_batch_end((stats.step - 1) % schedule.steps_per_epoch,
                                      {"loss": stats.loss})  # fmt: skip
                if stats.step % schedule.steps_per_epoch and stats.step != total:
                    return
                logs = {"loss": epoch_totals[0] / epoch_totals[1]}
                if accuracy:
                    logs["accuracy"] = epoch_totals[2] / epoch_totals[1]
                if len(val_rows):
                    loss, n = source.evaluate(val_rows, network.params, version=stats.step)
                    logs["val_loss"] = loss / n
                    if accuracy:
                        logs["val_accuracy"] = source.correct / n
                for hook in hooks:
                    hook.on_epoch_end(stats.epoch, logs)
                epoch_totals[:] = [0.0, 0, 0.0]
                if network.stop_training:
                    raise _StopTraining
                if stats.step != total:
                    for hook in hooks:
                        hook.on_epoch_begin(stats.epoch + 1)

            for hook in hooks:
                hook.on_epoch_begin(schedule.epoch_of(start_step))
            try:
                fit(
                    network, source, schedule, total, start_step=start_step, on_step=on_step,
                    checkpoint_dir=checkpoint_dir, checkpoint_every=self.getCheckpointEvery(),
                    checkpoint_meta=signature,
                )  # fmt: skip
            except _StopTraining:
                pass
            finally:
                source.close()
            for hook in hooks:
                hook.on_train_end()
        finally:
            data.unpersist()
        fitted = NeuralNetworkModel(network, history.history)
        return self._copyValues(fitted)


def fit_dataframe(model, frame, epochs, batch_size, shuffle, callbacks, **params):
    """``model.fit(frame, ...)`` for a Spark DataFrame: trains ``model`` itself (weights and
    optimizer state, as Keras's fit does) with :class:`NeuralNetwork`; returns a History."""
    fitted = NeuralNetwork(
        model=model, epochs=epochs, batchSize=batch_size, shuffle=shuffle,
        callbacks=list(callbacks or []), **params,
    ).fit(frame)  # fmt: skip
    if not model.built:
        model.build(fitted.network.built_input_shape)
    model.params[...] = fitted.network.params
    model.optimizer.set_state(fitted.network.optimizer.get_state())
    history = History()
    history.model = model
    for epoch in range(len(fitted.history.get("loss", []))):
        history.on_epoch_end(epoch, {key: values[epoch] for key, values in fitted.history.items()})
    return history


class NeuralNetworkModel(Model, _NeuralNetworkParams, MLReadable, MLWritable):
    """A trained network as a Transformer: ``transform`` adds ``predictionCol`` (a double for
    one output, else ``array<double>``; for a softmax classifier the argmax, with the class
    probabilities in ``probabilityCol``, a ``pyspark.ml.linalg`` DenseVector as Spark's classifiers
    give it). Prediction runs on the executors, in Arrow batches.

    ``network`` is the trained ``sparknn.Sequential``; ``history`` maps ``loss`` (and
    ``val_loss`` when validating; ``accuracy`` and ``val_accuracy`` for a model compiled with
    ``metrics=["accuracy"]``, computed as ``model.fit`` computes them) to one value per epoch
    trained. ``write().save(path)`` and ``NeuralNetworkModel.load(path)`` work on any path
    Spark can write, without pickle.
    """

    def __init__(self, network=None, history=None):
        super().__init__()
        self.network = network
        self.history = dict(history or {})

    def setFeaturesCol(self, value):
        return self._set(featuresCol=value)

    def setPredictionCol(self, value):
        return self._set(predictionCol=value)

    def setProbabilityCol(self, value):
        return self._set(probabilityCol=value)

    def write(self):
        return _network_writer(self, self.network, history=self.history)

    @classmethod
    def read(cls):
        def attach(stage, network):
            stage.network = network

        return _network_reader(cls, attach)

    def copy(self, extra=None):
        copied = super().copy(extra)
        copied.history = {key: list(values) for key, values in self.history.items()}
        return copied

    def _transform(self, dataset):
        if self.network is None:
            raise SparknnError("this NeuralNetworkModel holds no network")
        features = self.getFeaturesCol()
        check_column(dataset.schema, features, FEATURES)
        column = arrow_column(dataset.schema, features)
        kind = _output_kind(self.network)
        broadcast = dataset.sparkSession.sparkContext.broadcast(network_to_bytes(self.network))
        predict = _predict_udf(
            uuid.uuid4().hex, broadcast, self.getBackend(), kind, features,
            tuple(self.network.built_input_shape), _example_dtypes(self.network)[0],
        )  # fmt: skip
        if kind != "classifier":
            return dataset.withColumn(self.getPredictionCol(), predict(column))
        # One evaluation per row: a nondeterministic UDF is never duplicated into both fields.
        scratch = f"__sparknn_{uuid.uuid4().hex[:8]}"
        return (
            dataset.withColumn(scratch, predict.asNondeterministic()(column))
            .withColumn(self.getPredictionCol(), F.col(scratch)["prediction"])
            .withColumn(self.getProbabilityCol(), F.col(scratch)["probability"])
            .drop(scratch)
        )


# -- persistence ----------------------------------------------------------------------------


def _network_writer(stage, network, skip=(), history=None):
    """Params as Spark ML's JSON metadata (``path/metadata``); the network, when there is one,
    as the bytes of a ``sparknn.load``-able npz in a one-row parquet file (``path/network``),
    so any path Spark can write works."""
    extra = {"hasNetwork": network is not None}
    if history is not None:
        extra["history"] = history

    def prepare_network():
        blob = network_to_bytes(network)
        return lambda spark, path: save_blob(spark, data_path(path, "network"), blob)

    return StageWriter(stage, extra, skip, prepare_network if network is not None else None)


def _network_reader(cls, attach_network):
    def load_network(stage, spark, path, metadata):
        if "history" in metadata:
            stage.history = metadata["history"]
        if metadata["hasNetwork"]:
            attach_network(stage, network_from_bytes(load_blob(spark, data_path(path, "network"))))

    return StageReader(cls, load_network)


# -- training data --------------------------------------------------------------------------


def _trainable_copy(model, backend: str, learning_rate):
    """A copy of ``model`` (config, weights, optimizer state) that training may change."""
    network = Sequential.from_config(model.get_config(), backend=backend)
    if model.built:
        network.build(model.built_input_shape)
        network.params[...] = model.params
        network.optimizer.set_state(model.optimizer.get_state())
    if learning_rate is not None:
        network.optimizer.learning_rate = float(learning_rate)
    return network


def _example_dtypes(network):
    """``(feature dtype, label dtype)`` the network trains on."""
    ids_in = isinstance(network.layers[0], Embedding)
    ids_out = isinstance(network.loss, SparseCategoricalCrossentropy)
    return (
        np.dtype(np.int64) if ids_in else network.dtype,
        np.dtype(np.int64) if ids_out else network.dtype,
    )


def _row_shapes(first, features: str, labels: str):
    """Feature and label shapes of row 0 (``first``: as :func:`survey_rows` gives them)."""
    if first is None:
        raise SparknnError("cannot fit on an empty DataFrame")
    for name, role, shape in ((features, FEATURES, first[0]), (labels, LABELS, first[1])):
        if shape is None:
            raise SparknnError(f"{role} column {name!r} is null in row 0")
    return first


def _validation_mask(n_rows: int, fraction: float, seed: int) -> np.ndarray:
    """Held-out rows: a fixed ``round(fraction * n)`` of them, drawn from the seed."""
    is_val = np.zeros(n_rows, dtype=bool)
    n_val = int(round(fraction * n_rows))
    if n_val:
        is_val[np.random.default_rng([seed, 2**32 - 1]).permutation(n_rows)[:n_val]] = True
    return is_val


def _has_checkpoint(directory) -> bool:
    return bool(checkpoints(directory))


# -- prediction on the executors --------------------------------------------------------------


def network_to_bytes(network) -> bytes:
    """The network as the bytes of a ``sparknn.load``-able ``.npz`` (config, weights, optimizer
    state; no pickle)."""
    buffer = io.BytesIO()
    np.savez(buffer, **model_arrays(network))
    return buffer.getvalue()


def network_from_bytes(blob: bytes, backend=None):
    """Inverse of :func:`network_to_bytes` (``allow_pickle=False``); bytes that are not such
    an ``.npz`` are a SparknnError."""
    return read_model(io.BytesIO(blob), "the network's bytes", Sequential.from_config, backend)


def _network_on_executor(key: str, broadcast, backend: str):
    network = _networks_on_executor.get(key)
    if network is None:
        while len(_networks_on_executor) >= _NETWORK_CACHE_SIZE:
            del _networks_on_executor[next(iter(_networks_on_executor))]
        network = _networks_on_executor[key] = network_from_bytes(broadcast.value, backend)
    return network


def _output_kind(network) -> str:
    """``double`` (one output), ``classifier`` (softmax over several) or ``array``."""
    width = int(np.prod(network.layers[-1].output_shape))
    if width == 1:
        return "double"
    softmax = getattr(network.layers[-1], "activation", None) == "softmax"
    return "classifier" if softmax and len(network.layers[-1].output_shape) == 1 else "array"


def _predict_udf(key, broadcast, backend, kind, column, input_shape, dtype):
    """An iterator Arrow UDF mapping the features, batch by batch, to the network's output."""

    def predict(batches: Iterator[pa.Array]) -> Iterator[pa.Array]:
        network = _network_on_executor(key, broadcast, backend)
        for values in batches:
            x = read_column(values, column, FEATURES, input_shape, dtype)
            out = network.predict(x).reshape(len(x), -1).astype(np.float64, copy=False)
            if kind == "double":
                yield pa.array(out[:, 0])
            elif kind == "array":
                yield _list_array(out)
            else:
                yield pa.StructArray.from_arrays(
                    [pa.array(out.argmax(axis=1).astype(np.float64)), dense_vectors(out)],
                    names=["prediction", "probability"],
                )

    vectors = ArrayType(DoubleType(), containsNull=False)
    if kind == "double":
        return arrow_udf(predict, DoubleType())
    if kind == "array":
        return arrow_udf(predict, vectors)
    schema = StructType(
        [StructField("prediction", DoubleType()), StructField("probability", VectorUDT())]
    )
    return arrow_udf(predict, schema)


def _list_array(rows: np.ndarray):
    """A 2-d array as an Arrow list array, one list per row (Spark reads no fixed-size lists)."""
    offsets = np.arange(0, rows.size + 1, max(rows.shape[1], 1), dtype=np.int32)[: len(rows) + 1]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(rows.ravel()))
