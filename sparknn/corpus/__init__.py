"""Corpus ingestion with Spark: reading text, vocabularies, encoded partitions."""

from sparknn.corpus.reader import read_text

__all__ = ["read_text"]
