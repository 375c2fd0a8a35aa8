"""The compute-backend interface: what the rest of sparknn calls a backend.

A :class:`Backend` has three kinds of operations, each with its interface and numpy
reference in a module of its own:

* :mod:`sparknn.backend.dense`: the dense operations the network layers use (GEMM,
  bias+activation, LSTM cell steps, softmax+cross-entropy);
* :mod:`sparknn.backend.sgns`: word2vec's skip-gram negative-sampling kernels
  (``sgns_update``, and the fused ``sgns_train`` where ``fused_sgns``);
* :mod:`sparknn.backend.rows`: the row operations of word2vec's exchange
  (``add_scaled_rows``, ``subtract_rows``, ``apply_rows``).
"""

from sparknn.backend.dense import DenseOps
from sparknn.backend.rows import RowOps
from sparknn.backend.sgns import SGNSKernels


class Backend(DenseOps, SGNSKernels, RowOps):
    """One implementation of the heavy operations (numpy, opencl, auto)."""

    name: str = "abstract"
