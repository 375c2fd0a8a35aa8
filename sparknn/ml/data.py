"""DataFrame rows as numpy examples: column checks, per-row conversion, the batch at step t.

Features may be ``array<number>`` or ``pyspark.ml.linalg`` Vectors (dense or sparse), or
``array<int>`` token ids for an ``Embedding``-first model; labels a number, an array or a
Vector. Every row of a column must have the shape of the first; a null, a NaN or another shape
is a :class:`~sparknn.errors.SparknnError` naming the column, the row and both shapes.
"""

import math

import numpy as np
from pyspark.ml.linalg import VectorUDT
from pyspark.sql.types import ArrayType, BooleanType, NumericType

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


def row_value(value) -> np.ndarray:
    """One cell as an array: a Vector densified, a list as is, a number as a 0-d array."""
    to_array = getattr(value, "toArray", None)
    return np.asarray(to_array() if to_array is not None else value)


def stack_column(values, rows, column: str, role: str, shape, dtype) -> np.ndarray:
    """Stack one column's cells into ``dtype``; ``rows`` are their global row indices, named in
    messages (None: cells of a prediction batch, whose rows have no index).

    ``shape`` is the per-row shape every cell must have (``None`` on an axis: any length, the
    same in every row).
    """
    cells = []
    for i, value in enumerate(values):
        where = "" if rows is None else f" in row {rows[i]}"
        if value is None:
            raise SparknnError(f"{role} column {column!r} is null{where}")
        cell = row_value(value)
        if cell.dtype.kind == "O":
            raise SparknnError(f"{role} column {column!r} has a null element{where}")
        if not _fits(cell.shape, shape):
            raise SparknnError(
                f"{role} column {column!r}: expected shape {_show(shape)} per row, "
                f"found {_show(cell.shape)}{where}"
            )
        if cell.dtype.kind == "f" and np.isnan(cell).any():
            raise SparknnError(f"{role} column {column!r} has NaN{where}")
        cells.append(cell)
    if not cells:
        return np.zeros((0, *[0 if n is None else n for n in shape]), dtype=dtype)
    if len({cell.shape for cell in cells}) > 1:  # a free axis must still agree across rows
        found = sorted({cell.shape for cell in cells})
        raise SparknnError(
            f"{role} column {column!r}: rows have different shapes {_show(found[0])} and "
            f"{_show(found[1])}"
        )
    stacked = np.stack(cells)
    if np.issubdtype(dtype, np.integer) and stacked.dtype.kind == "f":
        if not np.all(np.mod(stacked, 1) == 0):
            raise SparknnError(f"{role} column {column!r} must hold integers for this model")
    return stacked.astype(dtype, copy=False)


def _fits(found, expected) -> bool:
    return len(found) == len(expected) and all(
        e is None or f == e for f, e in zip(found, expected, strict=True)
    )


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
