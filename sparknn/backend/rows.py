"""The row operations of word2vec's exchange: their interface, which is the numpy reference.

The driver's merge adds the replicas' deltas to the changed rows (``add_scaled_rows``), a
replica reports its changed rows (``subtract_rows``) and moves to the merged model
(``apply_rows``). ``rows`` are unique row indices (int32) of float32 C-contiguous matrices.
A backend may run these itself where that is faster, but must compute every value bit for
bit as here, so that which backend merged a round never changes a vector.
"""

import numpy as np


class RowOps:
    """The exchange's row operations, in numpy; backends override them with equal results."""

    #: Callers may run row operations on disjoint rows in several threads at once (numpy
    #: releases the GIL); False where one call at a time is the way (OpenCL kernels).
    threaded_rows: bool = True

    def add_scaled_rows(self, dst, rows, src, scale=None) -> np.ndarray:
        """``dst[rows[j]] += src[j] * scale[j]`` (float32; ``scale=None``: no multiply).
        Returns the rows' new values, which may be ``src`` itself, overwritten."""
        updated = np.take(dst, rows, axis=0)  # whole rows, not numpy's element by element
        updated += src if scale is None else src * np.asarray(scale, dst.dtype)[:, None]
        set_rows(dst, rows, updated)
        return updated

    def subtract_rows(self, a, b, rows) -> np.ndarray:
        """``a[rows] - b[rows]``, a new array."""
        return np.take(a, rows, axis=0) - np.take(b, rows, axis=0)

    def apply_rows(self, matrix, base, rows, values, pending=None) -> None:
        """``base[rows] = values`` and ``matrix[rows] = values``, except that a row whose
        ``pending`` entry (indexed by row) is non-zero keeps its own change on top:
        ``matrix[r] = values[j] + (matrix[r] - base[r])``, with ``base[r]`` before the call."""
        unsent = np.flatnonzero(pending[rows]) if pending is not None else ()
        if len(unsent):
            own = self.subtract_rows(matrix, base, rows[unsent])
        set_rows(base, rows, values)
        if len(unsent):
            values = values.copy()
            values[unsent] += own
        set_rows(matrix, rows, values)


def set_rows(matrix, rows, values) -> None:
    """``matrix[rows] = values``, copying whole rows (each viewed as one opaque item) where
    numpy's fancy assignment copies element by element."""
    as_rows = np.dtype((np.void, matrix.shape[1] * matrix.itemsize))
    values = np.ascontiguousarray(values, dtype=matrix.dtype)
    matrix.view(as_rows)[rows, 0] = values.view(as_rows)[:, 0]
