"""word2vec data path: tokenizer, vocabulary, subsampling, dynamic window, negatives."""

from collections import Counter

import numpy as np
import pytest

from sparknn.backend.sgns import _scatter_add
from sparknn.errors import SparknnError
from sparknn.word2vec.pairs import (
    centre_negatives,
    chunk_bounds,
    draw_negatives,
    skipgram_pairs,
    subsample,
)
from sparknn.word2vec.tokenize import get_tokenizer
from sparknn.word2vec.vocab import build_vocabulary, negative_table


def test_tokenizers():
    assert get_tokenizer("whitespace")("The  cat\tsat, Down") == ["the", "cat", "sat,", "down"]
    assert get_tokenizer("whitespace", lowercase=False)("A b") == ["A", "b"]
    assert get_tokenizer("unicode")("Don't stop—Café, well-known!") == [
        "don't",
        "stop",
        "café",
        "well-known",
    ]
    with pytest.raises(SparknnError, match="whitespace, unicode"):
        get_tokenizer("bpe")


# Lines where Arrow's ASCII split and Python's str.split could part: every ASCII whitespace
# (\x1c-\x1f are whitespace to Python only), non-ASCII whitespace (\xa0, \u2028, \u3000),
# letters whose lowercase Python knows and Arrow's ASCII functions do not, leading and
# trailing whitespace, empty lines and nulls.
TRICKY_LINES = [
    "", " ", "\t\n\x0b\x0c\r ", "The  cat\tsat,\x0bDown\x0cUP\rend\n", "  lead and trail  ",
    "a\x1cb\x1dc\x1ed\x1fe", "a\xa0b", "É  Ünïcode\u3000SPLIT\u2028too", "İstanbul ß ǅ",
    "nul\x00inside", "\ufffd replacement", None, "x" * 300, "ONE",
]  # fmt: skip


@pytest.mark.parametrize("name", ["whitespace", "unicode"])
@pytest.mark.parametrize("lowercase", [True, False])
def test_tokenizer_arrays_give_each_lines_tokens(name, lowercase):
    """Arrow arrays of lines (all ASCII: split in Arrow; mixed; none) tokenize exactly as
    the tokenizer called on each line (a null: an empty line)."""
    import pyarrow as pa

    tokenizer = get_tokenizer(name, lowercase)
    rng = np.random.default_rng(4)
    alphabet = [chr(c) for c in range(128)] + ["\xa0", "é", "É", "İ", "\u3000", "\u2028"]
    drawn = ["".join(rng.choice(alphabet, rng.integers(0, 25))) for _ in range(400)]
    ascii_only = [line for line in TRICKY_LINES + drawn if line is None or line.isascii()]
    for lines in (TRICKY_LINES, drawn, ascii_only, TRICKY_LINES[6:9], []):
        got = tokenizer.arrays(pa.array(lines, pa.string()))
        assert got.type == pa.list_(pa.string())
        assert got.to_pylist() == [tokenizer(line) if line else [] for line in lines]


def test_vocabulary_order_min_count_and_max_vocab():
    counts = Counter({"b": 5, "a": 5, "c": 9, "rare": 1})
    vocab = build_vocabulary(counts, min_count=2)
    assert vocab.words == ["c", "a", "b"]  # by count, ties alphabetical
    assert vocab.total_words == 19 and vocab.corpus_words == 20
    assert build_vocabulary(counts, min_count=1, max_vocab=2).words == ["c", "a"]
    with pytest.raises(SparknnError, match="vocabulary is empty.*min_count=10"):
        build_vocabulary(counts, min_count=10)
    with pytest.raises(SparknnError, match="corpus is empty"):
        build_vocabulary(Counter(), min_count=1)


def test_keep_probabilities_match_word2vec_formula():
    vocab = build_vocabulary(Counter({"the": 9000, "cat": 900, "sat": 100}), min_count=1)
    sample = 1e-2
    t = sample * 10_000
    expected = [min(1.0, (np.sqrt(c / t) + 1) * t / c) for c in (9000, 900, 100)]
    np.testing.assert_allclose(vocab.keep_probabilities(sample), expected, rtol=1e-6)
    assert vocab.keep_probabilities(0).tolist() == [1.0, 1.0, 1.0]

    rng = np.random.default_rng(0)
    tokens = np.repeat(np.arange(3, dtype=np.int32), 20_000)
    kept, _ = subsample(tokens, np.zeros_like(tokens), vocab.keep_probabilities(sample), rng)
    rates = np.bincount(kept, minlength=3) / 20_000
    np.testing.assert_allclose(rates, expected, atol=0.015)


