"""The driver's merge: each partition's changed rows' deltas, weighted by their update counts,
into the model (:func:`merge_rows`), in blocks of rows on a thread pool (:func:`merge_blocks`);
see "Merge" in docs/word2vec-design.md."""

import numpy as np

from sparknn.backend import get_backend
from sparknn.backend.numpy_backend import NumpyBackend
from sparknn.errors import SparknnError
from sparknn.word2vec.settings import Settings


def merge_rows(matrix, parts, how: str, eta: float = Settings.merge_eta, backend=None):
    """Merge each partition's ``(rows, deltas, update counts)`` into ``matrix``, in place.

    ``sum`` adds the deltas; ``mean`` averages them over the partitions that touched a row.
    ``adaptive`` models a row's ``n`` updates as contracting towards a target by a factor
    ``(1 - eta)`` each, so partition ``p`` moved the row a fraction ``c(n_p) = 1 - (1-eta)**n_p``
    of the way. It estimates the full way as the mean of ``delta_p / c(n_p)`` and moves
    ``c(N)`` of it, ``N = sum(n_p)``: that is the sum of the deltas for lightly updated rows
    (where sequential SGD adds up) and their mean for rows every partition has driven to
    equilibrium (where summing would overshoot by the partition count and oscillate).

    Returns ``(rows, values)``: the sorted rows any partition changed and their new values
    (what the replicas are sent). The rows' arithmetic is ``backend``'s row operations (the
    numpy reference by default; every backend's give the same bits).
    """
    backend = backend or NumpyBackend()
    parts = [part for part in parts if len(part[0])]
    changed = np.zeros(len(matrix), dtype=bool)
    for rows, _, _ in parts:
        changed[rows] = True
    union = np.flatnonzero(changed).astype(np.int32)
    position = np.cumsum(changed) - 1  # row -> its index in union
    merged = np.zeros((len(union), matrix.shape[1]), dtype=matrix.dtype)
    touched = np.zeros(len(union), dtype=np.float64)
    updates = np.zeros(len(union), dtype=np.float64)
    log_keep = np.log1p(-eta)
    for rows, deltas, counts in parts:
        at = position[rows]  # rows are unique within a partition
        weight = None
        if how == "adaptive":
            moved = -np.expm1(counts.astype(np.float64) * log_keep)  # c(n_p)
            weight = (1.0 / moved).astype(np.float32)
        backend.add_scaled_rows(merged, at, deltas, weight)
        touched[at] += 1
        updates[at] += counts
    scale = None
    if how != "sum":
        scale = 1.0 / touched
        if how == "adaptive":
            scale *= -np.expm1(updates * log_keep)  # c(N)
        scale = scale.astype(matrix.dtype)
    return union, backend.add_scaled_rows(matrix, union, merged, scale)


def merge_backend(name: str):
    """The backend whose row operations the driver merges with: the training backend where
    the driver has it, else numpy (the same bits, see :func:`merge_rows`)."""
    try:
        return get_backend(name)
    except SparknnError:
        return NumpyBackend()


# Where the backend's row operations can run in threads (numpy), the driver merges on this
# many (the tasks wait for the merge, so their cores are free), syn1neg in this many blocks
# of rows: most rows that are sent are syn1neg rows. The OpenCL kernels merge in one pass
# on one core, faster than numpy on two (measured: docs/word2vec-design.md).
MERGE_THREADS, MERGE_BLOCKS = 2, 3


def merge_blocks(pool, matrix, parts, how, eta, blocks: int, backend):
    """:func:`merge_rows` on ``pool`` in ``blocks`` ranges of rows with about as many sent
    rows each (at once, unless ``backend.threaded_rows``); returns a function that waits and
    returns ``(rows, values)``. Rows merge independently of each other, so the result is
    the same as one :func:`merge_rows`."""
    rows = next((part[0] for part in parts if len(part[0])), np.zeros(0, np.int32))
    if not backend.threaded_rows or len(rows) == 0:  # nothing sent: no rows to cut at
        merged = merge_rows(matrix, parts, how, eta, backend)
        return lambda: merged
    cuts = [0, *(int(rows[len(rows) * k // blocks]) for k in range(1, blocks)), len(matrix)]
    futures = []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=False):
        block = []
        for part in parts:
            a, b = np.searchsorted(part[0], (lo, hi))  # a partition's rows are sorted
            block.append(tuple(array[a:b] for array in part))
        futures.append(pool.submit(merge_rows, matrix, block, how, eta, backend))

    def result():
        done = [future.result() for future in futures]
        if len(done) == 1:
            return done[0]
        return np.concatenate([r for r, _ in done]), np.concatenate([m for _, m in done])

    return result
