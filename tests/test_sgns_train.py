"""The fused word2vec kernel (``sgns_train``) against a literal Python reference of
``SGNSKernels.sgns_train``'s definition, plus checks of what the definition implies: pair counts,
subsampling and window statistics, the negative distribution, seeds and the Hogwild split.
"""

import dataclasses

import numpy as np
import pytest

from sparknn.backend import opencl_backend
from sparknn.backend.base import Backend
from sparknn.backend.numpy_backend import NumpyBackend
from sparknn.backend.opencl_backend import CPUAutoBackend, OpenCLBackend
from sparknn.backend.sgns import SGNSRun
from sparknn.errors import SparknnError

MASK = (1 << 64) - 1


@pytest.fixture(scope="module")
def ocl():
    return OpenCLBackend()


class SplitMix64:
    def __init__(self, state):
        self.state = state & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def reference_sgns_train(syn0, syn1neg, tokens, starts, run, counts0, counts1):
    """sgns.py's definition, literally: work-items one after another, a pair at a time."""
    keep_prob, table, window, negative = run.keep_prob, run.negative_table, run.window, run.negative
    alpha_start, alpha_end, seed, workers = run.alpha_start, run.alpha_end, run.seed, run.workers
    shared_negatives = run.shared_negatives
    n = len(tokens)
    ends = [*starts[1:], n]
    loss, pairs = 0.0, 0
    for w in range(workers):
        rng = SplitMix64(seed ^ ((w * 0xD1B54A32D192ED03) & MASK))
        for a, b in zip(starts, ends, strict=True):
            if int(a) * workers // n != w:
                continue
            kept = []  # (word, position in tokens)
            for i in range(a, b):
                word = int(tokens[i])
                if keep_prob[word] < 1 and (rng.next() >> 40) * 2.0**-24 >= keep_prob[word]:
                    continue
                kept.append((word, i))
            for c, (centre, position) in enumerate(kept):
                reach = 1 + (rng.next() >> 32) % window
                alpha = np.float32(alpha_start + (alpha_end - alpha_start) * position / n)
                if shared_negatives:
                    negatives = [table[(rng.next() >> 16) % len(table)] for _ in range(negative)]
                for j in [*range(c - reach, c), *range(c + 1, c + reach + 1)]:
                    if not 0 <= j < len(kept):
                        continue
                    if not shared_negatives:
                        negatives = [
                            table[(rng.next() >> 16) % len(table)] for _ in range(negative)
                        ]
                    loss += _train_pair(syn0, syn1neg, kept[j][0], centre, negatives, alpha,
                                        counts0, counts1)  # fmt: skip
                    pairs += 1
    return loss, pairs


def _train_pair(syn0, syn1neg, i, output, negatives, alpha, counts0, counts1):
    """sgns.py's sgns_update for one pair (float32 vectors, float64 loss)."""
    loss, e = 0.0, np.zeros_like(syn0[i])
    for t, label in [(output, 1.0)] + [(t, 0.0) for t in negatives if t != output]:
        score = float(syn0[i].astype(np.float64) @ syn1neg[t].astype(np.float64))
        loss += np.logaddexp(0, -score if label else score)
        g = np.float32((label - 1 / (1 + np.exp(-score))) * alpha)
        e += g * syn1neg[t]
        syn1neg[t] += g * syn0[i]
        counts1[t] += 1
    syn0[i] += e
    counts0[i] += 1
    return loss


