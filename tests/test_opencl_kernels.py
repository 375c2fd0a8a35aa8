"""Every OpenCL kernel against the numpy reference backend, on PoCL's CPU device in CI.

Sizes are chosen to be awkward for the kernels: non-multiples of the 6x16 GEMM microtile,
single rows, K=1, and all four transpose combinations.
"""

import numpy as np
import pytest

from sparknn.backend import opencl_backend
from sparknn.backend.numpy_backend import NumpyBackend
from sparknn.backend.opencl_backend import OpenCLBackend
from sparknn.errors import SparknnError

ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "softmax"]


@pytest.fixture(scope="module")
def ocl():
    return OpenCLBackend()


@pytest.fixture(scope="module")
def ref():
    return NumpyBackend()


def f32(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (1, 37, 5), (7, 13, 17), (6, 16, 16), (65, 129, 33)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_matches_numpy(ocl, ref, m, k, n, trans_a, trans_b):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = f32(rng, *((k, m) if trans_a else (m, k)))
    b = f32(rng, *((n, k) if trans_b else (k, n)))
    got = ocl.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    assert got.shape == (m, n) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref.gemm(a, b, trans_a, trans_b), rtol=1e-5, atol=1e-5 * k)


def test_gemm_out_and_accumulate(ocl):
    rng = np.random.default_rng(1)
    a, b = f32(rng, 9, 20), f32(rng, 20, 11)
    start = f32(rng, 9, 11)
    out = start.copy()
    assert ocl.gemm(a, b, out=out, accumulate=True) is out
    np.testing.assert_allclose(out, start + a @ b, rtol=1e-5, atol=1e-4)
    assert ocl.gemm(a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-4)
    # the result must not alias the backend's staging buffer: a later call leaves it alone
    first = ocl.gemm(a, b)
    ocl.gemm(b.T.copy(), a.T.copy())
    np.testing.assert_allclose(first, a @ b, rtol=1e-5, atol=1e-4)


def test_gemm_float64_is_exact_reference(ocl):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((5, 7)), rng.standard_normal((7, 3))
    got = ocl.gemm(a, b)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, a @ b)


def test_gemm_bad_shapes(ocl):
    with pytest.raises(SparknnError, match=r"\(3, 4\).*\(5, 2\)"):
        ocl.gemm(np.ones((3, 4), np.float32), np.ones((5, 2), np.float32))
    with pytest.raises(SparknnError, match="accumulate"):
        ocl.gemm(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32), accumulate=True)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (13, 37)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_bias_activation_and_backward(ocl, ref, activation, shape, with_bias):
    rng = np.random.default_rng(shape[1])
    z = f32(rng, *shape, scale=3.0)
    bias = f32(rng, shape[1]) if with_bias else None
    y = ocl.bias_activation(z, bias, activation)
    y_ref = ref.bias_activation(z, bias, activation)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
    grad = f32(rng, *shape)
    np.testing.assert_allclose(
        ocl.activation_backward(grad, y_ref, activation),
        ref.activation_backward(grad, y_ref, activation),
        rtol=1e-5,
        atol=1e-6,
    )


def test_unknown_activation_lists_choices(ocl):
    with pytest.raises(SparknnError, match="swish.*sigmoid"):
        ocl.bias_activation(np.zeros((2, 2), np.float32), None, "swish")


@pytest.mark.parametrize("batch,hidden", [(1, 1), (1, 7), (5, 33)])
def test_lstm_cell_forward_backward(ocl, ref, batch, hidden):
    rng = np.random.default_rng(batch * 100 + hidden)
    z, c_prev = f32(rng, batch, 4 * hidden, scale=2.0), f32(rng, batch, hidden)
    got = ocl.lstm_cell_forward(z, c_prev)
    want = ref.lstm_cell_forward(z, c_prev)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    _, c, gates = want
    dh, dc = f32(rng, batch, hidden), f32(rng, batch, hidden)
    got = ocl.lstm_cell_backward(dh, dc, c_prev, c, gates)
    want = ref.lstm_cell_backward(dh, dc, c_prev, c, gates)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch,classes", [(1, 1), (1, 65), (17, 300)])
