"""Backend selection: `opencl`, `auto`, $SPARKNN_OPENCL_DEVICE, and machines without devices."""

import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest

from sparknn.backend import NumpyBackend, opencl_backend
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
    with pytest.raises(SparknnError, match=rf"{wanted}.*found: \[0\] {re.escape(first)}"):
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
    assert isinstance(backend, NumpyBackend)  # dense ops: numpy's own methods
    assert type(backend).gemm is NumpyBackend.gemm
    assert backend.sgns.sgns_workers == 1  # deterministic, one core
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


class FakeDevice:
    """Enough of a pyopencl device for device selection: a name and a type."""

    def __init__(self, name, gpu):
        import pyopencl as cl

        self.name = name
        self.type = cl.device_type.GPU if gpu else cl.device_type.CPU


def fake_devices():
    """A CPU device listed first, then two GPUs on another platform: addresses index GPUs."""
    return [
        ("Portable Computing Language", FakeDevice("cpu-0", gpu=False)),
        ("Fake GPUs", FakeDevice("gpu-a", gpu=True)),
        ("Fake GPUs", FakeDevice("gpu-b", gpu=True)),
    ]


def test_spark_gpu_addresses_index_the_gpus_in_order():
    found = fake_devices()
    assert opencl_backend.gpu_for_address(found, "0") == 1
    assert opencl_backend.gpu_for_address(found, "1") == 2


@pytest.mark.parametrize("address", ["2", "GPU-5f3c", "-1", ""])
def test_a_gpu_address_that_is_no_gpu_index_is_a_clear_error(address):
    with pytest.raises(SparknnError, match=rf"GPU address {address!r}.*there are 2 .*0\.\.1"):
        opencl_backend.gpu_for_address(fake_devices(), address)


def test_assigned_gpu_wins_over_the_environment_and_auto_follows_it(monkeypatch, caplog):
    monkeypatch.setattr(opencl_backend, "list_devices", fake_devices)
    monkeypatch.setenv(opencl_backend.DEVICE_ENV, "cpu")
    assert OpenCLBackend().device_name == "cpu-0"  # no assignment: the environment
    with caplog.at_level(logging.WARNING, logger="sparknn"):
        assert OpenCLBackend(gpu_address="1").device_name == "gpu-b"
    assert f"{opencl_backend.DEVICE_ENV}='cpu' ignored" in caplog.text
    assert OpenCLBackend(device="gpu-a", gpu_address="1").device_name == "gpu-a"  # argument
    chosen = auto_backend("0")
    assert isinstance(chosen, OpenCLBackend) and chosen.device_name == "gpu-a"
    monkeypatch.setattr(opencl_backend, "list_devices", lambda: fake_devices()[:1])
    with pytest.raises(SparknnError, match="there are 0"):  # not a silent fall-back to CPU
        auto_backend("0")


def test_get_backend_follows_the_tasks_gpu_across_tasks_of_one_worker(monkeypatch):
    """A reused Python worker may run a task holding GPU 0, then one holding GPU 1."""
    import sparknn.backend as backends

    monkeypatch.setattr(opencl_backend, "list_devices", fake_devices)
    monkeypatch.setattr(backends, "_instances", {})
    for address, name in [("0", "gpu-a"), ("1", "gpu-b"), ("0", "gpu-a")]:
        monkeypatch.setattr(backends, "task_gpu_address", lambda address=address: address)
        assert backends.get_backend("opencl").device_name == name
        assert backends.get_backend("auto").device_name == name
    assert backends.get_backend("opencl") is backends.get_backend("opencl")  # still cached
