"""Char-LM pieces without Spark: per-shard gradient sums, sampling, save/load."""

import numpy as np
import pytest

from sparknn.charlm.model import CharLMReplica, build_charlm, load_charlm, sample, save_charlm
from sparknn.corpus.chars import CharVocab, WindowShard
from sparknn.errors import SparknnError

TEXT = "the cat sat on the mat. the dog sat on the log. " * 8


@pytest.fixture()
def setup():
    vocab = CharVocab.from_counts({c: 1 for c in TEXT})
    data = vocab.encode(TEXT)
    seq_len, step = 10, 10
    n_windows = (len(data) - seq_len - 1) // step + 1
    cut = n_windows // 2  # two shards overlapping by one window's tail, as build_corpus lays out
    shards = [
        WindowShard(0, cut, 0, data[: (cut - 1) * step + seq_len + 1], seq_len, step),
        WindowShard(cut, n_windows, cut * step, data[cut * step :], seq_len, step),
    ]
    model = build_charlm(len(vocab), hidden=8, embedding_dim=4, seed=1, dtype="float64")
    return vocab, shards, model, n_windows


def test_per_shard_sums_equal_one_batch(setup):
    vocab, shards, model, n_windows = setup
    windows = np.array([0, 3, n_windows // 2, n_windows - 1])
    split = CharLMReplica(model, shards, per_shard=True)
    loss_a, grad_a, n_a = split.gradient(windows)
    grad_a = grad_a.copy()
    whole = CharLMReplica(model, shards, per_shard=False)
    loss_b, grad_b, n_b = whole.gradient(windows)
    assert n_a == n_b == 4
    assert loss_a == pytest.approx(loss_b, rel=1e-12)
    np.testing.assert_allclose(grad_a, grad_b, rtol=1e-10, atol=1e-12)
    loss_e, n_e = split.evaluate(windows)
    assert n_e == 4 and loss_e == pytest.approx(loss_b, rel=1e-10)  # same params, same loss


def test_sampling_is_seeded_and_uses_the_vocabulary(setup, tmp_path):
    vocab, _, model, _ = setup
    one = sample(model, vocab, "the ", 50, 0.5, np.random.default_rng(3))
    two = sample(model, vocab, "the ", 50, 0.5, np.random.default_rng(3))
    assert one == two and len(one) == 50 and set(one) <= set(TEXT)
    with pytest.raises(SparknnError, match="temperature"):
        sample(model, vocab, "the ", 5, 0.0)
    save_charlm(model, vocab, tmp_path)
    loaded, loaded_vocab = load_charlm(tmp_path)
    assert loaded_vocab == vocab
    np.testing.assert_array_equal(loaded.params, model.params)
    assert sample(loaded, vocab, "the ", 50, 0.5, np.random.default_rng(3)) == one
