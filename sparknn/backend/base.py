"""The compute-backend interface: the handful of heavy operations layers and word2vec use.

Layers never touch numpy's BLAS or pyopencl directly for these operations; they call a
:class:`Backend`. Arrays in and out are numpy arrays (host memory), so backends are
interchangeable per call and a layer's bookkeeping stays in numpy.

Conventions shared by every implementation:

* Activations are named by the strings in :data:`ACTIVATIONS`.
* LSTM gates are laid out ``[i, f, g, o]`` along the last axis, each of width ``H``;
  ``i, f, o`` use the logistic sigmoid and ``g`` uses tanh. ``c = f*c_prev + i*g`` and
  ``h = o*tanh(c)``.
* ``softmax_cross_entropy`` returns per-row losses and the gradient of their *sum*
  (``softmax - onehot``), never divided by the batch size: reduction is the caller's job.
* ``sgns_update`` is word2vec's skip-gram negative-sampling step, applied in place; see its
  docstring for the exact semantics implementations must agree on.
"""

from abc import ABC, abstractmethod

import numpy as np

ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "softmax")


class Backend(ABC):
    """One implementation of the heavy operations (numpy, opencl)."""

    name: str = "abstract"

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

    @abstractmethod
    def sgns_update(self, syn0, syn1neg, inputs, outputs, negatives, alphas) -> float:
        """Skip-gram negative-sampling SGD over word pairs, in place; returns the summed loss.

        ``syn0`` (input vectors) and ``syn1neg`` (output vectors) are float32 ``(V, d)``.
        ``inputs``, ``outputs``: int32 ``(P,)`` pair indices; ``negatives``: int32 ``(P, K)``;
        ``alphas``: float32 ``(P,)`` learning rate per pair. For each pair, as word2vec.c does::

            e = 0
            for (t, label) in [(outputs[p], 1)] + [(n, 0) for n in negatives[p] if n != outputs[p]]:
                g = (label - sigmoid(syn0[i] . syn1neg[t])) * alphas[p]
                e += g * syn1neg[t];  syn1neg[t] += g * syn0[i]
            syn0[i] += e            # i = inputs[p]

        Loss per pair is ``-log sigmoid(pos) - sum log sigmoid(-neg)``, from the scores before
        the update. Implementations may process pairs concurrently in disjoint chunks (Hogwild,
        like word2vec.c and gensim threads) or in small minibatches, so results equal the
        sequential definition exactly only when no two concurrently processed pairs share a row.
        """

    def reduce_sum(self, x, axis=0) -> np.ndarray:
        """Sum over an axis (bias gradients); numpy is fast enough everywhere."""
        return x.sum(axis=axis)