def test_softmax_cross_entropy(ocl, ref, batch, classes):
    rng = np.random.default_rng(classes)
    logits = f32(rng, batch, classes, scale=4.0)
    logits[0, 0] = 80.0  # large logit: the fused path must not overflow
    labels = rng.integers(0, classes, batch)
    losses, dlogits = ocl.softmax_cross_entropy(logits, labels)
    want_losses, want_dlogits = ref.softmax_cross_entropy(logits, labels)
    assert np.isfinite(losses).all()
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dlogits, want_dlogits, rtol=1e-5, atol=1e-6)


def test_softmax_cross_entropy_rejects_bad_labels(ocl):
    with pytest.raises(SparknnError, match="labels"):
        ocl.softmax_cross_entropy(np.zeros((2, 3), np.float32), np.array([0, 3]))


def _disjoint_pairs(rng, vocab, pairs, negative):
    """Pairs where no two share an input row or an output/negative row (so Hogwild chunks and
    numpy's minibatches both equal the sequential definition)."""
    inputs = rng.permutation(vocab)[:pairs]
    targets = rng.permutation(vocab)[: pairs * (1 + negative)].reshape(pairs, 1 + negative)
    outputs, negatives = targets[:, 0].copy(), targets[:, 1:].copy()
    negatives[::3, 0] = outputs[::3]  # a negative equal to the target is skipped (word2vec.c)
    return inputs.astype(np.int32), outputs.astype(np.int32), negatives.astype(np.int32)


@pytest.mark.parametrize("dim", [1, 10, 100])
def test_sgns_update_matches_numpy_on_disjoint_pairs(ocl, ref, dim):
    rng = np.random.default_rng(dim)
    vocab, pairs, negative = 800, 97, 5
    syn0 = f32(rng, vocab, dim, scale=0.3)
    syn1neg = f32(rng, vocab, dim, scale=0.3)
    inputs, outputs, negatives = _disjoint_pairs(rng, vocab, pairs, negative)
    alphas = rng.uniform(0.01, 0.05, pairs).astype(np.float32)

    # independent loss: from the scores before the update, skipping negatives == target
    scores_pos = np.einsum("pd,pd->p", syn0[inputs], syn1neg[outputs]).astype(np.float64)
    scores_neg = np.einsum("pd,pkd->pk", syn0[inputs], syn1neg[negatives]).astype(np.float64)
    keep = negatives != outputs[:, None]
    want_loss = np.logaddexp(0, -scores_pos).sum() + (np.logaddexp(0, scores_neg) * keep).sum()

    got0, got1 = syn0.copy(), syn1neg.copy()
    want0, want1 = syn0.copy(), syn1neg.copy()
    loss = ocl.sgns_update(got0, got1, inputs, outputs, negatives, alphas)
    ref_loss = ref.sgns_update(want0, want1, inputs, outputs, negatives, alphas)
    assert loss == pytest.approx(want_loss, rel=1e-5)
    assert ref_loss == pytest.approx(want_loss, rel=1e-5)
    np.testing.assert_allclose(got0, want0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got1, want1, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got0, syn0)  # it did update in place


def test_sgns_repeated_calls_reuse_arrays_in_place(ocl, ref):
    """Repeated calls on the same matrices (the word2vec loop) keep updating them, and a new
    array at a new address is not confused with a cached one."""
    rng = np.random.default_rng(7)
    syn0, syn1neg = f32(rng, 600, 16, scale=0.3), f32(rng, 600, 16, scale=0.3)
    want0, want1 = syn0.copy(), syn1neg.copy()
    for step in range(3):
        inputs, outputs, negatives = _disjoint_pairs(np.random.default_rng(step), 600, 50, 4)
        alphas = np.full(50, 0.05, np.float32)
        ocl.sgns_update(syn0, syn1neg, inputs, outputs, negatives, alphas)
        ref.sgns_update(want0, want1, inputs, outputs, negatives, alphas)
    np.testing.assert_allclose(syn0, want0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1neg, want1, rtol=1e-5, atol=1e-6)


def _sequential_sgns(syn0, syn1neg, inputs, outputs, negatives, alphas):
    """The base.py definition, literally: one pair at a time, in order (float64 loss)."""
    loss = 0.0
    for p, i in enumerate(inputs):
        e = np.zeros_like(syn0[i])
        targets = [(outputs[p], 1.0)] + [(n, 0.0) for n in negatives[p] if n != outputs[p]]
        for t, label in targets:
            score = float(syn0[i] @ syn1neg[t])
            loss += np.logaddexp(0, -score if label else score)
            g = np.float32((label - 1 / (1 + np.exp(-score))) * alphas[p])
            e += g * syn1neg[t]
            syn1neg[t] += g * syn0[i]
        syn0[i] += e
    return loss