def make_corpus(rng, vocab=30, lengths=(1, 7, 1, 40, 2, 90, 1, 3, 60, 95)):
    tokens = rng.integers(0, vocab, sum(lengths)).astype(np.int32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return tokens, starts


def make_case(seed, vocab=30, dim=8, table_size=1000):
    rng = np.random.default_rng(seed)
    tokens, starts = make_corpus(rng, vocab)
    keep = np.ones(vocab, np.float32)
    keep[:10] = rng.uniform(0.2, 0.9, 10)  # some subsampled, the rest always kept
    table = rng.integers(0, vocab, table_size).astype(np.int32)
    syn0 = (rng.standard_normal((vocab, dim)) * 0.3).astype(np.float32)
    syn1neg = (rng.standard_normal((vocab, dim)) * 0.3).astype(np.float32)  # not zeros
    return syn0, syn1neg, tokens, starts, keep, table


def run(
    backend, case, window=3, negative=4, alphas=(0.05, 0.01), seed=12345, workers=1,
    shared=False,
):  # fmt: skip
    syn0, syn1neg, tokens, starts, keep, table = case
    syn0, syn1neg = syn0.copy(), syn1neg.copy()
    counts0 = np.zeros(len(syn0), np.int32)
    counts1 = np.zeros(len(syn0), np.int32)
    train = reference_sgns_train if backend is None else backend.sgns_train
    settings = SGNSRun(keep, table, window, negative, *alphas, seed, workers, shared)
    loss, pairs = train(syn0, syn1neg, tokens, starts, settings, counts0, counts1)
    return loss, pairs, syn0, syn1neg, counts0, counts1


def assert_equals_reference(got, want):
    """``run``'s results of a kernel and of the reference: the same pairs and counts, and
    losses and matrices equal up to float rounding."""
    assert got[1] == want[1] > 100  # pairs
    np.testing.assert_array_equal(got[4], want[4])  # counts0
    np.testing.assert_array_equal(got[5], want[5])  # counts1
    assert got[0] == pytest.approx(want[0], rel=1e-4)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[3], want[3], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "dim,window,negative,table_size,seed,shared",
    [
        (8, 3, 4, 1000, 12345, False),
        (16, 5, 5, 1000, 2**64 - 1, False),
        (8, 1, 2, 5_000_011, 7, False),  # a table past 2**22: the slot arithmetic
        (1, 2, 3, 997, 0, False),  # DIM tails: scalar only; float8 + float4 + scalar; 100
        (13, 4, 1, 1000, 3, False),
        (100, 5, 5, 1000, 4, False),
        (8, 3, 4, 1000, 12345, True),  # shared negatives: drawn per centre
        (100, 5, 5, 1000, 4, True),
        (13, 1, 2, 5_000_011, 7, True),
    ],
)
def test_single_worker_equals_reference(ocl, dim, window, negative, table_size, seed, shared):
    case = make_case(dim + window, dim=dim, table_size=table_size)
    got = run(ocl, case, window, negative, seed=seed, shared=shared)
    want = run(None, case, window, negative, seed=seed, shared=shared)
    assert_equals_reference(got, want)
    assert not np.allclose(got[2], case[0]) and not np.allclose(got[3], case[1])


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("distinct", [True, False])
def test_both_pair_paths_equal_reference(ocl, distinct, shared):
    """A pair with distinct targets trains them together (sgns_pair), any other pair target
    by target. One negative from words that are never outputs: every pair's targets are
    distinct. Five negatives from a table of three words: every pair repeats a row."""
    syn0, syn1neg, tokens, starts, keep, _ = make_case(21, vocab=40, dim=100)
    tokens = tokens % 30  # words 30-39 are never an output
    if distinct:
        table, negative = np.arange(30, 40, dtype=np.int32), 1
    else:
        table, negative = np.array([30, 31, 32], np.int32), 5
    case = (syn0, syn1neg, tokens, starts, keep, table)
    got = run(ocl, case, negative=negative, shared=shared)
    want = run(None, case, negative=negative, shared=shared)
    assert_equals_reference(got, want)


@pytest.mark.parametrize("shared", [False, True])
def test_training_without_counts_is_the_same_training(ocl, shared):
    """counts0 = counts1 = None (hogwild) compiles the counting out and changes nothing
    else: the same pairs, loss and vectors, bit for bit. Both runs have one work-item, as
    ``run``'s default: a GPU's default splits the sentences otherwise, and races."""
    case = make_case(3)
    counted = run(ocl, case, shared=shared)
    syn0, syn1neg, tokens, starts, keep, table = case
    syn0, syn1neg = syn0.copy(), syn1neg.copy()
    settings = SGNSRun(keep, table, 3, 4, 0.05, 0.01, 12345, 1, shared_negatives=shared)
    loss, pairs = ocl.sgns_train(syn0, syn1neg, tokens, starts, settings)
    assert (loss, pairs) == counted[:2] and pairs > 100
    np.testing.assert_array_equal(syn0, counted[2])
    np.testing.assert_array_equal(syn1neg, counted[3])
    with pytest.raises(SparknnError, match="both be arrays or both None"):
        ocl.sgns_train(syn0, syn1neg, tokens, starts, settings, counted[4], None)


def test_counts_are_added_to_and_matrices_updated_in_place(ocl):
    syn0, syn1neg, tokens, starts, keep, table = make_case(3)
    counts0, counts1 = np.full(30, 5, np.int32), np.full(30, 7, np.int32)
    before0, before1 = syn0.copy(), syn1neg.copy()
    settings = SGNSRun(keep, table, 2, 3, 0.05, 0.05, 1)
    _, pairs = ocl.sgns_train(syn0, syn1neg, tokens, starts, settings, counts0, counts1)
    assert counts0.sum() == 5 * 30 + pairs
    assert counts1.sum() > 7 * 30 + pairs
    assert not np.allclose(syn0, before0) and not np.allclose(syn1neg, before1)


