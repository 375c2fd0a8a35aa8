"""The exchange's row operations (RowOps.add_scaled_rows, subtract_rows, apply_rows): the
numpy reference against plain loops, and the OpenCL kernels against the reference bit for
bit, so that the backend that merges a round never changes a vector."""

import numpy as np
import pytest

from sparknn.backend import opencl_backend
from sparknn.backend.numpy_backend import NumpyBackend
from sparknn.backend.opencl_backend import CPUAutoBackend, OpenCLBackend
from sparknn.word2vec.merge import merge_rows

REF = NumpyBackend()


@pytest.fixture(scope="module", params=["opencl", "auto-cpu"])
def kernels(request):
    return OpenCLBackend() if request.param == "opencl" else CPUAutoBackend()


def case(dim, seed=0, n_rows=50, n_changed=20):
    """A matrix, its base (a replica's model at the round's start), unique rows, values,
    and pending flags for about half the vocabulary."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n_rows, dim)).astype(np.float32)
    base = (matrix + rng.standard_normal((n_rows, dim)) * 1e-3).astype(np.float32)
    rows = np.sort(rng.choice(n_rows, n_changed, replace=False)).astype(np.int32)
    values = rng.standard_normal((n_changed, dim)).astype(np.float32)
    scale = rng.uniform(0.1, 3.0, n_changed).astype(np.float32)
    pending = (rng.random(n_rows) < 0.5).astype(np.int32)
    return matrix, base, rows, values, scale, pending


def test_the_reference_is_what_it_says():
    matrix, base, rows, values, scale, pending = case(5)
    want = matrix.copy()
    for j, r in enumerate(rows):
        want[r] = want[r] + values[j] * scale[j]
    dst = matrix.copy()
    new = REF.add_scaled_rows(dst, rows, values.copy(), scale)
    np.testing.assert_array_equal(dst, want)
    np.testing.assert_array_equal(new, want[rows])
    np.testing.assert_array_equal(REF.subtract_rows(matrix, base, rows), matrix[rows] - base[rows])

    want_matrix, want_base = matrix.copy(), base.copy()
    for j, r in enumerate(rows):
        own = matrix[r] - base[r]
        want_matrix[r] = values[j] + own if pending[r] else values[j]
        want_base[r] = values[j]
    got_matrix, got_base = matrix.copy(), base.copy()
    REF.apply_rows(got_matrix, got_base, rows, values, pending)
    np.testing.assert_array_equal(got_matrix, want_matrix)
    np.testing.assert_array_equal(got_base, want_base)


@pytest.mark.parametrize("dim", [1, 7, 100])
@pytest.mark.parametrize("scaled", [True, False])
def test_add_scaled_rows_equals_the_reference(kernels, dim, scaled):
    matrix, _, rows, values, scale, _ = case(dim, seed=dim)
    want_dst, got_dst = matrix.copy(), matrix.copy()
    want = REF.add_scaled_rows(want_dst, rows, values.copy(), scale if scaled else None)
    got = kernels.add_scaled_rows(got_dst, rows, values.copy(), scale if scaled else None)
    np.testing.assert_array_equal(got_dst, want_dst)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dim", [1, 7, 100])
@pytest.mark.parametrize("with_pending", [True, False])
def test_apply_and_subtract_rows_equal_the_reference(kernels, dim, with_pending):
    matrix, base, rows, values, _, pending = case(dim, seed=dim + 1)
    pending = pending if with_pending else None
    np.testing.assert_array_equal(
        kernels.subtract_rows(matrix, base, rows), REF.subtract_rows(matrix, base, rows)
    )
    want_matrix, want_base = matrix.copy(), base.copy()
    got_matrix, got_base = matrix.copy(), base.copy()
    REF.apply_rows(want_matrix, want_base, rows, values, pending)
    kernels.apply_rows(got_matrix, got_base, rows, values, pending)
    np.testing.assert_array_equal(got_matrix, want_matrix)
    np.testing.assert_array_equal(got_base, want_base)
    assert with_pending is False or not np.array_equal(got_matrix[rows], values)


def test_rows_split_over_work_items_give_the_same_bits(monkeypatch):
    """The kernels run one work-item; split over several, each takes every k-th row."""
    monkeypatch.setattr(opencl_backend, "ROW_WORKERS", 3)
    ocl = OpenCLBackend()
    matrix, base, rows, values, scale, pending = case(10, seed=9)
    want_dst, got_dst = matrix.copy(), matrix.copy()
    np.testing.assert_array_equal(
        ocl.add_scaled_rows(got_dst, rows, values.copy(), scale),
        REF.add_scaled_rows(want_dst, rows, values.copy(), scale),
    )
    np.testing.assert_array_equal(
        ocl.subtract_rows(matrix, base, rows), REF.subtract_rows(matrix, base, rows)
    )
    want = matrix.copy(), base.copy()
    got = matrix.copy(), base.copy()
    REF.apply_rows(*want, rows, values, pending)
    ocl.apply_rows(*got, rows, values, pending)
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(g, w)


def test_rows_out_of_range_or_misshapen_raise_instead_of_writing_past_arrays(kernels):
    matrix, base, rows, values, scale, pending = case(6)
    past = rows.copy()
    past[-1] = len(matrix)
    with pytest.raises(IndexError):
        kernels.add_scaled_rows(matrix.copy(), past, values.copy(), scale)
    with pytest.raises(IndexError):
        kernels.subtract_rows(matrix, base, rows + len(matrix))
    with pytest.raises(ValueError):
        kernels.apply_rows(matrix.copy(), base.copy(), rows, values[:-1], pending)


def test_no_rows_change_nothing(kernels):
    matrix, base, _, _, _, pending = case(8)
    none, empty = np.zeros(0, np.int32), np.zeros((0, 8), np.float32)
    before = matrix.copy(), base.copy()
    assert kernels.add_scaled_rows(matrix, none, empty, np.zeros(0, np.float32)).shape == (0, 8)
    assert kernels.subtract_rows(matrix, base, none).shape == (0, 8)
    kernels.apply_rows(matrix, base, none, empty, pending)
    np.testing.assert_array_equal(matrix, before[0])
    np.testing.assert_array_equal(base, before[1])


@pytest.mark.parametrize("how", ["adaptive", "sum", "mean"])
def test_merges_are_the_same_with_every_backend(kernels, how):
    """Three partitions' overlapping rows, as the driver merges them each round."""
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((300, 100)).astype(np.float32)
    parts = []
    for _ in range(3):
        rows = np.sort(rng.choice(300, 120, replace=False)).astype(np.int32)
        deltas = (rng.standard_normal((120, 100)) * 0.01).astype(np.float32)
        parts.append((rows, deltas, rng.integers(1, 500, 120).astype(np.int32)))
    want_matrix, got_matrix = matrix.copy(), matrix.copy()
    want_rows, want = merge_rows(want_matrix, parts, how, backend=REF)
    got_rows, got = merge_rows(got_matrix, parts, how, backend=kernels)
    np.testing.assert_array_equal(got_rows, want_rows)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_matrix, want_matrix)
    assert not np.array_equal(got_matrix, matrix)


