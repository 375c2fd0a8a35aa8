"""labelled_passages: passages of the shared corpora labelled by book."""

import lzma

import pytest
from conftest import SHARED_DATA

from sparknn.corpus import labelled_passages
from sparknn.corpus.passages import _shares
from sparknn.errors import SparknnError

needs_data = pytest.mark.skipif(
    not (SHARED_DATA / "kjv").is_dir(), reason=f"the shared corpora are not at {SHARED_DATA}"
)


def test_shares_are_equal_where_the_books_allow():
    assert _shares([100, 100, 100], 90) == [30, 30, 30]
    assert _shares([10, 100, 100], 90) == [10, 40, 40]  # the short book gives all it has
    assert _shares([10, 20], 90) == [10, 20]
    assert sum(_shares([7, 50, 13, 40], 61)) == 61


@needs_data
def test_passages_are_the_books_words_labelled_and_reproducible():
    rows = labelled_passages(SHARED_DATA, ("shakespeare", "dubliners"), 10, tokens=2000, seed=3)
    assert list(rows.columns) == ["text", "label"]
    assert len(rows) == 200 and rows.label.value_counts().to_dict() == {0.0: 100, 1.0: 100}
    assert rows.equals(
        labelled_passages(SHARED_DATA, ("shakespeare", "dubliners"), 10, tokens=2000, seed=3)
    )
    assert not rows.equals(
        labelled_passages(SHARED_DATA, ("shakespeare", "dubliners"), 10, tokens=2000, seed=4)
    )
    with lzma.open(SHARED_DATA / "tinyshakespeare" / "input.txt.xz", "rt") as handle:
        shakespeare = " ".join(handle.read().split())
    for text, label in rows.itertuples(index=False):
        assert len(text.split()) == 10
        assert (text in shakespeare) == (label == 0.0)
    assert not any("Gutenberg" in text for text in rows.text)  # header and licence cut


@needs_data
def test_bible_passages_carry_no_verse_references():
    rows = labelled_passages(SHARED_DATA, ("bible",), 40, tokens=40_000)
    assert len(rows) == 1000
    assert not rows.text.str.contains(r"\b\d+:\d+\b").any()


def test_bad_arguments_are_one_line_errors(tmp_path):
    with pytest.raises(SparknnError, match="unknown book 'hamlet'"):
        labelled_passages(tmp_path, ("hamlet",))
    with pytest.raises(SparknnError, match="kjv_pg10900.txt.xz not found"):
        labelled_passages(tmp_path, ("bible",))
    with pytest.raises(SparknnError, match="words_per_passage must be >= 1"):
        labelled_passages(tmp_path, words_per_passage=0)
