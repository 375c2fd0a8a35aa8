"""The compute-backend interface: what the rest of sparknn calls a backend.

A :class:`Backend` has four kinds of operations, each with its interface and numpy
reference in a module of its own:

* :mod:`sparknn.backend.dense`: the dense operations the network layers use (GEMM,
  bias+activation, LSTM cell steps, softmax+cross-entropy);
* :mod:`sparknn.backend.sgns`: word2vec's skip-gram negative-sampling kernels
  (``sgns_update``, and the fused ``sgns_train`` where ``fused_sgns``);
* :mod:`sparknn.backend.rows`: the row operations of word2vec's exchange
  (``add_scaled_rows``, ``subtract_rows``, ``apply_rows``);
* :mod:`sparknn.backend.documents`: MLlib's document vectors (``document_means``), what
  ``sparknn.ml.Word2VecModel.transform`` computes.
"""

from sparknn.backend.dense import DenseOps
from sparknn.backend.documents import DocumentOps
from sparknn.backend.rows import RowOps
from sparknn.backend.sgns import SGNSKernels


class Backend(DenseOps, SGNSKernels, RowOps, DocumentOps):
    """One implementation of the heavy operations (numpy, opencl, auto)."""

    name: str = "abstract"
