"""Backend selection: `opencl`, `auto`, $SPARKNN_OPENCL_DEVICE, and machines without devices."""

import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest

from sparknn.backend import NumpyBackend, opencl_backend
from sparknn.backend.dense import NumpyDense
from sparknn.backend.opencl_backend import OpenCLBackend, auto_backend
from sparknn.errors import SparknnError


@pytest.fixture(autouse=True)
def no_device_env(monkeypatch):
    monkeypatch.delenv(opencl_backend.DEVICE_ENV, raising=False)


def test_device_by_index_and_by_name(monkeypatch):
    found = opencl_backend.list_devices()
    assert found, "CI runs with PoCL's CPU device installed"
    name = found[0][1].name.strip()
    monkeypatch.setenv(opencl_backend.DEVICE_ENV, "0")
    assert OpenCLBackend().device_name == name
    monkeypatch.setenv(opencl_backend.DEVICE_ENV, name.split()[0].upper())  # case-insensitive
    assert OpenCLBackend().device_name == name
    monkeypatch.delenv(opencl_backend.DEVICE_ENV)
    assert OpenCLBackend(device=0).device_name == name


@pytest.mark.parametrize("wanted", ["99", "no-such-device"])
def test_unknown_device_lists_what_was_found(monkeypatch, wanted):
    monkeypatch.setenv(opencl_backend.DEVICE_ENV, wanted)
    first = opencl_backend.list_devices()[0][1].name.strip()
    # Device names hold regex metacharacters, e.g. 'pthread-Intel(R) Xeon(R) Processor'.
    expected = rf"{re.escape(wanted)}.*found: \[0\] {re.escape(first)}"
    with pytest.raises(SparknnError, match=expected):
        OpenCLBackend()


def test_no_device_is_a_clear_error_and_auto_falls_back(monkeypatch, caplog):
    monkeypatch.setattr(opencl_backend, "list_devices", lambda: [])
    with pytest.raises(SparknnError, match="no usable device: no OpenCL platforms or devices"):
        OpenCLBackend()
    with caplog.at_level(logging.INFO, logger="sparknn"):
        backend = auto_backend()
    assert isinstance(backend, NumpyBackend)
    assert len([r for r in caplog.records if "backend auto" in r.getMessage()]) == 1


def test_auto_on_cpu_only_machine_is_numpy_plus_opencl_sgns(caplog):
    found = opencl_backend.list_devices()
    if any(opencl_backend.is_gpu(device) for _, device in found):
        pytest.skip("a GPU is present: auto is OpenCL (the next test); CI has none")
    with caplog.at_level(logging.INFO, logger="sparknn"):
        backend = auto_backend()
    assert isinstance(backend, opencl_backend.CPUAutoBackend) and backend.name == "auto"
    assert isinstance(backend, NumpyDense)  # dense ops: numpy's own methods
    assert type(backend).gemm is NumpyBackend.gemm
    assert backend.opencl.sgns_workers == 1  # deterministic, one core
    messages = [r.getMessage() for r in caplog.records if "backend auto" in r.getMessage()]
    assert len(messages) == 1 and "numpy" in messages[0]


def test_bad_sgns_workers_is_named():
    with pytest.raises(SparknnError, match="sgns_workers"):
        OpenCLBackend(sgns_workers=0)


def test_auto_picks_opencl_when_a_gpu_is_present(monkeypatch):
    monkeypatch.setattr(opencl_backend, "is_gpu", lambda device: True)
    backend = auto_backend()
    assert isinstance(backend, OpenCLBackend)


def test_auto_honours_an_explicit_device_choice(monkeypatch):
    monkeypatch.setenv(opencl_backend.DEVICE_ENV, "0")
    assert isinstance(auto_backend(), OpenCLBackend)


def test_context_is_lazy_and_rebuilt_after_fork(monkeypatch):
    backend = OpenCLBackend()
    assert backend._state is None  # constructing (or unpickling) creates no context
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_allclose(backend.gemm(a, a.T), a @ a.T)
    first = backend._state
    assert first is not None and first.pid == opencl_backend.os.getpid()
    monkeypatch.setattr(opencl_backend.os, "getpid", lambda: first.pid + 1)  # as if forked
    np.testing.assert_allclose(backend.gemm(a, a.T), a @ a.T)
    assert backend._state is not first and backend._state.pid == first.pid + 1


def test_pickled_backend_carries_no_context():
    import pickle

    backend = OpenCLBackend()
    backend.gemm(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32))
    clone = pickle.loads(pickle.dumps(backend))
    assert clone._state is None and clone.device_name == backend.device_name


def test_kernel_sources_are_package_resources():
    from importlib import resources

    kernels = resources.files("sparknn.backend") / "kernels"
    assert {"gemm.cl", "elementwise.cl", "sgns.cl"} <= {p.name for p in kernels.iterdir()}


def test_importing_the_backends_does_not_import_pyopencl():
    """Nothing OpenCL exists in a process until an OpenCL backend is used (fork safety)."""
    import subprocess
    import sys

    code = (
        "import sys; import sparknn.backend.opencl_backend; "
        "from sparknn.backend import get_backend; get_backend('numpy'); "
        "assert 'pyopencl' not in sys.modules, 'pyopencl imported'"
    )
    repo = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=repo)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


def test_bad_device_argument_is_named():
    with pytest.raises(SparknnError, match=r"device='no-such-device' matches no OpenCL device"):
        OpenCLBackend(device="no-such-device")


def test_kernel_build_failure_names_the_device_and_the_file():
    """A compiler that rejects our source (as NVIDIA's once did) is a SparknnError naming
    the kernel file and the device, with the compiler's message, not a bare pyopencl trace."""
    backend = OpenCLBackend()
    failure = r"(?s)sgns\.cl failed to build on .*not_a_number"
    with pytest.raises(SparknnError, match=failure) as raised:
        backend._dev().kernel("sgns.cl", "sgns_update", (("DIM", "not_a_number"),))
    assert backend.device_name in str(raised.value)
