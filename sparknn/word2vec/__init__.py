"""Skip-gram negative-sampling word2vec on Spark, and KeyedVectors-style queries.

Modules, in the order data flows through them: ``tokenize`` (lines -> tokens), ``vocab``
(counting with Spark, subsampling and negative-sampling tables), ``encoding`` (the corpus
tokenized and encoded once), ``pairs`` (training pairs and negatives from encoded tokens),
``settings`` (the hyperparameters and their defaults), ``schedule`` (rounds and learning
rate), ``replica`` (a partition's trainer), ``merge`` (the driver's merge of row deltas),
``rounds`` (the driver loop and ``train_local``), ``exchange`` and ``shared_model`` (the
rounds on Spark), ``spark`` (``train_spark``), ``formats`` (files on disk), ``job`` (the
job's reading and output around ``sparknn.ml.Word2Vec``) and ``vectors`` (queries on
trained vectors). The scheme and its measurements: docs/word2vec-design.md.

The names in ``__all__`` are the public API (``from sparknn.word2vec import train_local``):
training (``train_local``, ``train_spark``, ``Settings``, ``TrainResult``), the
corpus as the trainers take it (``get_tokenizer``, ``build_vocabulary``, ``encode_lines``,
``split_lines``), the parts of the scheme a study or a benchmark drives directly (a
``PartitionTrainer`` replica with its ``Tables`` and ``init_vectors``; the driver's
``merge_blocks`` on ``MERGE_THREADS`` threads and ``MERGE_BLOCKS`` syn1neg blocks; the pair
generation ``subsample``, ``skipgram_pairs``, ``draw_negatives`` and ``negative_table``) and
the queries (``WordVectors``, ``load_vectors``). They are imported when first used, so that
``import sparknn.word2vec`` stays cheap in a Spark worker.
"""

from importlib import import_module

_EXPORTS = {
    # training
    "train_local": "rounds",
    "TrainResult": "rounds",
    "train_spark": "spark",
    "Settings": "settings",
    # the corpus as the trainers take it
    "get_tokenizer": "tokenize",
    "Vocabulary": "vocab",
    "build_vocabulary": "vocab",
    "negative_table": "vocab",
    "encode_lines": "encoding",
    "split_lines": "encoding",
    # the scheme's parts
    "subsample": "pairs",
    "skipgram_pairs": "pairs",
    "draw_negatives": "pairs",
    "PartitionTrainer": "replica",
    "Tables": "replica",
    "init_vectors": "replica",
    "merge_blocks": "merge",
    "MERGE_BLOCKS": "merge",
    "MERGE_THREADS": "merge",
    # queries
    "WordVectors": "vectors",
    "load_vectors": "vectors",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:  # a submodule (``from sparknn.word2vec import vectors``) loads
        raise AttributeError(f"module 'sparknn.word2vec' has no attribute {name!r}")
    return getattr(import_module(f"sparknn.word2vec.{_EXPORTS[name]}"), name)
