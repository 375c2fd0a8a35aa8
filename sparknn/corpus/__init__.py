"""Corpus ingestion with Spark: reading text, vocabularies, encoded partitions."""

from importlib.resources import files
from pathlib import Path

from sparknn.corpus.reader import read_text

# James Joyce's *Dubliners* (Project Gutenberg #2814, public domain): the demo's corpus and the
# char-LM job's default, package data so that it is there wherever sparknn is installed.
SHIPPED_CORPUS = Path(str(files("sparknn") / "data" / "dubliners.txt"))

__all__ = ["SHIPPED_CORPUS", "read_text"]
