"""Skip-gram negative-sampling word2vec on Spark, and KeyedVectors-style queries.

Modules, in the order data flows through them: ``tokenize`` (lines -> tokens), ``vocab``
(counting with Spark, subsampling and negative-sampling tables), ``encoding`` (the corpus
tokenized and encoded once), ``pairs`` (training pairs and negatives from encoded tokens),
``settings`` (the hyperparameters and their defaults), ``schedule`` (rounds and learning
rate), ``replica`` (a partition's trainer), ``merge`` (the driver's merge of row deltas),
``rounds`` (the driver loop and ``train_local``), ``exchange`` and ``shared_model`` (the
rounds on Spark), ``spark`` (``train_spark``), ``formats`` (files on disk) and ``vectors``
(queries on trained vectors). The scheme and its measurements: docs/word2vec-design.md.
"""
