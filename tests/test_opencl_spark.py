"""backend=opencl inside Spark executors on local-cluster: the kernels run there, not on the
driver, with a context created lazily in each Python worker."""

import os

import numpy as np
import pytest

from sparknn.backend.numpy_backend import NumpyBackend


def test_opencl_kernels_run_on_executors(spark):
    # defined here so cloudpickle ships it by value (the tests dir is not on executors)
    def kernel_task(index, _rows):
        import os

        import numpy as np

        from sparknn.backend import get_backend

        backend = get_backend("opencl")
        rng = np.random.default_rng(index)
        a = rng.standard_normal((19, 23)).astype(np.float32)
        b = rng.standard_normal((23, 29)).astype(np.float32)
        product = backend.gemm(a, b)
        # an SGNS step on pairs that share no rows (so it equals the sequential definition)
        syn0 = rng.standard_normal((60, 8)).astype(np.float32)
        syn1neg = rng.standard_normal((60, 8)).astype(np.float32)
        batch = (
            rng.permutation(60)[:10].astype(np.int32),
            *np.split(rng.permutation(60)[:30].astype(np.int32).reshape(10, 3), [1], axis=1),
            np.full(10, 0.1, np.float32),
        )
        batch = (batch[0], batch[1].ravel().copy(), batch[2].copy(), batch[3])
        trained0, trained1 = syn0.copy(), syn1neg.copy()
        loss = backend.sgns_update(trained0, trained1, *batch)
        state = backend._state
        yield {
            "partition": index,
            "pid": os.getpid(),
            "context_pid": state.pid if state is not None else None,
            "device": backend.device_name,
            "gemm": (a, b, product),
            "sgns": (syn0, syn1neg, batch, trained0, trained1, loss),
        }

    rdd = spark.sparkContext.parallelize(range(4), 4).mapPartitionsWithIndex(kernel_task)
    reports = rdd.collect()
    assert sorted(r["partition"] for r in reports) == [0, 1, 2, 3]
    driver_pid = os.getpid()
    for report in reports:
        assert report["pid"] != driver_pid  # ran in an executor's Python worker
        assert report["context_pid"] == report["pid"]  # its context was made in that process
        assert report["device"]
        a, b, product = report["gemm"]
        np.testing.assert_allclose(product, a @ b, rtol=1e-5, atol=1e-4)
        syn0, syn1neg, batch, trained0, trained1, loss = report["sgns"]
        want0, want1 = syn0.copy(), syn1neg.copy()
        want_loss = NumpyBackend().sgns_update(want0, want1, *batch)
        assert loss == pytest.approx(want_loss, rel=1e-5)
        np.testing.assert_allclose(trained0, want0, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(trained1, want1, rtol=1e-5, atol=1e-6)


# A GPU discovery script for a worker of the test's cluster: each call claims the next free
# address (an exclusive file per address), so the two workers are given GPUs "0" and "1".
DISCOVERY_SCRIPT = """#!{python}
import json, os
index = 0
while True:
    try:
        os.close(os.open(os.path.join({folder!r}, f"claimed-{{index}}"), os.O_CREAT | os.O_EXCL))
        break
    except FileExistsError:
        index += 1
print(json.dumps({{"name": "gpu", "addresses": [str(index)]}}))
"""

# The driver of a Spark application with GPU scheduling on local-cluster. Its tasks see a
# fake OpenCL device list (a CPU device, then two GPUs): the machine running the tests has
# no GPUs, and the mapping from address to device is what is under test.
GPU_JOB = """
import json, sys
from sparknn.spark.session import session

def report(_rows):
    import os
    import pyopencl as cl
    from pyspark import TaskContext
    from sparknn.backend import get_backend, opencl_backend

    class FakeDevice:
        def __init__(self, name, kind):
            self.name, self.type = name, kind

    opencl_backend.list_devices = lambda: [
        ("CPU platform", FakeDevice("cpu-0", cl.device_type.CPU)),
        ("GPU platform", FakeDevice("gpu-a", cl.device_type.GPU)),
        ("GPU platform", FakeDevice("gpu-b", cl.device_type.GPU)),
    ]
    yield {
        "pid": os.getpid(),
        "address": TaskContext.get().resources()["gpu"].addresses,
        "opencl": get_backend("opencl").device_name,
        "auto": get_backend("auto").device_name,
    }

spark = session(master="local-cluster[2,1,1024]", conf={
    "spark.worker.resource.gpu.amount": "1",
    "spark.worker.resource.gpu.discoveryScript": sys.argv[1],
    "spark.executor.resource.gpu.amount": "1",
    "spark.task.resource.gpu.amount": "1",
    "spark.scheduler.minRegisteredResourcesRatio": "1",  # both executors before any task
})
print(json.dumps(spark.sparkContext.parallelize(range(6), 6).mapPartitions(report).collect()))
spark.stop()
"""


def test_each_task_computes_on_the_gpu_spark_assigned_it(tmp_path):
    """Two executors, one GPU each (addresses from a discovery script): every task's backend
    is the GPU of its address, counted among the GPUs only, whatever the environment says."""
    import json
    import subprocess
    import sys

    script = tmp_path / "discover_gpus.py"
    script.write_text(DISCOVERY_SCRIPT.format(python=sys.executable, folder=str(tmp_path)))
    script.chmod(0o755)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=repo, SPARKNN_OPENCL_DEVICE="cpu")  # overridden in tasks
    done = subprocess.run(
        [sys.executable, "-c", GPU_JOB, str(script)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    reports = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(path.name for path in tmp_path.glob("claimed-*")) == ["claimed-0", "claimed-1"]
    assert {tuple(r["address"]) for r in reports} == {("0",), ("1",)}  # both executors ran tasks
    by_address = {"0": "gpu-a", "1": "gpu-b"}
    for r in reports:
        assert r["opencl"] == r["auto"] == by_address[r["address"][0]], r
    assert len({r["pid"] for r in reports}) >= 2
