"""The reference backend: numpy (BLAS for GEMM, vectorised elementwise ops)."""

import numpy as np

from sparknn.backend.base import Backend


def sigmoid(x):
    # Split by sign so exp never overflows; works in float32 and float64.
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    exp_x = np.exp(x[~positive])
    out[~positive] = exp_x / (1.0 + exp_x)
    return out


def softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


class NumpyBackend(Backend):
    name = "numpy"

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
        raise ValueError(f"unknown activation {activation!r}")

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
        raise ValueError(f"unknown activation {activation!r}")

    def lstm_cell_forward(self, z, c_prev):
        H = c_prev.shape[-1]
        gates = np.empty_like(z)
        gates[:, : 2 * H] = sigmoid(z[:, : 2 * H])
        gates[:, 2 * H : 3 * H] = np.tanh(z[:, 2 * H : 3 * H])
        gates[:, 3 * H :] = sigmoid(z[:, 3 * H :])
        i, f, g, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
        c = f * c_prev + i * g
        h = o * np.tanh(c)
        return h, c, gates

    def lstm_cell_backward(self, dh, dc, c_prev, c, gates):
        H = c.shape[-1]
        i, f, g, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
        tanh_c = np.tanh(c)
        dc = dc + dh * o * (1 - tanh_c * tanh_c)
        dz = np.empty_like(gates)
        dz[:, :H] = dc * g * i * (1 - i)
        dz[:, H : 2 * H] = dc * c_prev * f * (1 - f)
        dz[:, 2 * H : 3 * H] = dc * i * (1 - g * g)
        dz[:, 3 * H :] = dh * tanh_c * o * (1 - o)
        return dz, dc * f

    def softmax_cross_entropy(self, logits, labels):
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        log_probs = shifted - log_norm
        rows = np.arange(len(labels))
        losses = -log_probs[rows, labels]
        dlogits = np.exp(log_probs)
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
