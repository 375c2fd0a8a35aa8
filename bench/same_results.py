"""Fingerprints of what training computes, to compare two commits bit for bit.

Prints a SHA-256 of the word2vec vectors ``train_local`` gives (numpy and OpenCL backends,
negatives per pair and shared) and of a char-LM's weights after a few single-process
synchronous SGD steps, on the first words of *Dubliners*. Run it in two checkouts (e.g. before
and after a restructure) and compare the lines:

    PYTHONPATH=. python bench/same_results.py
    (cd /tmp/old && PYTHONPATH=. python /path/to/bench/same_results.py)

A checkout from before issue 25's layout needs the same script with that layout's import
paths: ``sparknn.word2vec.train`` for ``Settings``, ``train_local``, ``encode_lines`` and
``split_lines``; ``sparknn.word2vec.vocab`` for ``build_vocabulary``;
``sparknn.word2vec.tokenize`` for ``get_tokenizer``; ``sparknn.distributed.trainer`` for
``fit``; the corpus at ``data/dubliners.txt``.
"""

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np

from sparknn.charlm import build_charlm
from sparknn.corpus import SHIPPED_CORPUS
from sparknn.distributed import BatchSchedule, LocalGradients, fit
from sparknn.word2vec import (
    Settings,
    build_vocabulary,
    encode_lines,
    get_tokenizer,
    split_lines,
    train_local,
)

WORDS = 20_000


def fingerprint(array) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def first_lines(text: str, words: int) -> list[str]:
    lines, count = [], 0
    for line in text.splitlines():
        if count >= words:
            break
        lines.append(line)
        count += len(line.split())
    return lines


def word2vec_fingerprints(text: str) -> dict:
    lines = first_lines(text, WORDS)
    tokenizer = get_tokenizer("whitespace", lowercase=True)
    vocab = build_vocabulary(Counter(t for line in lines for t in tokenizer(line)), min_count=3)
    parts = [encode_lines(chunk, vocab, tokenizer) for chunk in split_lines(lines, 2)]
    found = {}
    for backend in ("numpy", "opencl"):
        for shared in (False, True):
            settings = Settings(
                vector_size=32, epochs=2, seed=7, backend=backend, shared_negatives=shared,
                sync_words=3000, sync_start_words=1000, warmup_words=200,
            )  # fmt: skip
            vectors = train_local(vocab, parts, settings).vectors
            found[f"word2vec {backend} {'shared' if shared else 'per-pair'}"] = vectors
    return found


def charlm_fingerprint(text: str) -> np.ndarray:
    """A tiny char-LM after 20 synchronous SGD steps in one process (the trainer's loop)."""
    chars = sorted(set(text[:20_000]))
    index = {c: i for i, c in enumerate(chars)}
    stream = np.array([index[c] for c in text[:20_000]], dtype=np.int64)
    seq_len = 16
    windows = np.stack([stream[i : i + seq_len + 1] for i in range(0, len(stream) - seq_len, 7)])
    model = build_charlm(len(chars), hidden=12, embedding_dim=6, seed=11, dtype="float64")
    x, y = windows[:, :-1], windows[:, 1:]
    replica = _Windows(model, x, y)
    fit(model, LocalGradients(replica), BatchSchedule(np.arange(len(x)), batch_size=24, seed=7), 20)
    return model.params


class _Windows:
    """The smallest replica: every window in memory, on the driver. The script's own, not
    ``sparknn.distributed.RowReplica``, so that it runs on checkouts from before that class."""

    def __init__(self, model, x, y):
        self.model, self.x, self.y, self.params = model, x, y, model.params

    def gradient(self, rows):
        return self.model.loss_and_gradient(self.x[rows], self.y[rows])

    def evaluate(self, rows):
        result = self.model.evaluate(self.x[rows], self.y[rows], return_dict=True)
        return result["loss"] * len(rows), len(rows)


def main() -> None:
    text = Path(SHIPPED_CORPUS).read_text(encoding="utf-8")
    for name, array in word2vec_fingerprints(text).items():
        print(f"{name:28s} {fingerprint(array)}")
    print(f"{'char-LM 20 steps':28s} {fingerprint(charlm_fingerprint(text))}")


if __name__ == "__main__":
    main()