def test_window_one_without_subsampling_pairs_every_neighbour(ocl):
    """b is always 1: every adjacent pair in a sentence, both ways, nothing random but the
    negatives. A table of words absent from the text makes counts1 split exactly."""
    rng = np.random.default_rng(4)
    tokens, starts = make_corpus(rng, vocab=20)
    lengths = np.diff([*starts, len(tokens)])
    want0 = np.zeros(30, np.int64)
    for a, length in zip(starts, lengths, strict=True):
        for i in range(a, a + length):  # neighbours of position i inside its sentence
            want0[tokens[i]] += int(i > a) + int(i < a + length - 1)
    syn0, syn1neg = (rng.standard_normal((2, 30, 8)) * 0.1).astype(np.float32)
    table = np.arange(20, 30, dtype=np.int32)  # negatives never equal an output
    counts0, counts1 = np.zeros(30, np.int32), np.zeros(30, np.int32)
    settings = SGNSRun(np.ones(30, np.float32), table, 1, 3, 0.025, 0.025, 99)
    loss, pairs = ocl.sgns_train(syn0, syn1neg, tokens, starts, settings, counts0, counts1)
    assert pairs == 2 * np.maximum(lengths - 1, 0).sum()
    np.testing.assert_array_equal(counts0, want0)
    np.testing.assert_array_equal(counts1[:20], want0[:20])  # as centres: same neighbours
    assert counts1[20:].sum() == 3 * pairs
    assert np.isfinite(loss) and loss > 0


def test_one_slot_table_makes_every_negative_that_word(ocl):
    syn0, syn1neg, tokens, starts, keep, _ = make_case(12)
    tokens = tokens % 29  # word 29 is never an output
    got = run(ocl, (syn0, syn1neg, tokens, starts, keep, np.array([29], np.int32)), negative=3)
    assert got[1] > 0 and got[5][29] == 3 * got[1]


def test_dropped_word_never_trains_but_can_be_a_negative(ocl):
    syn0, syn1neg, tokens, starts, keep, table = make_case(5)
    keep[[3, 11]] = 0.0  # one otherwise subsampled word, one otherwise always kept
    table[table == 3] = 4  # 3 is never a negative either
    table[::10] = 11
    assert np.isin([3, 11], tokens).all()
    _, pairs, _, _, counts0, counts1 = run(ocl, (syn0, syn1neg, tokens, starts, keep, table))
    assert pairs > 0
    assert counts0[3] == counts0[11] == 0 and counts1[3] == 0
    assert counts1[11] > 0  # drawn as a negative only


def test_subsampling_window_and_negative_statistics(ocl):
    """One long sentence: the kept fraction, mean window and negative shares match their
    definitions within 5 standard deviations."""
    n, dim = 20_000, 4
    rng = np.random.default_rng(6)
    tokens = rng.integers(0, 10, n).astype(np.int32)
    starts = np.zeros(1, np.int64)
    table = np.repeat(np.array([10, 11, 12], np.int32), [500, 300, 200])
    syn0, syn1neg = np.zeros((2, 13, dim), np.float32)

    def train(keep, window):
        counts0, counts1 = np.zeros(13, np.int32), np.zeros(13, np.int32)
        settings = SGNSRun(keep, table, window, 2, 0.0, 0.0, 3)
        _, pairs = ocl.sgns_train(syn0.copy(), syn1neg.copy(), tokens, starts, settings,
                                  counts0, counts1)  # fmt: skip
        return pairs, counts1

    # window 1, keep 0.5: pairs = 2 (kept - 1), kept ~ Binomial(n, 0.5)
    pairs, counts1 = train(np.full(13, 0.5, np.float32), 1)
    assert abs((pairs / 2 + 1) - n / 2) < 5 * np.sqrt(n) / 2
    shares = counts1[10:] / counts1[10:].sum()
    draws = 2 * pairs
    assert counts1[10:].sum() == draws
    sd = np.sqrt(np.array([0.5, 0.3, 0.2]) * np.array([0.5, 0.7, 0.8]) / draws)
    assert (np.abs(shares - [0.5, 0.3, 0.2]) < 5 * sd).all()

    # keep 1, window 5: b ~ U{1..5} per centre, clipped at the sentence ends
    pairs, _ = train(np.ones(13, np.float32), 5)
    c = np.arange(n)[:, None]
    b = np.arange(1, 6)[None, :]
    expected = (np.minimum(b, c) + np.minimum(b, n - 1 - c)).mean(axis=1).sum()
    assert abs(pairs - expected) < 5 * np.sqrt(8 * n)  # var(2b) = 8


