"""word2vec's skip-gram negative-sampling (SGNS) kernels: their interface and numpy reference.

Two operations, both updating the caller's ``syn0`` (input vectors) and ``syn1neg`` (output
vectors) in place:

* ``sgns_update`` trains given (input, output, negatives) pairs; every backend has it.
* ``sgns_train`` (where ``fused_sgns`` is True) is word2vec.c's whole loop from the token
  stream: subsampling, dynamic window and negatives drawn by the backend itself. What one
  call trains with, apart from the arrays it updates and the tokens, is an :class:`SGNSRun`.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


# eq=False: fields are arrays, whose == is elementwise; a run compares by identity.
@dataclass(frozen=True, eq=False)
class SGNSRun:
    """The parameters of one :meth:`SGNSKernels.sgns_train` call (see its docstring)."""

    keep_prob: np.ndarray  #: float32 ``(V,)``: probability of keeping each word (subsampling)
    negative_table: np.ndarray  #: int32 ``(T,)`` word ids negatives are drawn from
    window: int  #: the largest context window (each centre draws its own, 1..window)
    negative: int  #: negatives per pair (or per centre, with ``shared_negatives``)
    alpha_start: float  #: learning rate at the first token, falling linearly to ...
    alpha_end: float  #: ... this one past the last
    seed: int  #: the RNG's seed, in [0, 2**64)
    workers: int | None = None  #: concurrent work-items; None: the backend's choice
    shared_negatives: bool = False  #: one draw of negatives per centre, shared by its pairs


class SGNSKernels(ABC):
    """The SGNS kernels of one backend."""

    fused_sgns: bool = False  # implements sgns_train
    #: True where sgns_train/sgns_update update the caller's arrays where they lie (numpy;
    #: OpenCL on a device that computes in host memory), so processes that map one model
    #: train it together; False where a call copies the model to a device and back (a GPU).
    trains_in_place: bool = True

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
        self, syn0, syn1neg, tokens, sentence_starts, run: SGNSRun, counts0=None, counts1=None
    ) -> tuple[float, int]:
        """word2vec.c's whole skip-gram loop over a token stream, in place (``fused_sgns``).

        Returns ``(loss, pairs)``: the summed loss and the number of (context, centre) pairs
        trained. ``syn0``, ``syn1neg``: float32 C-contiguous ``(V, d)``, updated in place.
        ``tokens``: int32 ``(n,)`` word ids; ``sentence_starts``: sorted int64 offsets where
        sentences start (the first is 0; empty only when ``n == 0``); a sentence ends where
        the next starts, the last at ``n``. ``run.keep_prob``: float32 ``(V,)``;
        ``run.negative_table``: int32 ``(T,)`` of word ids (``vocab.negative_table``).
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


class NumpySGNS(SGNSKernels):
    """The reference SGNS kernel: ``sgns_update`` in numpy (no fused ``sgns_train``)."""

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
