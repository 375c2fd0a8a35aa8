"""A labelled text set from the shared corpora: passages of a few words, each labelled by
the book it comes from (:func:`labelled_passages`), for text classifiers and for comparing
word vectors by what a classifier does with them."""

import lzma
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sparknn.corpus.reader import BOM, strip_gutenberg
from sparknn.errors import SparknnError

if TYPE_CHECKING:
    import pandas

# A verse reference ("3:16") opens each verse of the King James Bible: it names the book
# as surely as a label would, so it goes.
_VERSE_REFERENCE = re.compile(r"^\d+:\d+\s+", re.M)


def _as_is(text: str) -> str:
    return text


def _without_verse_references(text: str) -> str:
    return _VERSE_REFERENCE.sub("", text)


# Each book: its file under the shared data folder (see its README) and what cuts it to the
# book's own words.
BOOKS = {
    "bible": ("kjv/kjv_pg10900.txt.xz", _without_verse_references),
    "shakespeare": ("tinyshakespeare/input.txt.xz", _as_is),
    "ulysses": ("gutenberg-books/ulysses_pg4300.txt.xz", strip_gutenberg),
    "dubliners": ("gutenberg-books/dubliners_pg2814.txt.xz", strip_gutenberg),
}


def book_words(data_dir, book: str) -> list[str]:
    """The words (split on whitespace, case kept) of ``book`` (a key of :data:`BOOKS`),
    read from ``data_dir``, the shared corpora's folder."""
    if book not in BOOKS:
        raise SparknnError(f"unknown book {book!r}: one of {', '.join(BOOKS)}")
    relative, cut = BOOKS[book]
    path = Path(data_dir) / relative
    if not path.is_file():
        raise SparknnError(f"{book}: {path} not found (is data_dir the shared corpora's folder?)")
    with lzma.open(path, "rt", encoding="utf-8") as handle:
        return cut(handle.read().lstrip(BOM)).split()


def _shares(available: list[int], wanted: int) -> list[int]:
    """Passages to take from each book: ``wanted`` in all, as equal as the books allow (a
    book that has fewer gives all it has, the others share the rest)."""
    shares = [0] * len(available)
    left = wanted
    for done, i in enumerate(sorted(range(len(available)), key=available.__getitem__)):
        shares[i] = min(available[i], left // (len(available) - done))
        left -= shares[i]
    return shares


def labelled_passages(
    data_dir,
    books=("bible", "shakespeare", "ulysses"),
    words_per_passage: int = 40,
    tokens: int | None = None,
    seed: int = 0,
) -> "pandas.DataFrame":
    """Passages of ``words_per_passage`` consecutive words of each of ``books`` (keys of
    :data:`BOOKS`, read from ``data_dir``), labelled by book: a ``pandas.DataFrame`` with
    ``text`` (the words joined by spaces) and ``label`` (a float: the book's position in
    ``books``), ready for ``spark.createDataFrame``.

    ``tokens``: about this many words in all (``None``: every passage), the books sharing
    them as equally as their lengths allow; which passages is a draw fixed by ``seed``. Rows
    come in a shuffled order, also fixed by ``seed``; the same arguments give the same rows.
    """
    if not books:
        raise SparknnError("labelled_passages: name at least one book")
    if words_per_passage < 1:
        raise SparknnError(f"words_per_passage must be >= 1, got {words_per_passage}")
    if tokens is not None and tokens < words_per_passage:
        raise SparknnError(f"tokens must be >= words_per_passage, got {tokens}")
    cut = {}
    for book in books:
        words = book_words(data_dir, book)
        whole = len(words) // words_per_passage
        cut[book] = np.array(words[: whole * words_per_passage], object).reshape(
            whole, words_per_passage
        )
    available = [len(cut[book]) for book in books]
    wanted = sum(available) if tokens is None else min(tokens // words_per_passage, sum(available))
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for label, (book, share) in enumerate(zip(books, _shares(available, wanted), strict=True)):
        chosen = np.sort(rng.choice(len(cut[book]), size=share, replace=False))
        texts.extend(" ".join(words) for words in cut[book][chosen])
        labels.extend([float(label)] * share)
    order = rng.permutation(len(texts))
    import pandas as pd  # here: Spark's Python workers import sparknn.corpus, not pandas

    return pd.DataFrame({"text": np.array(texts, object)[order], "label": np.array(labels)[order]})
