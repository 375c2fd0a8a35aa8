"""The vocabulary: word counts (from Spark, :mod:`sparknn.word2vec.encoding`) pruned by
min_count/max_vocab, and its derived tables.

Words are ordered by descending count, ties by the word itself, so the same corpus always
gives the same ids. Two tables derive from the counts, both as word2vec.c and gensim define
them:

* keep probabilities for frequent-word subsampling, with ``t = sample * total``:
  ``p_keep(w) = min(1, (sqrt(c_w / t) + 1) * t / c_w)``;
* the negative-sampling distribution ``P(w) ~ c_w ** 0.75``, sampled through a lookup table
  (one uniform integer and one gather per negative).
"""

from dataclasses import dataclass, field

import numpy as np

from sparknn.errors import SparknnError

NEGATIVE_POWER = 0.75


class EmptyVocabulary(SparknnError):
    """Nothing to train on: no token at all (``corpus_words`` 0), or no word occurs
    ``min_count`` times. The message names ``source`` (what the tokens came from) and the
    ``setting`` to lower, as the caller knows them (:meth:`named`)."""

    def __init__(
        self, corpus_words: int, min_count: int, source="the corpus", setting="--min-count"
    ):
        self.corpus_words, self.min_count = corpus_words, min_count
        if corpus_words == 0:
            message = f"{source} is empty: no tokens found"
        else:
            message = (
                f"the vocabulary is empty: no word of {source} occurs at least "
                f"{setting.lstrip('-').replace('-', '_')}={min_count} times in {corpus_words} "
                f"tokens; lower {setting}"
            )
        super().__init__(message)

    def named(self, source: str, setting: str) -> "EmptyVocabulary":
        """The same error, its message naming ``source`` and ``setting``."""
        return EmptyVocabulary(self.corpus_words, self.min_count, source, setting)


TABLE_SIZE = 10_000_000


@dataclass
class Vocabulary:
    words: list[str]
    counts: np.ndarray  # int64, aligned with words
    corpus_words: int = 0  # all tokens seen, including those pruned away
    index: dict = field(init=False, repr=False)

    def __post_init__(self):
        self.counts = np.asarray(self.counts, dtype=np.int64)
        self.index = {word: i for i, word in enumerate(self.words)}

    def __len__(self):
        return len(self.words)

    @property
    def total_words(self) -> int:
        """Tokens that survive pruning (what training iterates over)."""
        return int(self.counts.sum())

    def keep_probabilities(self, sample: float) -> np.ndarray:
        """Per-word probability of keeping an occurrence (1 everywhere when sample <= 0)."""
        if sample <= 0:
            return np.ones(len(self), dtype=np.float32)
        threshold = sample * self.total_words
        counts = self.counts.astype(np.float64)
        keep = (np.sqrt(counts / threshold) + 1) * threshold / counts
        return np.minimum(keep, 1.0).astype(np.float32)

    def negative_distribution(self) -> np.ndarray:
        """``P(w) ~ count ** 0.75``, normalised (float64)."""
        weights = self.counts.astype(np.float64) ** NEGATIVE_POWER
        return weights / weights.sum()


def negative_table(counts, size: int = TABLE_SIZE) -> np.ndarray:
    """A table of word ids where id w fills a share ``P(w)`` of the slots (int32).

    Slot ``j`` holds the word whose cumulative-probability interval contains
    ``(j + 0.5) / size``, so each word's share is exact to within one slot.
    """
    weights = np.asarray(counts, dtype=np.float64) ** NEGATIVE_POWER
    cumulative = np.cumsum(weights / weights.sum())
    # Slots whose midpoint falls at or below cumulative[w] (and above cumulative[w-1]).
    ends = np.floor(cumulative * size + 0.5).astype(np.int64)
    ends[-1] = size
    slots = np.diff(ends, prepend=0)
    return np.repeat(np.arange(len(slots), dtype=np.int32), slots)


def build_vocabulary(counter, min_count: int = 5, max_vocab: int | None = None) -> Vocabulary:
    """Prune ``counter`` (word -> count) and order it; :class:`EmptyVocabulary` if nothing
    survives."""
    corpus_words = int(sum(counter.values()))
    if corpus_words == 0:
        raise EmptyVocabulary(0, min_count)
    kept = [(word, count) for word, count in counter.items() if count >= min_count]
    kept.sort(key=lambda item: (-item[1], item[0]))
    if max_vocab is not None and max_vocab > 0:
        kept = kept[:max_vocab]
    if not kept:
        raise EmptyVocabulary(corpus_words, min_count)
    words = [word for word, _ in kept]
    return Vocabulary(words, np.array([c for _, c in kept]), corpus_words=corpus_words)
