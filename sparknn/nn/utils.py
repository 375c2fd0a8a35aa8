"""Data helpers with Keras' names: ``to_categorical`` and ``normalize``."""

import numpy as np

from sparknn.errors import SparknnError


def to_categorical(y, num_classes=None, dtype="float32") -> np.ndarray:
    """Integer class ids (any shape) -> one-hot rows along a new last axis."""
    ids = np.asarray(y)
    if ids.ndim > 1 and ids.shape[-1] == 1:
        ids = ids[..., 0]  # Keras accepts (n, 1) column vectors
    if ids.size and not np.all(np.mod(ids, 1) == 0):
        raise SparknnError("to_categorical expects integer class ids")
    ids = ids.astype(np.int64)
    if ids.size and ids.min() < 0:
        raise SparknnError(f"to_categorical: class ids must be >= 0, got {ids.min()}")
    if num_classes is None:
        num_classes = int(ids.max()) + 1 if ids.size else 0
    elif ids.size and ids.max() >= num_classes:
        raise SparknnError(
            f"to_categorical: class id {ids.max()} does not fit num_classes={num_classes}"
        )
    out = np.zeros((*ids.shape, num_classes), dtype=dtype)
    np.put_along_axis(out, ids[..., None], 1, axis=-1)
    return out


def normalize(x, axis=-1, order=2) -> np.ndarray:
    """Scale each vector along ``axis`` to unit ``order``-norm (zero vectors stay zero)."""
    x = np.asarray(x)
    norms = np.atleast_1d(np.linalg.norm(x, ord=order, axis=axis))
    norms[norms == 0] = 1
    return x / np.expand_dims(norms, axis)
