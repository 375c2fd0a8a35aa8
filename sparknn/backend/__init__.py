"""Compute backends: ``numpy`` (reference), ``opencl`` (pyopencl kernels), ``auto``.

A backend (:class:`Backend`, base.py) has the dense operations the layers use (dense.py),
word2vec's SGNS kernels (sgns.py, whose ``sgns_train`` takes an :class:`SGNSRun`) and the
row operations of word2vec's exchange (rows.py); each module holds its numpy reference.

``get_backend(name)`` returns a cached per-process instance. The OpenCL backend is imported
only when asked for, so nothing outside ``sparknn.backend.opencl_backend`` imports pyopencl
and a forked Spark worker never inherits an OpenCL context. Inside a Spark task that Spark
assigned a GPU (``spark.task.resource.gpu.amount``), ``opencl`` and ``auto`` compute on that
GPU: a reused Python worker may run tasks holding different GPUs, so the cache is per
(name, GPU address).
"""

import sys

from sparknn.backend.base import Backend
from sparknn.backend.dense import ACTIVATIONS
from sparknn.backend.numpy_backend import NumpyBackend
from sparknn.backend.sgns import SGNSRun
from sparknn.errors import SparknnError

BACKENDS = ("numpy", "opencl", "auto")
_instances: dict[tuple[str, str | None], Backend] = {}


def get_backend(name: str = "numpy") -> Backend:
    """Return the backend called ``name`` (``numpy``, ``opencl`` or ``auto``)."""
    if isinstance(name, Backend):
        return name
    if name not in BACKENDS:
        raise SparknnError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    key = (name, None if name == "numpy" else task_gpu_address())
    if key not in _instances:
        _instances[key] = _create(*key)
    return _instances[key]


def set_backend(name: str, backend: Backend) -> None:
    """Make :func:`get_backend` return ``backend`` for ``name`` in this process from now on
    (outside Spark tasks that hold a GPU): a study or benchmark that needs the backend
    configured otherwise than ``get_backend`` would (an ``OpenCLBackend`` on a chosen device,
    or with a given ``sgns_workers``) gets code that calls ``get_backend(name)`` to use it."""
    if name not in BACKENDS:
        raise SparknnError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    _instances[(name, task_gpu_address())] = backend


def task_gpu_address() -> str | None:
    """The GPU address Spark assigned the running task (the first, if it holds several), or
    None: outside a Spark task, or in a task without GPUs."""
    if "pyspark" not in sys.modules:  # not in a Spark worker: nothing to ask, nothing to import
        return None
    from pyspark import TaskContext

    context = TaskContext.get()
    gpu = context.resources().get("gpu") if context is not None else None
    return gpu.addresses[0] if gpu is not None and gpu.addresses else None


def _create(name: str, gpu_address: str | None) -> Backend:
    if name == "numpy":
        return NumpyBackend()
    from sparknn.backend import opencl_backend  # deferred: pyopencl only when asked for

    if name == "opencl":
        return opencl_backend.OpenCLBackend(gpu_address=gpu_address)
    return opencl_backend.auto_backend(gpu_address)


# Imported when first used (``from sparknn.backend import OpenCLBackend``): they import pyopencl.
_OPENCL_EXPORTS = ("OpenCLBackend", "CPUAutoBackend")


def __getattr__(name):
    if name not in _OPENCL_EXPORTS:  # a submodule (``import sparknn.backend.rows``) loads
        raise AttributeError(f"module 'sparknn.backend' has no attribute {name!r}")
    from sparknn.backend import opencl_backend

    return getattr(opencl_backend, name)


__all__ = [
    "ACTIVATIONS", "BACKENDS", "Backend", "CPUAutoBackend", "NumpyBackend", "OpenCLBackend",
    "SGNSRun", "get_backend", "set_backend",
]  # fmt: skip
