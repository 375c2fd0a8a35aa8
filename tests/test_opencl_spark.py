"""backend=opencl inside Spark executors on local-cluster: the kernels run there, not on the
driver, with a context created lazily in each Python worker."""

import os

import numpy as np
import pytest

pytestmark = pytest.mark.spark


def test_opencl_kernels_run_on_executors(spark):
    # defined here so cloudpickle ships it by value (the tests dir is not on executors)
    def _gemm_task(index, _rows):
        import os

        import numpy as np

        from sparknn.backend import get_backend

        backend = get_backend("opencl")
        rng = np.random.default_rng(index)
        a = rng.standard_normal((19, 23)).astype(np.float32)
        b = rng.standard_normal((23, 29)).astype(np.float32)
        product = backend.gemm(a, b)
        state = backend._state
        yield {
            "partition": index,
            "pid": os.getpid(),
            "context_pid": state.pid if state is not None else None,
            "device": backend.device_name,
            "a": a,
            "b": b,
            "product": product,
        }

    reports = spark.sparkContext.parallelize(range(4), 4).mapPartitionsWithIndex(_gemm_task)
    reports = reports.collect()
    assert sorted(r["partition"] for r in reports) == [0, 1, 2, 3]
    driver_pid = os.getpid()
    for report in reports:
        assert report["pid"] != driver_pid  # ran in an executor's Python worker
        assert report["context_pid"] == report["pid"]  # its context was made in that process
        assert report["device"]
        np.testing.assert_allclose(
            report["product"], report["a"] @ report["b"], rtol=1e-5, atol=1e-4
        )