def test_same_seed_same_result_other_seed_differs(ocl):
    case = make_case(8)
    first, again, other = run(ocl, case, seed=5), run(ocl, case, seed=5), run(ocl, case, seed=6)
    assert first[:2] == again[:2]
    for x, y in zip(first[2:], again[2:], strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(first[4], other[4]) or first[1] != other[1]
    assert not np.allclose(first[2], other[2])


@pytest.mark.parametrize("workers,shared", [(2, False), (4, False), (13, False), (4, True)])
def test_workers_split_sentences_and_draw_deterministically(ocl, workers, shared):
    """The draws never depend on the vectors, so even Hogwild work-items give exactly the
    reference's pairs and counts; 13 work-items for 10 sentences leaves some groups empty."""
    case = make_case(9)
    got = run(ocl, case, workers=workers, shared=shared)
    want = run(None, case, workers=workers, shared=shared)
    assert got[1] == want[1]
    np.testing.assert_array_equal(got[4], want[4])
    np.testing.assert_array_equal(got[5], want[5])
    assert np.isfinite(got[2]).all() and np.isfinite(got[3]).all() and np.isfinite(got[0])
    assert not np.allclose(got[2], case[0]) and not np.allclose(got[3], case[1])
    assert not np.array_equal(got[4], run(None, case, shared=shared)[4])  # not one stream


@pytest.mark.parametrize("gpu", [False, True])
def test_default_workers_follow_the_device_type(monkeypatch, gpu):
    """``workers=None``: one work-item on a CPU device, 4 per compute unit on a GPU. The draws
    depend only on how the sentences are split, so the counts show which split ran. As a
    "GPU" the kernels are built as for one (no prefetching), here on PoCL."""
    if not gpu and opencl_backend.is_gpu(OpenCLBackend()._dev().device):
        pytest.skip("a GPU compiles no CPU build (__builtin_prefetch on __global pointers)")
    monkeypatch.setattr(opencl_backend, "is_gpu", lambda device: gpu)
    backend = OpenCLBackend()  # a fresh context: kernels built for this device type
    units = backend._dev().device.max_compute_units
    workers = units * opencl_backend.SGNS_WORKERS_PER_UNIT if gpu else 1
    case = make_case(9)
    got = run(backend, case, workers=None)
    want = run(None, case, workers=workers)
    assert got[1] == want[1]
    np.testing.assert_array_equal(got[4], want[4])
    np.testing.assert_array_equal(got[5], want[5])
    if gpu:
        assert not np.array_equal(got[4], run(None, case, workers=1)[4])


def test_gpu_build_of_the_kernels_equals_reference(monkeypatch):
    """What a GPU compiles (NVIDIA's compiler rejects __builtin_prefetch on a __global
    pointer, so GPU builds do not prefetch) computes the definition, one work-item, on PoCL."""
    monkeypatch.setattr(opencl_backend, "is_gpu", lambda device: True)
    case = make_case(31, dim=100)
    got = run(OpenCLBackend(), case)
    want = run(None, case)
    assert_equals_reference(got, want)


def test_gpu_atomic_row_updates_equal_reference(monkeypatch):
    """Several work-items on a GPU add to rows atomically (sgns.cl). With one sentence, all
    in the first work-item's group, that path must compute the definition: both pair paths
    (a 30-word table repeats rows), on PoCL's compare-and-swap loop."""
    monkeypatch.setattr(opencl_backend, "is_gpu", lambda device: True)
    syn0, syn1neg, tokens, _, keep, table = make_case(17, dim=100)
    case = (syn0, syn1neg, tokens, np.zeros(1, np.int64), keep, table)
    got = run(OpenCLBackend(), case, workers=2)
    want = run(None, case, workers=2)
    assert_equals_reference(got, want)


@pytest.mark.parametrize("workers", [1, 3])
def test_copy_path_of_devices_with_their_own_memory(monkeypatch, workers):
    """A GPU computes in its own memory: the matrices, counts and tables are copied in and
    out explicitly. Forced here on PoCL, that path must compute the definition too."""
    monkeypatch.setattr(opencl_backend._DeviceState, "_probe_zero_copy", lambda self: False)
    backend = OpenCLBackend()
    assert not backend._dev().zero_copy
    for case in (make_case(5), make_case(6, table_size=997)):
        got, want = run(backend, case, workers=workers), run(None, case, workers=workers)
        if workers == 1:
            assert_equals_reference(got, want)
        else:  # several work-items race on shared rows (Hogwild): the draws still agree
            assert got[1] == want[1] > 100
            np.testing.assert_array_equal(got[4], want[4])
            np.testing.assert_array_equal(got[5], want[5])


def test_empty_tokens_touch_nothing(ocl):
    syn0, syn1neg = np.ones((2, 5, 4), np.float32)
    counts0, counts1 = np.zeros(5, np.int32), np.zeros(5, np.int32)
    settings = SGNSRun(np.ones(5, np.float32), np.arange(5, dtype=np.int32), 5, 5, 0.025, 0.0, 1)
    got = ocl.sgns_train(syn0, syn1neg, np.zeros(0, np.int32), np.zeros(0, np.int64), settings,
                         counts0, counts1)  # fmt: skip
    assert got == (0.0, 0)
    assert (syn0 == 1).all() and (syn1neg == 1).all() and not counts0.any() and not counts1.any()


def test_cpu_auto_backend_delegates():
    case = make_case(10)
    assert CPUAutoBackend.fused_sgns and OpenCLBackend.fused_sgns
    got = run(CPUAutoBackend(), case)
    want = run(OpenCLBackend(), case)
    assert got[:2] == want[:2]
    np.testing.assert_array_equal(got[2], want[2])


def test_other_backends_have_no_fused_kernel():
    assert Backend.fused_sgns is False and NumpyBackend.fused_sgns is False
    syn0, syn1neg, tokens, starts, keep, table = make_case(0)
    with pytest.raises(NotImplementedError):
        NumpyBackend().sgns_train(syn0, syn1neg, tokens, starts,
                                  SGNSRun(keep, table, 5, 5, 0.025, 0.0, 1),
                                  np.zeros(30, np.int32), np.zeros(30, np.int32))  # fmt: skip


def _bad(**change):
    """sgns_train's arguments for a valid call, then ``change``d: (args, keywords)."""
    syn0, syn1neg, tokens, starts, keep, table = make_case(11)
    settings = SGNSRun(keep, table, 5, 5, 0.025, 0.0, 1, workers=1)
    fields = {f.name for f in dataclasses.fields(SGNSRun)}
    settings = dataclasses.replace(settings, **{k: v for k, v in change.items() if k in fields})
    args = dict(
        syn0=syn0, syn1neg=syn1neg, tokens=tokens, sentence_starts=starts, run=settings,
        counts0=np.zeros(30, np.int32), counts1=np.zeros(30, np.int32),
    )  # fmt: skip
    args.update({k: v for k, v in change.items() if k not in fields})
    return args


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(syn0=np.zeros((30, 8))), "syn0 must be a 2-D float32"),
        (dict(syn1neg=np.zeros((8, 30), np.float32).T), "syn1neg must be C-contiguous"),
        (dict(syn1neg=np.zeros((31, 8), np.float32)), "differ"),
        (dict(counts0=np.zeros(30, np.int64)), "counts0 must be an int32"),
        (dict(counts1=np.zeros(29, np.int32)), r"counts1 must be an int32 array of shape \(30,\)"),
        (dict(counts1=np.zeros(60, np.int32)[::2]), "counts1 must be C-contiguous"),
        (dict(window=0), r"window must be in \[1"),
        (dict(negative=0), r"negative must be in \[1"),
        (dict(workers=0), r"workers must be in \[1"),
        (dict(workers=2.0), "workers must be an int"),
        (dict(seed=-1), "seed must be in"),
        (dict(seed=2**64), "seed must be in"),
        (dict(tokens=np.array([0, 30], np.int32)), r"word ids in \[0, 30\)"),
        (dict(sentence_starts=np.array([1, 5])), "sentence_starts must be sorted"),
        (dict(sentence_starts=np.array([0, 9, 5])), "sentence_starts must be sorted"),
        (dict(sentence_starts=np.zeros(0, np.int64)), "sentence_starts must be sorted"),
        (dict(keep_prob=np.ones(29, np.float32)), "keep_prob has shape"),
        (dict(negative_table=np.zeros(0, np.int32)), "negative_table must be a non-empty"),
    ],
)
def test_bad_inputs_raise(ocl, change, message):
    with pytest.raises(SparknnError, match=message):
        ocl.sgns_train(**_bad(**change))
