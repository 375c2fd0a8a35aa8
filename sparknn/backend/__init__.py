"""Compute backends: ``numpy`` (reference), ``opencl`` (pyopencl kernels), ``auto``.

``get_backend(name)`` returns a cached per-process instance. The OpenCL backend is imported
only when asked for, so nothing outside ``sparknn.backend.opencl_backend`` imports pyopencl
and a forked Spark worker never inherits an OpenCL context.
"""

from sparknn.backend.base import ACTIVATIONS, Backend
from sparknn.backend.numpy_backend import NumpyBackend
from sparknn.errors import SparknnError

BACKENDS = ("numpy", "opencl", "auto")
_instances: dict[str, Backend] = {}


def get_backend(name: str = "numpy") -> Backend:
    """Return the backend called ``name`` (``numpy``, ``opencl`` or ``auto``)."""
    if isinstance(name, Backend):
        return name
    if name not in BACKENDS:
        raise SparknnError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name not in _instances:
        _instances[name] = _create(name)
    return _instances[name]


def _create(name: str) -> Backend:
    if name == "numpy":
        return NumpyBackend()
    from sparknn.backend import opencl_backend  # deferred: pyopencl only when asked for

    if name == "opencl":
        return opencl_backend.OpenCLBackend()
    return opencl_backend.auto_backend()


__all__ = ["ACTIVATIONS", "BACKENDS", "Backend", "get_backend", "NumpyBackend"]