def test_sgns_single_worker_is_exactly_sequential_on_shared_rows():
    """One work-item = word2vec.c's single-thread order, even when rows repeat."""
    rng = np.random.default_rng(5)
    vocab, dim, pairs = 12, 20, 300
    syn0, syn1neg = f32(rng, vocab, dim, scale=0.5), f32(rng, vocab, dim, scale=0.5)
    inputs = rng.integers(0, vocab, pairs).astype(np.int32)
    outputs = rng.integers(0, vocab, pairs).astype(np.int32)
    negatives = rng.integers(0, vocab, (pairs, 4)).astype(np.int32)  # repeats and == output
    alphas = rng.uniform(0.01, 0.1, pairs).astype(np.float32)
    got0, got1 = syn0.copy(), syn1neg.copy()
    want0, want1 = syn0.copy(), syn1neg.copy()
    loss = OpenCLBackend(sgns_workers=1).sgns_update(got0, got1, inputs, outputs, negatives, alphas)
    want_loss = _sequential_sgns(want0, want1, inputs, outputs, negatives, alphas)
    assert loss == pytest.approx(want_loss, rel=1e-5)
    np.testing.assert_allclose(got0, want0, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got1, want1, rtol=1e-4, atol=1e-5)


def test_sgns_single_worker_is_deterministic():
    rng = np.random.default_rng(6)
    syn0, syn1neg = f32(rng, 10, 8), f32(rng, 10, 8)
    batch = (
        rng.integers(0, 10, 500).astype(np.int32),
        rng.integers(0, 10, 500).astype(np.int32),
        rng.integers(0, 10, (500, 3)).astype(np.int32),
        np.full(500, 0.05, np.float32),
    )
    backend = OpenCLBackend(sgns_workers=1)
    runs = []
    for _ in range(2):
        a, b = syn0.copy(), syn1neg.copy()
        backend.sgns_update(a, b, *batch)
        runs.append((a, b))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_sgns_hogwild_on_shared_rows_decreases_loss(ocl):
    """With heavily shared rows the result is Hogwild, not sequential; training still works.
    (On a GPU only because rows are added to atomically: hundreds of work-items in lockstep
    on 30 rows lost nearly every update before that; sgns.cl.)"""
    rng = np.random.default_rng(3)
    vocab, dim, pairs = 30, 8, 4000
    syn0, syn1neg = f32(rng, vocab, dim, scale=0.1), np.zeros((vocab, dim), np.float32)
    inputs = rng.integers(0, vocab, pairs).astype(np.int32)
    outputs = ((inputs + 1) % vocab).astype(np.int32)  # a learnable rule
    negatives = rng.integers(0, vocab, (pairs, 3)).astype(np.int32)
    alphas = np.full(pairs, 0.05, np.float32)
    first = ocl.sgns_update(syn0, syn1neg, inputs, outputs, negatives, alphas)
    for _ in range(4):
        last = ocl.sgns_update(syn0, syn1neg, inputs, outputs, negatives, alphas)
    assert np.isfinite(syn0).all() and last < 0.7 * first


def test_sgns_keeps_no_reference_to_the_matrices(ocl):
    """word2vec makes fresh matrices every round; the backend must not keep old ones alive."""
    import gc
    import weakref

    rng = np.random.default_rng(8)
    syn0, syn1neg = f32(rng, 50, 8), f32(rng, 50, 8)
    ocl.sgns_update(syn0, syn1neg, [1], [2], [[3]], [0.1])
    alive = weakref.ref(syn0)
    del syn0, syn1neg
    gc.collect()
    assert alive() is None


def test_sgns_rejects_non_float32_matrices(ocl):
    rng = np.random.default_rng(0)
    syn0 = rng.standard_normal((10, 4))  # float64: an in-place float32 update is impossible
    with pytest.raises(SparknnError, match="syn0.*float32"):
        ocl.sgns_update(syn0, syn0.astype(np.float32), [0], [1], [[2]], [0.1])