def naive_pairs(tokens, sentence_ids, reduced):
    """word2vec.c's loop, written out: centre i pairs with i-b..i+b in its sentence."""
    inputs, outputs = [], []
    for i, b in enumerate(reduced):
        for offset in [*range(-b, 0), *range(1, b + 1)]:
            j = i + offset
            if 0 <= j < len(tokens) and sentence_ids[j] == sentence_ids[i]:
                inputs.append(tokens[j])
                outputs.append(tokens[i])
    return inputs, outputs


def test_pairs_equal_the_per_word_definition():
    tokens = np.arange(40, dtype=np.int32) * 3
    sentence_ids = np.repeat([0, 1, 2, 3], [7, 1, 20, 12])
    window = 4
    inputs, outputs, centres = skipgram_pairs(
        tokens, sentence_ids, window, np.random.default_rng(5)
    )
    reduced = np.random.default_rng(5).integers(1, window + 1, size=len(tokens))
    expected_in, expected_out = naive_pairs(tokens, sentence_ids, reduced)
    assert inputs.tolist() == expected_in
    assert outputs.tolist() == expected_out
    assert (tokens[centres] == outputs).all() and (np.diff(centres) >= 0).all()


def test_shared_negatives_are_one_draw_per_centre():
    """Every pair of a centre gets the centre's negatives; centres draw independently, from
    the table's distribution."""
    n, window = 20_000, 3
    tokens = np.arange(n, dtype=np.int32) % 50
    rng = np.random.default_rng(8)
    inputs, outputs, centres = skipgram_pairs(tokens, np.zeros(n, np.int64), window, rng)
    table = np.repeat(np.arange(4, dtype=np.int32), [40, 30, 20, 10])
    negatives = centre_negatives(table, centres, n, 5, rng)
    assert negatives.shape == (len(inputs), 5)
    first = np.flatnonzero(np.diff(centres, prepend=-1))  # each centre's first pair
    owner = np.repeat(first, np.diff([*first, len(centres)]))
    np.testing.assert_array_equal(negatives, negatives[owner])  # shared within a centre
    same_as_previous = (negatives[first[1:]] == negatives[first[:-1]]).all(axis=1)
    assert same_as_previous.mean() < 0.02  # centres draw apart (by chance: 0.3**5 = 0.0024)
    shares = np.bincount(negatives.ravel(), minlength=4) / negatives.size
    np.testing.assert_allclose(shares, [0.4, 0.3, 0.2, 0.1], atol=0.01)


def test_dynamic_window_distance_distribution():
    # P(pair at distance d) ~ P(b >= d) = (W - d + 1) / W for b uniform on 1..W.
    n, window = 50_000, 5
    tokens = np.arange(n, dtype=np.int32)
    inputs, outputs, _ = skipgram_pairs(
        tokens, np.zeros(n, np.int64), window, np.random.default_rng(1)
    )
    distances = np.abs(inputs.astype(np.int64) - outputs)
    assert distances.min() == 1 and distances.max() == window
    per_distance = np.bincount(distances, minlength=window + 1)[1:] / (2 * n)
    expected = (window - np.arange(1, window + 1) + 1) / window
    np.testing.assert_allclose(per_distance, expected, atol=0.01)


def test_negatives_follow_unigram_to_the_075():
    counts = np.array([1000, 300, 50, 5, 1])
    table = negative_table(counts, size=100_000)
    expected = counts**0.75 / (counts**0.75).sum()
    np.testing.assert_allclose(np.bincount(table, minlength=5) / len(table), expected, atol=2e-5)
    negatives = draw_negatives(table, 40_000, 5, np.random.default_rng(2))
    assert negatives.shape == (40_000, 5) and negatives.dtype == np.int32
    empirical = np.bincount(negatives.ravel(), minlength=5) / negatives.size
    np.testing.assert_allclose(empirical, expected, atol=0.005)


def test_chunks_cut_at_sentence_starts():
    starts = np.array([0, 3, 10, 11, 30])
    assert chunk_bounds(starts, 35, 10) == [0, 10, 11, 30, 35]
    assert chunk_bounds(starts, 35, 100) == [0, 35]
    assert chunk_bounds(np.array([0]), 25, 10) == [0, 25]  # one long sentence stays whole


def test_scatter_add_matches_numpy_add_at():
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 7, size=50)
    updates = rng.normal(size=(50, 4)).astype(np.float32)
    expected = np.zeros((7, 4), np.float32)
    np.add.at(expected, rows, updates)
    got = np.zeros((7, 4), np.float32)
    _scatter_add(got, rows, updates)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
