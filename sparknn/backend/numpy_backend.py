"""The reference backend: numpy for every operation (BLAS for GEMM, vectorised elsewhere)."""

from sparknn.backend.base import Backend
from sparknn.backend.dense import NumpyDense
from sparknn.backend.sgns import NumpySGNS


class NumpyBackend(NumpyDense, NumpySGNS, Backend):
    """numpy's dense operations, SGNS update (no fused ``sgns_train``) and row operations."""

    name = "numpy"
