"""One word2vec model in shared memory, trained in place by every task on the driver's host.

With ``hogwild`` (see "Hogwild on one host" in docs/word2vec-design.md) the driver creates
the model as a file in a fresh 0700 folder, on ``/dev/shm`` where it has room (memory, never
written to disk) and in the temporary folder otherwise, and every task maps it: their kernels
then update the same pages, lock-free, as gensim's and word2vec.c's threads share one model.
The folder's random name is the handshake: a task on another host does not find it. The
name also carries the driver's pid: a driver killed before removing it leaves it to the next
job's sweep (:func:`sparknn.files.sweep_stale`).
"""

import os
import shutil
import tempfile

import numpy as np

from sparknn.errors import SparknnError
from sparknn.files import SHARED_MEMORY, owned_prefix

MODEL_FILE = "model.f32"
DTYPE = np.float32


class SharedModel:
    """The driver's side: create the file holding ``syn0`` then ``syn1neg`` (float32, both
    ``(vocab_size, dim)``), initialised from ``(syn0, syn1neg)``; :meth:`remove` deletes it,
    as leaving a ``with`` block does."""

    def __init__(self, syn0: np.ndarray, syn1neg: np.ndarray):
        nbytes = syn0.nbytes + syn1neg.nbytes
        self.folder = tempfile.mkdtemp(prefix=owned_prefix("w2v"), dir=_room_for(nbytes))
        self.path = os.path.join(self.folder, MODEL_FILE)
        try:
            self.syn0, self.syn1neg = _mapped(self.path, "w+", *syn0.shape)
            self.syn0[:], self.syn1neg[:] = syn0, syn1neg
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.remove()


def map_shared_model(path: str, vocab_size: int, dim: int):
    """A task's side: ``(syn0, syn1neg)`` mapped from the driver's file, updated in place."""
    expected = 2 * vocab_size * dim * np.dtype(DTYPE).itemsize
    try:
        size = os.path.getsize(path)
    except OSError:
        raise SparknnError(
            f"hogwild: the shared model {path} is not on this task's host "
            f"({os.uname().nodename}); hogwild needs every task on the driver's host (a local "
            f"master, local-cluster or one machine); turn it off to exchange rows instead"
        ) from None
    if size != expected:
        raise SparknnError(f"hogwild: {path} holds {size} bytes, expected {expected}")
    return _mapped(path, "r+", vocab_size, dim)


def _mapped(path: str, mode: str, vocab_size: int, dim: int):
    """The file's ``(syn0, syn1neg)``: two ``(vocab_size, dim)`` matrices, one after the other."""
    mapped = np.memmap(path, dtype=DTYPE, mode=mode, shape=(2, vocab_size, dim))
    return mapped[0], mapped[1]


def _room_for(nbytes: int) -> str | None:
    """``/dev/shm`` if it can hold ``nbytes`` with room to spare (a container's is often
    64 MB, and writing past a full tmpfs kills the writer), else None (the temp folder)."""
    try:
        stats = os.statvfs(SHARED_MEMORY)
    except OSError:
        return None
    return SHARED_MEMORY if stats.f_bavail * stats.f_frsize >= 2 * nbytes else None