def test_copy_path_of_devices_with_their_own_memory(ocl, monkeypatch):
    """A GPU computes in its own memory: buffers live there and every input and output is
    copied explicitly. Forced here on PoCL, every kernel must give what the zero-copy path
    gives (the same kernels on the same device: exactly)."""
    monkeypatch.setattr(opencl_backend._DeviceState, "_probe_zero_copy", lambda self: False)
    copying = OpenCLBackend(sgns_workers=1)
    assert not copying._dev().zero_copy
    rng = np.random.default_rng(11)
    a, b = f32(rng, 65, 129), f32(rng, 129, 33)
    z, c_prev, dh = f32(rng, 5, 4 * 33), f32(rng, 5, 33), f32(rng, 5, 33)
    logits, labels = f32(rng, 17, 300), rng.integers(0, 300, 17)
    c, gates = ocl.lstm_cell_forward(z, c_prev)[1:]
    calls = [
        lambda be: [be.gemm(a, b), be.gemm(b, a, trans_a=True, trans_b=True)],
        lambda be: [be.bias_activation(a, a[0], "tanh"), be.bias_activation(a, None, "softmax")],
        lambda be: [be.activation_backward(a, np.tanh(a), "tanh")],
        lambda be: [
            *be.lstm_cell_forward(z, c_prev),
            *be.lstm_cell_backward(dh, dh, c_prev, c, gates),
        ],
        lambda be: [*be.softmax_cross_entropy(logits, labels)],
    ]
    for call in calls:
        for got, want in zip(call(copying), call(ocl), strict=True):
            np.testing.assert_array_equal(got, want)
    syn0, syn1neg = f32(rng, 40, 16, scale=0.1), f32(rng, 40, 16, scale=0.1)
    matrices = [(syn0, syn1neg), (syn0.copy(), syn1neg.copy())]
    pairs = (rng.integers(0, 40, 500), rng.integers(0, 40, 500), rng.integers(0, 40, (500, 3)))
    losses = [
        be.sgns_update(*m, *pairs, np.full(500, 0.05, np.float32))
        for be, m in zip((copying, OpenCLBackend(sgns_workers=1)), matrices, strict=True)
    ]  # fmt: skip
    assert losses[0] == losses[1]
    np.testing.assert_array_equal(matrices[0][0], matrices[1][0])
    np.testing.assert_array_equal(matrices[0][1], matrices[1][1])
    # Document vectors: the numpy reference there (the kernel reads host memory in place).
    table, lengths = np.concatenate([syn0, np.zeros((1, 16), np.float32)]), np.array([3, 0, 5])
    ids = rng.integers(0, 41, lengths.sum())
    np.testing.assert_allclose(
        copying.document_means(table, ids, lengths),
        ocl.document_means(table, ids, lengths),
        rtol=1e-12,
    )


def test_document_means_are_mllibs_sequential_sums_bit_for_bit(ocl, ref):
    """MLlib adds a document's word vectors as doubles in token order, then multiplies by
    1 / length: the kernel gives exactly that; the numpy reference the same to 1e-12."""
    rng = np.random.default_rng(12)
    table = np.concatenate([f32(rng, 50, 37), np.zeros((1, 37), np.float32)])
    lengths = rng.integers(0, 25, 300)
    lengths[:3] = [0, 1, 0]
    ids = rng.integers(0, 51, lengths.sum())  # 50: the zero row (unknown words)
    want = np.zeros((len(lengths), 37))
    for row, (start, length) in enumerate(zip(np.cumsum(lengths) - lengths, lengths, strict=True)):
        for token in ids[start : start + length]:
            want[row] += table[token].astype(np.float64)
        want[row] *= 1.0 / max(length, 1)
    np.testing.assert_array_equal(ocl.document_means(table, ids, lengths), want)
    np.testing.assert_allclose(ref.document_means(table, ids, lengths), want, rtol=1e-12)
    # Where the kernel would read past the table, or cannot read it, the reference runs.
    with pytest.raises(IndexError):
        ocl.document_means(table, np.where(np.arange(len(ids)) == 7, 51, ids), lengths)
    as_doubles = table.astype(np.float64)
    np.testing.assert_allclose(ocl.document_means(as_doubles, ids, lengths), want, rtol=1e-12)
