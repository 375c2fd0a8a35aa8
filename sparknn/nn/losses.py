"""Losses: per-example values and the gradient of their *sum* w.r.t. the model output.

Every loss is evaluated per example, then reduced by the model: ``reduction="mean"`` (the
default, as in Keras) divides the summed gradient by the number of examples, ``"sum"`` does
not. For outputs with extra axes (a sequence model's ``(B, T, V)``), an example's loss is the
mean over its positions, so ``n`` always counts examples (sequences).

Conventions (Keras where Keras has the loss):

* ``mse``: mean over the last axis of ``(y - p)^2``.
* ``half_squared_error``: ``1/2 * sum`` over the last axis of ``(y - p)^2`` -- the classic
  backprop loss; with ``reduction="sum"`` and SGD(lr=1) it is the textbook update
  ``w += X.T @ ((y - o) * o * (1 - o))`` exactly.
* ``binary_crossentropy``: mean over the last axis, predictions clipped to [1e-7, 1 - 1e-7].
* ``categorical_crossentropy`` (one-hot/soft targets) and ``sparse_categorical_crossentropy``
  (integer targets): ``-log p[label]``. When the model's last layer is a softmax the model
  calls :meth:`CrossEntropy.from_logits` instead: a fused, numerically stable softmax + CE
  whose gradient is simply ``softmax - onehot``.
"""

import numpy as np

from sparknn.errors import SparknnError

REDUCTIONS = ("mean", "sum")
EPSILON = 1e-7


class Loss:
    name = "loss"

    def __init__(self, reduction="mean"):
        if reduction not in REDUCTIONS:
            raise SparknnError(
                f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}"
            )
        self.reduction = reduction

    def per_example(self, y_pred, y_true):
        """Return ``(losses shaped (n,), d sum(losses) / d y_pred)``."""
        raise NotImplementedError

    def __call__(self, y_true, y_pred) -> float:
        """The reduced loss, Keras argument order."""
        y_pred = np.asarray(y_pred, dtype=np.float64)
        losses, _ = self.per_example(y_pred, np.asarray(y_true))
        return float(losses.sum() if self.reduction == "sum" else losses.mean())

    def get_config(self):
        return {"class_name": type(self).__name__, "config": {"reduction": self.reduction}}


def _dense_targets(loss_name, y_pred, y_true):
    y_true = np.asarray(y_true)
    if y_true.shape != y_pred.shape and y_true.size == y_pred.size and y_pred.shape[-1] == 1:
        y_true = y_true.reshape(y_pred.shape)  # (n,) targets for a (n, 1) output
    if y_true.shape != y_pred.shape:
        raise SparknnError(
            f"loss {loss_name!r} expects targets shaped like the model output {y_pred.shape}, "
            f"got {y_true.shape}"
        )
    return y_true.astype(y_pred.dtype, copy=False)


def _positions(y_pred):
    """Positions per example (product of axes between batch and last): losses average over them."""
    return int(np.prod(y_pred.shape[1:-1], dtype=np.int64))


def _per_example(per_position, n):
    return per_position.reshape(n, -1).mean(axis=1)


class MeanSquaredError(Loss):
    name = "mse"

    def per_example(self, y_pred, y_true):
        y_true = _dense_targets(self.name, y_pred, y_true)
        diff = y_pred - y_true
        k = y_pred.shape[-1]
        losses = _per_example((diff * diff).mean(axis=-1), len(y_pred))
        return losses, diff * (2.0 / (k * _positions(y_pred)))


class HalfSquaredError(Loss):
    name = "half_squared_error"

    def per_example(self, y_pred, y_true):
        y_true = _dense_targets(self.name, y_pred, y_true)
        diff = y_pred - y_true
        losses = _per_example(0.5 * (diff * diff).sum(axis=-1), len(y_pred))
        positions = _positions(y_pred)
        return losses, (diff if positions == 1 else diff / positions)


class BinaryCrossentropy(Loss):
    name = "binary_crossentropy"

    def per_example(self, y_pred, y_true):
        y_true = _dense_targets(self.name, y_pred, y_true)
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        elementwise = -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))
        losses = _per_example(elementwise.mean(axis=-1), len(y_pred))
        inside = (y_pred > EPSILON) & (y_pred < 1 - EPSILON)  # clipping has zero gradient
        grad = (p - y_true) / (p * (1 - p)) * inside
        return losses, grad / (y_pred.shape[-1] * _positions(y_pred))


