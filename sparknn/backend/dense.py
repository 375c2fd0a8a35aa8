"""The dense operations the network layers use: their interface and the numpy reference.

Layers never touch numpy's BLAS or pyopencl directly for these operations; they call a
backend (:class:`sparknn.backend.base.Backend`, which has every :class:`DenseOps` method).
Arrays in and out are numpy arrays (host memory), so backends are interchangeable per call
and a layer's bookkeeping stays in numpy.

Conventions shared by every implementation:

* Activations are named by the strings in :data:`ACTIVATIONS`.
* LSTM gates are laid out ``[i, f, g, o]`` along the last axis, each of width ``H``;
  ``i, f, o`` use the logistic sigmoid and ``g`` uses tanh. ``c = f*c_prev + i*g`` and
  ``h = o*tanh(c)``.
* ``softmax_cross_entropy`` returns per-row losses and the gradient of their *sum*
  (``softmax - onehot``), never divided by the batch size: reduction is the caller's job.
"""

from abc import ABC, abstractmethod

import numpy as np

ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "softmax")


class DenseOps(ABC):
    """The heavy dense operations of the layers (GEMM, activations, LSTM cell, softmax+CE)."""

    @abstractmethod
    def gemm(self, a, b, trans_a=False, trans_b=False, out=None, accumulate=False) -> np.ndarray:
        """Return ``op(a) @ op(b)`` where ``op`` transposes when asked.

        With ``accumulate=True`` the product is added into ``out`` (which must be given) and
        ``out`` is returned; otherwise ``out``, if given, is overwritten.
        """

    @abstractmethod
    def bias_activation(self, z, bias, activation: str) -> np.ndarray:
        """Return ``act(z + bias)``; ``bias`` (shape ``(n,)``) broadcasts over rows, or is None."""

    @abstractmethod
    def activation_backward(self, grad_out, y, activation: str) -> np.ndarray:
        """Return dL/dz given dL/dy and the forward output ``y = act(z)``.

        For softmax this is the row-wise Jacobian-vector product ``y * (g - sum(g*y))``.
        """

    @abstractmethod
    def lstm_cell_forward(self, z, c_prev):
        """One timestep of the LSTM cell nonlinearity.

        ``z``: gate pre-activations ``(B, 4H)`` (input and recurrent products plus bias).
        Returns ``(h, c, gates)`` where ``gates`` holds the *activated* ``[i, f, g, o]``.
        """

    @abstractmethod
    def lstm_cell_backward(self, dh, dc, c_prev, c, gates):
        """Backward of :meth:`lstm_cell_forward` for one timestep.

        ``dh``, ``dc``: gradients w.r.t. this step's ``h`` and ``c`` (``dc`` already includes
        the carry from step t+1). Returns ``(dz, dc_prev)``, ``dz`` shaped ``(B, 4H)``.
        """

    @abstractmethod
    def softmax_cross_entropy(self, logits, labels):
        """Fused, numerically stable softmax + cross-entropy over the last axis.

        ``logits``: ``(B, V)``; ``labels``: integer ``(B,)``. Returns ``(losses, dlogits)``
        with ``losses`` shaped ``(B,)`` and ``dlogits = softmax(logits) - onehot(labels)``.
        """

    def reduce_sum(self, x, axis=0) -> np.ndarray:
        """Sum over an axis (bias gradients); numpy is fast enough everywhere."""
        return x.sum(axis=axis)


def sigmoid(x, out=None):
    # sigmoid(x) = (1 + tanh(x/2)) / 2: never overflows, no sign masks, works in place.
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    e = np.exp(shifted, out=shifted)
    e /= e.sum(axis=-1, keepdims=True)
    return e


def _gate_scales(width, dtype):
    """Per-column scale/offset turning one tanh over all 4H gate columns into [σ, σ, tanh, σ]."""
    H = width // 4
    scale = np.full(width, 0.5, dtype=dtype)
    scale[2 * H : 3 * H] = 1.0
    offset = np.full(width, 0.5, dtype=dtype)
    offset[2 * H : 3 * H] = 0.0
    return scale, offset


class NumpyDense(DenseOps):
    """The reference dense operations: numpy (BLAS for GEMM, vectorised elementwise ops)."""

    def __init__(self):
        self._gate_cache = {}

    def gemm(self, a, b, trans_a=False, trans_b=False, out=None, accumulate=False):
        a = a.T if trans_a else a
        b = b.T if trans_b else b
        if accumulate:
            out += a @ b
            return out
        if out is not None:
            np.matmul(a, b, out=out)
            return out
        return a @ b

    def bias_activation(self, z, bias, activation):
        if bias is not None:
            z = z + bias
        if activation == "linear":
            return z
        if activation == "sigmoid":
            return sigmoid(z)
        if activation == "tanh":
            return np.tanh(z)
        if activation == "relu":
            return np.maximum(z, 0)
        if activation == "softmax":
            return softmax(z)
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
        )

    def activation_backward(self, grad_out, y, activation):
        if activation == "linear":
            return grad_out
        if activation == "sigmoid":
            return grad_out * y * (1 - y)
        if activation == "tanh":
            return grad_out * (1 - y * y)
        if activation == "relu":
            return grad_out * (y > 0)
        if activation == "softmax":
            return y * (grad_out - (grad_out * y).sum(axis=-1, keepdims=True))
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
        )

    def _scales(self, width, dtype):
        key = (width, np.dtype(dtype).str)
        if key not in self._gate_cache:
            self._gate_cache[key] = _gate_scales(width, dtype)
        return self._gate_cache[key]

    def lstm_cell_forward(self, z, c_prev):
        # Inputs are left untouched; every op after the first writes into a fresh buffer.
        H = c_prev.shape[-1]
        scale, offset = self._scales(z.shape[-1], z.dtype)
        gates = np.multiply(z, scale)
        np.tanh(gates, out=gates)
        gates *= scale
        gates += offset
        i, f, g, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :]
        c = np.multiply(f, c_prev)
        c += i * g
        h = np.tanh(c)
        h *= o
        return h, c, gates

    def lstm_cell_backward(self, dh, dc, c_prev, c, gates):
        H = c.shape[-1]
        i, f, g, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :]
        tanh_c = np.tanh(c)
        dz = np.empty_like(gates)
        dz_i, dz_f, dz_g, dz_o = dz[:, :H], dz[:, H : 2 * H], dz[:, 2 * H : 3 * H], dz[:, 3 * H :]
        # do = dh * tanh(c), then through the sigmoid: * o * (1 - o)
        np.multiply(dh, tanh_c, out=dz_o)
        dz_o *= o
        dz_o *= 1 - o
        # dc_total = dc + dh * o * (1 - tanh(c)^2)
        np.multiply(tanh_c, tanh_c, out=tanh_c)
        np.subtract(1, tanh_c, out=tanh_c)
        tanh_c *= o
        tanh_c *= dh
        dc_total = tanh_c
        dc_total += dc
        np.multiply(dc_total, g, out=dz_i)
        dz_i *= i
        dz_i *= 1 - i
        np.multiply(dc_total, c_prev, out=dz_f)
        dz_f *= f
        dz_f *= 1 - f
        np.multiply(dc_total, i, out=dz_g)
        dz_g *= 1 - g * g
        return dz, dc_total * f

    def softmax_cross_entropy(self, logits, labels):
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        log_probs = shifted - log_norm
        rows = np.arange(len(labels))
        losses = -log_probs[rows, labels]
        dlogits = np.exp(log_probs, out=log_probs)
        dlogits[rows, labels] -= 1
        return losses, dlogits
