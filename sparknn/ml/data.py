"""DataFrame rows as numpy examples: column checks, column-wise conversion, the batch at step t.

Features may be ``array<number>`` or ``pyspark.ml.linalg`` Vectors (dense or sparse), or
``array<int>`` token ids for an ``Embedding``-first model; labels a number, an array or a
Vector. Every row of a column must have the shape of the first; a null, a NaN or another shape
is a :class:`~sparknn.errors.SparknnError` naming the column, the row and both shapes.
"""

import bisect
import io
import math

import numpy as np
import pyarrow as pa
from pyspark import TaskContext
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BooleanType, DecimalType, DoubleType, NumericType

from sparknn.distributed import RowShard
from sparknn.distributed.sources import task_error
from sparknn.errors import SparknnError

FEATURES, LABELS = "features", "labels"


def check_column(schema, name: str, role: str) -> None:
    """Refuse, before any job runs, a column that is missing or of a type sparknn cannot read."""
    if name not in schema.names:
        raise SparknnError(
            f"{role} column {name!r} is not in the DataFrame (columns: {', '.join(schema.names)})"
        )
    kind = schema[name].dataType
    readable = (
        isinstance(kind, (NumericType, VectorUDT))
        or isinstance(kind, ArrayType)
        and isinstance(kind.elementType, NumericType)
    )
    if role == FEATURES and isinstance(kind, NumericType):
        readable = False  # a model input has a feature axis
    if not readable:
        allowed = "array<float|double|int> or Vector" + ("" if role == FEATURES else ", a number")
        raise SparknnError(
            f"{role} column {name!r} has type {kind.simpleString()}; expected {allowed}"
        )


def check_validation_column(schema, name: str) -> None:
    """Refuse a ``validationCol`` that is missing or not boolean."""
    if name not in schema.names:
        raise SparknnError(
            f"validation column {name!r} is not in the DataFrame (columns: "
            f"{', '.join(schema.names)})"
        )
    kind = schema[name].dataType
    if not isinstance(kind, BooleanType):
        raise SparknnError(
            f"validation column {name!r} has type {kind.simpleString()}; expected boolean"
        )


def arrow_column(schema, name: str):
    """Column ``name`` as :func:`read_column` reads it: a Vector as ``array<double>`` (dense and
    sparse alike), a decimal as a double; other readable types as they are."""
    kind = schema[name].dataType
    column = F.col(name)
    if isinstance(kind, VectorUDT):
        return vector_to_array(column, dtype="float64")
    if isinstance(kind, DecimalType):
        return column.cast(DoubleType())
    if isinstance(kind, ArrayType) and isinstance(kind.elementType, DecimalType):
        return column.cast(ArrayType(DoubleType()))
    return column


def dense_vectors(rows: np.ndarray) -> pa.StructArray:
    """The rows of a 2-d ``rows`` as Arrow values of ``VectorUDT``'s SQL type, all dense: an
    Arrow UDF returning them hands the JVM vectors with no conversion of each row there (as
    ``array_to_vector`` would do, boxing every double)."""
    n, d = rows.shape
    # int32 offsets: n * d doubles of one Arrow batch stay far below 2**31
    values = pa.ListArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int32) * d),
        pa.array(rows.reshape(-1).astype(np.float64, copy=False)),
    )
    return pa.StructArray.from_arrays(
        [pa.array(np.full(n, _DENSE, np.int8)), pa.nulls(n, pa.int32()),
         pa.nulls(n, pa.list_(pa.int32())), values],
        names=[field.name for field in VectorUDT.sqlType().fields],
    )  # fmt: skip


_DENSE = 1  # VectorUDT's "type" of a dense vector