class CrossEntropy(Loss):
    """Shared parts of the two categorical cross-entropies."""

    def labels(self, y_pred, y_true) -> np.ndarray:
        """Targets as a probability matrix ``(..., V)`` or integer ids ``(...)``."""
        raise NotImplementedError

    def from_logits(self, logits, y_true, backend):
        """Fused softmax + CE on the pre-softmax ``logits``; returns ``(losses, dlogits)``."""
        raise NotImplementedError


class CategoricalCrossentropy(CrossEntropy):
    name = "categorical_crossentropy"

    def per_example(self, y_pred, y_true):
        y_true = _dense_targets(self.name, y_pred, y_true)
        total = y_pred.sum(axis=-1, keepdims=True)  # Keras renormalises predictions
        p = np.clip(y_pred / total, EPSILON, 1 - EPSILON)
        losses = _per_example(-(y_true * np.log(p)).sum(axis=-1), len(y_pred))
        grad = -y_true / np.maximum(y_pred, EPSILON * total) + y_true.sum(-1, keepdims=True) / total
        return losses, grad / _positions(y_pred)

    def from_logits(self, logits, y_true, backend):
        y_true = _dense_targets(self.name, logits, y_true)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        losses = _per_example(-(y_true * log_probs).sum(axis=-1), len(logits))
        grad = np.exp(log_probs) * y_true.sum(axis=-1, keepdims=True) - y_true
        return losses, grad / _positions(logits)


class SparseCategoricalCrossentropy(CrossEntropy):
    name = "sparse_categorical_crossentropy"

    def _ids(self, y_pred, y_true):
        ids = np.asarray(y_true)
        expected = y_pred.shape[:-1]
        if ids.shape != expected and ids.shape == (*expected, 1):
            ids = ids.reshape(expected)
        if ids.shape != expected:
            raise SparknnError(
                f"loss {self.name!r} expects integer targets shaped {expected} for model output "
                f"{y_pred.shape}, got {ids.shape}"
            )
        if not np.issubdtype(ids.dtype, np.integer):
            if not np.all(np.mod(ids, 1) == 0):
                raise SparknnError(f"loss {self.name!r} expects integer class ids, got {ids.dtype}")
            ids = ids.astype(np.int64)
        vocab = y_pred.shape[-1]
        if ids.size and (ids.min() < 0 or ids.max() >= vocab):
            raise SparknnError(
                f"loss {self.name!r}: class ids must be in [0, {vocab}), "
                f"got values in [{ids.min()}, {ids.max()}]"
            )
        return ids

    def per_example(self, y_pred, y_true):
        ids = self._ids(y_pred, y_true).ravel()
        flat = y_pred.reshape(-1, y_pred.shape[-1])
        rows = np.arange(len(ids))
        total = flat.sum(axis=-1)
        picked = flat[rows, ids]
        p = np.clip(picked / total, EPSILON, 1 - EPSILON)
        losses = _per_example(-np.log(p), len(y_pred))
        grad = np.broadcast_to(1.0 / total[:, None], flat.shape).astype(flat.dtype)
        grad[rows, ids] -= 1.0 / np.maximum(picked, EPSILON * total)
        return losses, grad.reshape(y_pred.shape) / _positions(y_pred)

    def from_logits(self, logits, y_true, backend):
        ids = self._ids(logits, y_true).ravel()
        flat = logits.reshape(-1, logits.shape[-1])
        losses, dlogits = backend.softmax_cross_entropy(flat, ids)
        positions = _positions(logits)
        dlogits = dlogits.reshape(logits.shape)
        if positions != 1:
            dlogits /= positions
        return _per_example(losses, len(logits)), dlogits


LOSSES = {
    cls.name: cls
    for cls in (
        MeanSquaredError,
        HalfSquaredError,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
    )
}
ALIASES = {"mean_squared_error": "mse"}
_BY_CLASS = {cls.__name__: cls for cls in LOSSES.values()}


def get(loss) -> Loss:
    """A :class:`Loss` from a name (``"mse"``, ...) or a Loss instance."""
    if isinstance(loss, Loss):
        return loss
    name = ALIASES.get(loss, loss)
    if not isinstance(name, str) or name not in LOSSES:
        raise SparknnError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]()


def from_config(config: dict) -> Loss:
    name = config.get("class_name")
    if name not in _BY_CLASS:
        raise SparknnError(f"unknown loss class {name!r}; choose one of {', '.join(_BY_CLASS)}")
    return _BY_CLASS[name](**config.get("config", {}))
