"""The reference backend: numpy (BLAS for GEMM, vectorised elementwise ops)."""

import numpy as np

from sparknn.backend.base import ACTIVATIONS, Backend


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


class NumpyBackend(Backend):
    name = "numpy"

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

    def sgns_update(self, syn0, syn1neg, inputs, outputs, negatives, alphas, chunk=64):
        """Small-minibatch SGNS: pairs in a chunk see the same weights; chunks run in order.

        Within a chunk, updates to a shared row are summed (np.add.at), which is what Hogwild
        threads approximate; between chunks the semantics are sequential.
        """
        total = 0.0
        for start in range(0, len(inputs), chunk):
            sl = slice(start, start + chunk)
            total += _sgns_chunk(syn0, syn1neg, inputs[sl], outputs[sl], negatives[sl], alphas[sl])
        return total


def _sgns_chunk(syn0, syn1neg, inputs, outputs, negatives, alphas):
    targets = np.concatenate([outputs[:, None], negatives], axis=1)  # (P, 1+K)
    labels = np.zeros(targets.shape, dtype=syn0.dtype)
    labels[:, 0] = 1
    keep = np.ones(targets.shape, dtype=bool)
    keep[:, 1:] = negatives != outputs[:, None]  # word2vec.c skips a negative equal to the target
    v_in = syn0[inputs]  # (P, d)
    v_out = syn1neg[targets]  # (P, 1+K, d)
    scores = np.einsum("pd,pkd->pk", v_in, v_out)
    prob = 1.0 / (1.0 + np.exp(-np.clip(scores, -30, 30)))
    signed = np.where(labels == 1, prob, 1 - prob)
    loss = float(-(np.log(np.maximum(signed, 1e-12)) * keep).sum())
    g = (labels - prob) * alphas[:, None] * keep  # (P, 1+K)
    _scatter_add(syn0, inputs, np.einsum("pk,pkd->pd", g, v_out))
    out_updates = (g[:, :, None] * v_in[:, None, :]).reshape(-1, v_in.shape[1])
    _scatter_add(syn1neg, targets.ravel(), out_updates)
    return loss


def _scatter_add(matrix, rows, updates):
    """``matrix[rows] += updates`` with repeated rows summed (np.add.at, but faster)."""
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    first = np.flatnonzero(np.concatenate([[True], sorted_rows[1:] != sorted_rows[:-1]]))
    matrix[sorted_rows[first]] += np.add.reduceat(updates[order], first, axis=0)
