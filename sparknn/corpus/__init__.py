"""Corpus ingestion with Spark: reading text (``read_text``), the character corpus of the
char-LM (``build_corpus``: vocabulary, encoded partitions, windows; ``gather_examples``: a
batch's examples from the shards), the shipped corpus (``SHIPPED_CORPUS``), and passages of
the shared corpora labelled by book (``labelled_passages``)."""

from importlib.resources import files
from pathlib import Path

from sparknn.corpus.chars import CharCorpus, CharVocab, build_corpus, gather_examples
from sparknn.corpus.passages import labelled_passages
from sparknn.corpus.reader import read_text

# James Joyce's *Dubliners* (Project Gutenberg #2814, public domain): the demo's corpus and the
# char-LM job's default, package data so that it is there wherever sparknn is installed.
SHIPPED_CORPUS = Path(str(files("sparknn") / "data" / "dubliners.txt"))

__all__ = [
    "SHIPPED_CORPUS", "CharCorpus", "CharVocab", "build_corpus", "gather_examples",
    "labelled_passages", "read_text",
]  # fmt: skip
