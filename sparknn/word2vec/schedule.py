"""The round schedule: how each epoch is cut into rounds, how round lengths and the send
threshold scale with the partition count, and the learning rate over training (see "Rounds"
and "Deferred rows" in docs/word2vec-design.md)."""

import numpy as np

from sparknn.word2vec.settings import Settings

# Fraction of training after which rounds hold ``sync_words`` tokens (see round_schedule).
SYNC_RAMP = 0.5

# Tokens per partition and round with ``hogwild``: there is nothing to exchange, so rounds
# only pace the progress reports (about a second each).
HOGWILD_ROUND_WORDS = 500_000


def round_schedule(
    max_partition_words: int, epochs: int, sync_words: int, start_words: int = 0,
    warmup_words: int = 0,
):  # fmt: skip
    """Round boundaries of each epoch as fractions of each partition: ``epochs`` lists
    ``[0, ..., 1]``.

    Rounds hold ``sync_words`` tokens of the largest partition, except early in training:
    with ``start_words`` a round at training progress ``t`` (0 to 1 over all epochs) holds
    ``start_words * (sync_words / start_words) ** (t / SYNC_RAMP)`` tokens, up to
    ``sync_words``. With ``warmup_words`` the first round holds that many and each next one
    at most twice the last: at the start partitions would otherwise break the symmetry of
    the random initialisation in different directions, and merging those would wash the
    structure out.
    """
    if max_partition_words <= 0:
        return [[0.0, 1.0] for _ in range(epochs)]
    start_words = min(start_words or sync_words, sync_words)
    growth = np.log(sync_words / start_words) / SYNC_RAMP
    ceiling = warmup_words if warmup_words > 0 else sync_words
    schedules = []
    for epoch in range(epochs):
        positions = [0]
        while True:
            progress = (epoch + positions[-1] / max_partition_words) / epochs
            size = min(start_words * np.exp(growth * progress), sync_words, ceiling)
            ceiling = min(2 * ceiling, sync_words)  # an int that kept doubling would overflow
            if positions[-1] + size >= max_partition_words:
                break
            positions.append(positions[-1] + int(size))
        positions.append(max_partition_words)
        schedules.append([p / max_partition_words for p in positions])
    return schedules


def unseen_squared(partitions: int) -> int:
    """``(P-1)**2``, at least 1: what round lengths and the send threshold are divided by,
    P-1 being the partitions whose round a replica does not see (see "Rounds")."""
    return max(partitions - 1, 1) ** 2


def round_words(settings: Settings, partitions: int):
    """``(sync_words, start_words, warmup_words)`` of :func:`round_schedule` for a partition
    count: the settings' round lengths divided by :func:`unseen_squared` (rounded up); one
    partition needs no ramp, and hogwild's rounds only pace progress reports."""
    if settings.hogwild:
        return HOGWILD_ROUND_WORDS, 0, 0
    if partitions < 2:
        return settings.sync_words, 0, 0
    divisor = unseen_squared(partitions)
    return (
        -(-settings.sync_words // divisor),
        -(-settings.sync_start_words // divisor),
        settings.warmup_words,
    )


def send_threshold(send_min_updates: int, partitions: int) -> int:
    """Updates a ``syn1neg`` row needs before a replica sends it (see "Deferred rows"):
    ``send_min_updates`` divided by :func:`unseen_squared`, at least 1 (every changed row)."""
    return max(1, send_min_updates // unseen_squared(partitions))


def slice_bounds(sentence_starts, n_tokens: int, start: float, stop: float):
    """Token range ``[lo, hi)`` for the fraction range ``[start, stop)``, cut at sentences."""

    def cut(fraction):
        if fraction >= 1:
            return n_tokens
        j = np.searchsorted(sentence_starts, fraction * n_tokens, side="left")
        return int(sentence_starts[j]) if j < len(sentence_starts) else n_tokens

    return cut(start), cut(stop)


def learning_rate(settings: Settings, progress: float) -> float:
    return max(
        settings.min_alpha, settings.alpha - (settings.alpha - settings.min_alpha) * progress
    )
