"""Skip-gram training pairs from encoded tokens: subsampling, dynamic window, negatives.

Everything is vectorised over a chunk of tokens (no per-word Python loop) and drawn from a
``numpy.random.Generator``, so a seed fixes the pairs exactly. The definitions follow
word2vec.c and gensim:

* **subsampling**: each occurrence of word w is kept with probability ``keep_prob[w]``;
  dropped words are removed *before* windows are formed, so windows reach further;
* **dynamic window**: each centre word draws ``b`` uniformly from ``1..window`` and pairs
  with the words at distance ``1..b`` on either side, never crossing a sentence boundary;
* **pair direction**: as in word2vec.c, the *context* word is the input (``syn0`` row) and
  the centre word is the output to predict (``syn1neg`` row);
* **negatives**: ``K`` per pair, drawn from the unigram**0.75 table (see ``vocab``); a
  negative equal to the pair's output is skipped by the update, as word2vec.c does. With
  shared negatives (the job's ``shared_negatives``; see docs/word2vec-design.md) ``K`` are drawn
  per centre and every pair of the centre uses them (:func:`centre_negatives`).

Pairs come out ordered by centre position, then by offset (-b..-1, 1..b), the order in
which word2vec.c visits them.
"""

import numpy as np


def subsample(tokens, sentence_ids, keep_prob, rng):
    """Drop each token with probability ``1 - keep_prob[token]``; returns the kept arrays."""
    keep = rng.random(len(tokens), dtype=np.float32) < keep_prob[tokens]
    return tokens[keep], sentence_ids[keep]


def skipgram_pairs(tokens, sentence_ids, window: int, rng):
    """Return ``(inputs, outputs, centres)``: the (context, centre) pairs of a token chunk
    as int32 word ids, and each pair's centre as its position in ``tokens``.

    ``sentence_ids`` (same length as ``tokens``, non-decreasing) marks sentence membership.
    """
    n = len(tokens)
    if n < 2 or window < 1:
        empty = np.empty(0, dtype=np.int32)
        return empty, empty, np.empty(0, dtype=np.intp)
    reduced = rng.integers(1, window + 1, size=n)  # effective window per centre
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    positions = np.arange(n)[:, None] + offsets[None, :]  # (n, 2W) context positions
    valid = (np.abs(offsets)[None, :] <= reduced[:, None]) & (positions >= 0) & (positions < n)
    clipped = np.clip(positions, 0, n - 1)
    valid &= sentence_ids[clipped] == sentence_ids[:, None]
    centre, slot = np.nonzero(valid)  # row-major: by centre, then by offset
    context = clipped[centre, slot]
    return tokens[context].astype(np.int32), tokens[centre].astype(np.int32), centre


def draw_negatives(table, n_pairs: int, negative: int, rng):
    """``(n_pairs, negative)`` int32 word ids drawn from the negative-sampling table."""
    slots = rng.integers(0, len(table), size=(n_pairs, negative))
    return table[slots]


def centre_negatives(table, centres, n_tokens: int, negative: int, rng):
    """Shared negatives: ``negative`` drawn for each of a chunk's ``n_tokens`` positions, and
    each pair given its centre's (``centres`` from :func:`skipgram_pairs`)."""
    return draw_negatives(table, n_tokens, negative, rng)[centres]


def chunk_bounds(sentence_starts, n_tokens: int, chunk_words: int):
    """Split ``[0, n_tokens)`` into chunks of about ``chunk_words`` at sentence starts.

    A sentence longer than ``chunk_words`` becomes a chunk of its own.
    """
    bounds = [0]
    while bounds[-1] < n_tokens:
        target = bounds[-1] + chunk_words
        if target >= n_tokens:
            bounds.append(n_tokens)
            break
        k = np.searchsorted(sentence_starts, target, side="right") - 1
        cut = int(sentence_starts[k]) if k >= 0 else 0
        if cut <= bounds[-1]:  # the sentence is longer than a chunk: cut at its end
            nxt = np.searchsorted(sentence_starts, target, side="right")
            cut = int(sentence_starts[nxt]) if nxt < len(sentence_starts) else n_tokens
        bounds.append(cut)
    return bounds