def read_column(values, column: str, role: str, shape, dtype, first_row=None) -> np.ndarray:
    """One column of an Arrow batch (numbers, or lists of numbers: see :func:`arrow_column`) as a
    ``(len(values), *shape)`` array of ``dtype``, converted column-wise.

    ``shape`` is the per-row shape, ``()`` or ``(width,)`` (width ``None``: any, the same in every
    row). ``first_row`` is the global index of the first row, named in messages (None: rows of a
    prediction batch, which have no index). The first bad row (a null, a null element, another
    shape, a NaN, in that order within a row) is a SparknnError naming the column and the row.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    n = len(values)
    null = _flags(values)
    if _is_list(values.type):
        offsets = np.asarray(values.offsets, dtype=np.int64)
        # values.values (not flatten()): a null cell may still own a stretch of the child array
        flat = values.values.slice(offsets[0], offsets[-1] - offsets[0])
        offsets = offsets - offsets[0]
        widths = np.diff(offsets)
        null_element = _any_per_row(_flags(flat), offsets)
        found = [(int(width),) for width in widths]
    else:
        flat, offsets, widths = values, None, None
        null_element = np.zeros(n, dtype=bool)
        found = [()] * n
    numbers = _to_numpy(flat)
    if len(shape) != (0 if widths is None else 1):
        wrong_shape = np.ones(n, dtype=bool)
    elif widths is None or shape[0] is None:
        wrong_shape = np.zeros(n, dtype=bool)
    else:
        wrong_shape = widths != shape[0]
    nan = np.zeros(n, dtype=bool)
    if numbers.dtype.kind == "f":
        is_nan = np.isnan(numbers)
        nan = is_nan if offsets is None else _any_per_row(is_nan, offsets)
    bad = null | null_element | wrong_shape | nan
    if bad.any():
        row = int(np.argmax(bad))
        where = "" if first_row is None else f" in row {first_row + row}"
        if null[row]:
            raise SparknnError(f"{role} column {column!r} is null{where}")
        if null_element[row]:
            raise SparknnError(f"{role} column {column!r} has a null element{where}")
        if wrong_shape[row]:
            raise SparknnError(
                f"{role} column {column!r}: expected shape {_show(shape)} per row, "
                f"found {_show(found[row])}{where}"
            )
        raise SparknnError(f"{role} column {column!r} has NaN{where}")
    if n == 0:
        return np.zeros((0, *[0 if width is None else width for width in shape]), dtype=dtype)
    if widths is not None and len(set(widths.tolist())) > 1:  # a free axis must still agree
        different = sorted({(int(width),) for width in widths})
        raise SparknnError(
            f"{role} column {column!r}: rows have different shapes {_show(different[0])} and "
            f"{_show(different[1])}"
        )
    stacked = numbers.reshape(n, -1) if widths is not None else numbers
    if np.issubdtype(dtype, np.integer) and stacked.dtype.kind == "f":
        if not np.all(np.mod(stacked, 1) == 0):
            raise SparknnError(f"{role} column {column!r} must hold integers for this model")
    return stacked.astype(dtype, copy=False)


def survey_rows(frame, validation=None):
    """One job over ``frame`` (columns ``features``, ``labels`` as :func:`arrow_column` gives
    them, and ``validation`` where ``validation`` names the user's validation column): the row
    count of each partition, the feature and label shapes of row 0 (None: the DataFrame is
    empty; a shape is None where the cell is null), and the global numbers of the rows flagged
    for validation. Only the cells' lengths and the flags reach Python.
    """
    lists = [isinstance(frame.schema[name].dataType, ArrayType) for name in (FEATURES, LABELS)]
    lengths = frame.select(
        *[
            F.coalesce(F.size(name), F.lit(-1))
            if is_list
            else F.when(F.col(name).isNull(), -1).otherwise(0)
            for name, is_list in zip((FEATURES, LABELS), lists, strict=True)
        ],
        *(["validation"] if validation is not None else []),
    )

    def survey(batches):
        partition = TaskContext.get().partitionId()
        size, head, held = 0, [None, None], []
        for batch in batches:
            if head[0] is None and batch.num_rows:
                head = [batch.column(0)[0].as_py(), batch.column(1)[0].as_py()]
            if validation is not None:
                flags = batch.column(2)
                if flags.null_count:
                    row = size + int(np.argmax(_flags(flags)))
                    raise SparknnError(
                        f"validation column {validation!r} is null in row {row} of partition "
                        f"{partition}"
                    )
                held.append(np.flatnonzero(flags.to_numpy(zero_copy_only=False)) + size)
            size += batch.num_rows
        yield pa.RecordBatch.from_pydict(
            {
                "partition": pa.array([partition], pa.int32()),
                "rows": pa.array([size], pa.int64()),
                "features_length": pa.array([head[0]], pa.int64()),
                "labels_length": pa.array([head[1]], pa.int64()),
                "held": pa.array([np.concatenate(held or [[]]).astype(np.int64)]),
            }
        )

    schema = "partition int, rows long, features_length long, labels_length long, held array<long>"
    try:
        counted = sorted(lengths.mapInArrow(survey, schema).collect())
    except Exception as error:
        raise SparknnError(task_error(error, "reading the rows failed")) from None
    sizes = [row.rows for row in counted]
    starts = np.cumsum([0, *sizes])
    heads = [row for row in counted if row.rows]
    first = None
    if heads:
        first = tuple(
            None if length < 0 else ((length,) if is_list else ())
            for length, is_list in zip(
                (heads[0].features_length, heads[0].labels_length), lists, strict=True
            )
        )
    held = [np.asarray(row.held, dtype=np.int64) for row in counted]
    val_rows = np.concatenate(
        [rows + start for rows, start in zip(held, starts[:-1], strict=True)]
        or [np.zeros(0, dtype=np.int64)]
    )
    return sizes, first, val_rows


class ResidentRows:
    """The rows of ``frame`` (``features`` and ``labels`` as :func:`arrow_column` gives them;
    ``sizes``: its partitions' row counts) numbered 0..n-1 in order (as ``zipWithIndex``), split
    into ``partitions`` contiguous :class:`~sparknn.distributed.RowShard` s, grouped in order into
    ``tasks`` Spark partitions and persisted: converted once, column-wise, before training.

    Each Arrow batch becomes numpy arrays on the executor that reads it; only those arrays (one
    piece per batch and shard) travel to the task that keeps the shard.
    """

    def __init__(
        self, frame, sizes, features, labels, partitions, tasks, feature_shape, label_shape,
        feature_dtype, label_dtype,
    ):  # fmt: skip
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64).tolist()
        self.n_rows = starts[-1]
        partitions = max(1, min(partitions, self.n_rows))
        tasks = max(1, min(tasks, partitions))
        bounds = [self.n_rows * p // partitions for p in range(partitions + 1)]

        def pieces(batches):
            start = starts[TaskContext.get().partitionId()]
            for batch in batches:
                if not batch.num_rows:  # holds no shard's rows; past the last row, no shard
                    continue
                x = read_column(
                    batch.column(0), features, FEATURES, feature_shape, feature_dtype, start
                )
                y = read_column(batch.column(1), labels, LABELS, label_shape, label_dtype, start)
                end = start + batch.num_rows
                shards = range(
                    bisect.bisect_right(bounds, start) - 1, bisect.bisect_left(bounds, end)
                )
                cuts = [(max(start, bounds[s]) - start, min(end, bounds[s + 1]) - start)
                        for s in shards]  # fmt: skip
                yield pa.RecordBatch.from_pydict(
                    {
                        "shard": pa.array(list(shards), pa.int32()),
                        "start": pa.array([start + a for a, _ in cuts], pa.int64()),
                        "x": pa.array([_to_bytes(x[a:b]) for a, b in cuts], pa.binary()),
                        "y": pa.array([_to_bytes(y[a:b]) for a, b in cuts], pa.binary()),
                    }
                )
                start = end

        def build_shards(keyed_pieces):
            by_shard = {}
            for shard, piece in keyed_pieces:
                by_shard.setdefault(shard, []).append(piece)
            for shard in sorted(by_shard):
                ordered = sorted(by_shard[shard], key=lambda piece: piece[0])
                yield RowShard(
                    np.arange(bounds[shard], bounds[shard + 1]),
                    np.concatenate([_from_bytes(x) for _, x, _ in ordered]),
                    np.concatenate([_from_bytes(y) for _, _, y in ordered]),
                )

        schema = "shard int, start long, x binary, y binary"
        self.shards = (
            frame.mapInArrow(pieces, schema)
            .rdd.map(lambda piece: (piece[0], (piece[1], piece[2], piece[3])))
            .partitionBy(tasks, lambda shard: shard * tasks // partitions)
            .mapPartitions(build_shards)
            .persist()
        )
        try:
            self.shards.count()  # convert now, once; bad rows fail here, before training
        except Exception as error:
            self.shards.unpersist()
            raise SparknnError(task_error(error, "reading the training rows failed")) from None

    def unpersist(self):
        self.shards.unpersist()


def _to_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _from_bytes(blob) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


def _is_list(kind) -> bool:
    return pa.types.is_list(kind) or pa.types.is_large_list(kind)


def _flags(values) -> np.ndarray:
    """Which entries of an Arrow array are null."""
    if values.null_count == 0:
        return np.zeros(len(values), dtype=bool)
    return np.asarray(values.is_null(), dtype=bool)


def _any_per_row(flags: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per list cell (``offsets`` into ``flags``): whether any of its entries is flagged."""
    counts = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return counts[offsets[1:]] > counts[offsets[:-1]]


def _to_numpy(values) -> np.ndarray:
    """An Arrow array of numbers as numpy, nulls as 0 (the caller has flagged them)."""
    if values.null_count:
        values = values.fill_null(0)
    return values.to_numpy(zero_copy_only=False)


def _show(shape) -> str:
    return str(tuple(shape))


class RowSchedule:
    """The global row indices of the batch at step t: a pure function of (seed, t).

    Epoch ``e`` visits the training rows in the order of ``numpy.random.default_rng([seed, e])``
    's permutation when ``shuffle``, else in index order; it takes ``ceil(n / batch_size)``
    steps, the last one shorter when ``batch_size`` does not divide ``n``: exactly the batches
    of ``Sequential.fit(x, y, batch_size=..., shuffle=False)`` over the same rows.
    """

    def __init__(self, train_rows, batch_size: int, seed: int, shuffle: bool):
        self.rows = np.asarray(train_rows, dtype=np.int64)
        if batch_size < 1:
            raise SparknnError(f"batchSize must be >= 1, got {batch_size}")
        if len(self.rows) == 0:
            raise SparknnError("no training rows (an empty DataFrame, or validationFraction 1?)")
        self.batch_size = min(batch_size, len(self.rows))
        self.seed, self.shuffle = seed, shuffle
        self.steps_per_epoch = math.ceil(len(self.rows) / self.batch_size)
        self._epoch, self._order = None, None

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def batch(self, step: int) -> np.ndarray:
        """Sorted global row indices of the batch at ``step`` (0-based)."""
        epoch = self.epoch_of(step)
        start = (step % self.steps_per_epoch) * self.batch_size
        if not self.shuffle:
            return self.rows[start : start + self.batch_size]
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._epoch, self._order = epoch, rng.permutation(len(self.rows))
        return np.sort(self.rows[self._order[start : start + self.batch_size]])
