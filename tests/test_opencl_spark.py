"""backend=opencl inside Spark executors on local-cluster: the kernels run there, not on the
driver, with a context created lazily in each Python worker."""

import os

import numpy as np
import pytest

from sparknn.backend.numpy_backend import NumpyBackend

pytestmark = pytest.mark.spark


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
