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
* ``sgns_train`` (optional, ``fused_sgns = True`` where implemented) is the whole word2vec.c
  loop from the token stream: subsampling, dynamic window and negatives drawn on the device.
"""

from abc import ABC, abstractmethod

import numpy as np

ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "softmax")


class Backend(ABC):
    """One implementation of the heavy operations (numpy, opencl)."""

    name: str = "abstract"
    fused_sgns: bool = False  # implements sgns_train
    #: True where sgns_train/sgns_update update the caller's arrays where they lie (numpy;
    #: OpenCL on a device that computes in host memory), so processes that map one model
    #: train it together; False where a call copies the model to a device and back (a GPU).
    trains_in_place: bool = True

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

    def sgns_train(
        self, syn0, syn1neg, tokens, sentence_starts, keep_prob, negative_table,
        window, negative, alpha_start, alpha_end, seed, counts0, counts1, workers=None,
        shared_negatives=False,
    ) -> tuple[float, int]:  # fmt: skip
        """word2vec.c's whole skip-gram loop over a token stream, in place (``fused_sgns``).

        Returns ``(loss, pairs)``: the summed loss and the number of (context, centre) pairs
        trained. ``syn0``, ``syn1neg``: float32 C-contiguous ``(V, d)``, updated in place.
        ``tokens``: int32 ``(n,)`` word ids; ``sentence_starts``: sorted int64 offsets where
        sentences start (the first is 0; empty only when ``n == 0``); a sentence ends where
        the next starts, the last at ``n``. ``keep_prob``: float32 ``(V,)``;
        ``negative_table``: int32 ``(T,)`` of word ids (``vocab.negative_table``).
        ``counts0``, ``counts1``: int32 ``(V,)``, *added to* in place: the number of updates
        each ``syn0`` row and each ``syn1neg`` row received; both None: not counted (saves
        a random increment per target). ``n == 0`` returns ``(0.0, 0)``.

        RNG: splitmix64, ``next()`` = ``s += 0x9E3779B97F4A7C15; z = s;
        z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9; z = (z ^ z >> 27) * 0x94D049BB133111EB;
        return z ^ z >> 31`` (mod 2**64). Work-item ``w`` starts from
        ``s = seed ^ (w * 0xD1B54A32D192ED03 mod 2**64)``.

        Split: sentence ``[a, b)`` goes to work-item ``w = floor(a * workers / n)``, i.e. the
        one whose token range ``[w*n/workers, (w+1)*n/workers)`` holds its start (groups of
        whole sentences, in order; some may be empty). Work-items run concurrently, Hogwild
        on shared rows like word2vec.c threads; ``workers=1`` is sequential, deterministic.
        ``workers=None`` is the backend's choice (OpenCL: 1 on a CPU device, where a Spark
        task has one core; 4 per compute unit on a GPU, where one work-item would leave the
        device idle).

        Each work-item takes its sentences in order. For each sentence:

        1. subsampling: for each token ``t`` in order, if ``keep_prob[t] < 1`` draw ``r``
           and keep ``t`` iff ``(r >> 40) * 2**-24 < keep_prob[t]``; tokens with
           ``keep_prob >= 1`` are kept without a draw. The kept tokens form the sentence.
        2. for each kept centre ``c`` in order: ``b = 1 + (next() >> 32) % window``; for
           ``j = c-b .. c-1, c+1 .. c+b`` (in that order) within the kept sentence, the pair
           input ``kept[j]`` (syn0 row), output ``kept[c]`` (syn1neg row) with learning rate
           ``alpha_start + (alpha_end - alpha_start) * i / n`` (float32), ``i`` the centre's
           position in ``tokens``. The pair then draws its ``negative`` negatives in order,
           ``negative_table[(next() >> 16) % T]`` each, before the next pair draws anything.
           With ``shared_negatives`` the centre draws them instead, right after ``b`` (even
           if it has no context), and every pair of the centre uses the same negatives.
        3. each pair is trained exactly as :meth:`sgns_update` defines (the positive target,
           then the negatives, a negative equal to the output skipped); ``counts0[input]``
           gains 1 per pair, ``counts1[target]`` 1 per target applied (the positive and each
           negative not skipped).

        The draws depend on the tokens, ``seed`` and ``workers``, never on the vectors: the
        pairs and counts are deterministic even where Hogwild makes the vectors not.
        """
        raise NotImplementedError(f"backend {self.name!r} has no fused sgns_train")

    def reduce_sum(self, x, axis=0) -> np.ndarray:
        """Sum over an axis (bias gradients); numpy is fast enough everywhere."""
        return x.sum(axis=axis)

    # Row operations of word2vec's exchange (sparknn/word2vec/train.py): the driver's merge,
    # a replica's report of its changed rows and its move to the merged model. ``rows`` are
    # unique row indices (int32) of float32 C-contiguous matrices. These are the reference,
    # in numpy; a backend may run them itself where that is faster, but must compute every
    # value bit for bit as here, so that which backend merged a round never changes a vector.

    #: Callers may run row operations on disjoint rows in several threads at once (numpy
    #: releases the GIL); False where one call at a time is the way (OpenCL kernels).
    threaded_rows: bool = True

    def add_scaled_rows(self, dst, rows, src, scale=None) -> np.ndarray:
        """``dst[rows[j]] += src[j] * scale[j]`` (float32; ``scale=None``: no multiply).
        Returns the rows' new values, which may be ``src`` itself, overwritten."""
        updated = np.take(dst, rows, axis=0)  # whole rows, not numpy's element by element
        updated += src if scale is None else src * np.asarray(scale, dst.dtype)[:, None]
        set_rows(dst, rows, updated)
        return updated

    def subtract_rows(self, a, b, rows) -> np.ndarray:
        """``a[rows] - b[rows]``, a new array."""
        return np.take(a, rows, axis=0) - np.take(b, rows, axis=0)

    def apply_rows(self, matrix, base, rows, values, pending=None) -> None:
        """``base[rows] = values`` and ``matrix[rows] = values``, except that a row whose
        ``pending`` entry (indexed by row) is non-zero keeps its own change on top:
        ``matrix[r] = values[j] + (matrix[r] - base[r])``, with ``base[r]`` before the call."""
        unsent = np.flatnonzero(pending[rows]) if pending is not None else ()
        if len(unsent):
            own = self.subtract_rows(matrix, base, rows[unsent])
        set_rows(base, rows, values)
        if len(unsent):
            values = values.copy()
            values[unsent] += own
        set_rows(matrix, rows, values)


def set_rows(matrix, rows, values) -> None:
    """``matrix[rows] = values``, copying whole rows (each viewed as one opaque item) where
    numpy's fancy assignment copies element by element (20-30% faster here)."""
    as_rows = np.dtype((np.void, matrix.shape[1] * matrix.itemsize))
    values = np.ascontiguousarray(values, dtype=matrix.dtype)
    matrix.view(as_rows)[rows, 0] = values.view(as_rows)[:, 0]
