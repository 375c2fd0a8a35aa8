"""MLlib's document vectors (its ``Word2VecModel.transform``): their interface and numpy
reference.

A document is a row of token ids into a float32 ``table`` of word vectors whose last row is
zeros (what unknown words and padding read). Its vector is the sum of its tokens' rows,
added as float64 as MLlib adds them, times ``1 / len(row)``: zeros for an empty row.
"""

import numpy as np

# The reference gathers this many bytes of word vectors at a time: cache-sized, measured fastest
CHUNK_BYTES = 2**20


class DocumentOps:
    """Document vectors in numpy; backends override them with results equal to 1e-12."""

    def document_means(self, table, ids, lengths) -> np.ndarray:
        """``(len(lengths), d)`` float64: row ``r`` the mean of ``table[ids[k]]`` over its
        ``lengths[r]`` consecutive ids (rows follow each other in ``ids``), summed in
        float64; zeros where ``lengths[r]`` is 0. ``table``: float32 ``(V + 1, d)`` whose
        last row is zeros; ``ids``: int ids in ``[0, V]``; ``lengths``: int64."""
        return document_means(table, ids, lengths)


def document_means(table, ids, lengths, chunk_tokens=None) -> np.ndarray:
    """:meth:`DocumentOps.document_means`, gathering at most ``chunk_tokens`` vectors (default:
    :data:`CHUNK_BYTES` of them) at a time, so memory stays bounded whatever the rows'
    lengths. Sums in numpy's order rather than token by token: equal to the sequential
    float64 sum to about 1e-15 of its magnitude."""
    zero_row = len(table) - 1
    if chunk_tokens is None:
        chunk_tokens = max(1, CHUNK_BYTES // (table.shape[1] * table.itemsize))
    lengths = np.asarray(lengths, np.int64)
    starts = np.cumsum(lengths) - lengths
    sums = np.zeros((len(lengths), table.shape[1]))
    # Longest rows first, so that a chunk's rows, padded with the zero row to the chunk's
    # first, are of similar lengths. A chunk sums a rectangle of gathered vectors along
    # its rows in one call: no per-row or per-token Python, and half the memory traffic of
    # gathering float64 vectors.
    order = np.argsort(-lengths, kind="stable")
    done = 0
    while done < len(order) and lengths[order[done]] > chunk_tokens:
        row = order[done]
        end = starts[row] + lengths[row]
        for start in range(starts[row], end, chunk_tokens):
            piece = table[ids[start : min(start + chunk_tokens, end)]]
            sums[row] += np.einsum("td->d", piece, dtype=np.float64)
        done += 1
    while done < len(order) and lengths[order[done]] > 0:
        width = lengths[order[done]]
        chunk = order[done : done + chunk_tokens // width]
        positions = np.minimum(starts[chunk, None] + np.arange(width), len(ids) - 1)
        padded = np.where(np.arange(width) < lengths[chunk, None], ids[positions], zero_row)
        sums[chunk] = np.einsum("rtd->rd", table[padded], dtype=np.float64)
        done += len(chunk)
    return sums * (1.0 / np.maximum(lengths, 1))[:, None]