@pytest.mark.parametrize("backend", [REF, CPUAutoBackend()], ids=["threads", "kernels"])
def test_a_round_in_which_no_partition_sends_a_row_merges_nothing(backend):
    """Every syn1neg row deferred (or hogwild, where no replica reports rows): the merge in
    row blocks has no sent row to cut the blocks at, and returns no rows."""
    from concurrent.futures import ThreadPoolExecutor

    from sparknn.word2vec.merge import merge_blocks

    matrix = np.ones((30, 4), np.float32)
    nothing = (np.zeros(0, np.int32), np.zeros((0, 4), np.float32), np.zeros(0, np.int32))
    with ThreadPoolExecutor(2) as pool:
        rows, values = merge_blocks(pool, matrix, [nothing, nothing], "adaptive", 0.002, 3,
                                    backend)()  # fmt: skip
    assert len(rows) == 0 and values.shape == (0, 4)
    np.testing.assert_array_equal(matrix, 1.0)


def test_devices_with_their_own_memory_run_the_reference(monkeypatch):
    """On a GPU the matrices would cross to the device and back for each call: there the
    reference runs (forced here on PoCL, as a device with memory of its own)."""
    monkeypatch.setattr(opencl_backend._DeviceState, "_probe_zero_copy", lambda self: False)
    copying = OpenCLBackend()
    assert copying.threaded_rows
    monkeypatch.setattr(
        opencl_backend._DeviceState, "kernel", lambda *args: pytest.fail("built a kernel")
    )
    matrix, base, rows, values, scale, pending = case(9)
    want_dst, got_dst = matrix.copy(), matrix.copy()
    np.testing.assert_array_equal(
        copying.add_scaled_rows(got_dst, rows, values.copy(), scale),
        REF.add_scaled_rows(want_dst, rows, values.copy(), scale),
    )
    np.testing.assert_array_equal(got_dst, want_dst)
    got_base, want_base = base.copy(), base.copy()
    copying.apply_rows(got_dst, got_base, rows, values, pending)
    REF.apply_rows(want_dst, want_base, rows, values, pending)
    np.testing.assert_array_equal(got_dst, want_dst)
    np.testing.assert_array_equal(got_base, want_base)


@pytest.mark.usefixtures("one_sgns_work_item")
def test_training_with_row_kernels_equals_training_with_the_reference(monkeypatch):
    """Replicas applying and reporting rows, and the driver merging them, with the kernels
    or with the reference: the same vectors, bit for bit."""
    from tests.test_word2vec_train import planted_corpus, train

    lines = planted_corpus(600, seed=5)
    settings = dict(epochs=1, backend="opencl", sync_words=400, sync_start_words=400)
    with_kernels = train(lines, 2, **settings)
    monkeypatch.setattr(OpenCLBackend, "_row_kernel", lambda *args, **kwargs: None)
    monkeypatch.setattr(OpenCLBackend, "threaded_rows", True)
    with_reference = train(lines, 2, **settings)
    assert with_kernels.metadata["rounds"] > 2
    np.testing.assert_array_equal(with_kernels.vectors, with_reference.vectors)
