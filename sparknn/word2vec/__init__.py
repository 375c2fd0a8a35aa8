"""Skip-gram negative-sampling word2vec on Spark, and KeyedVectors-style queries.

Modules, in the order data flows through them: ``tokenize`` (lines -> tokens), ``vocab``
(counting with Spark, subsampling and negative-sampling tables), ``pairs`` (training pairs
and negatives from encoded tokens), ``train`` (the distributed training scheme),
``formats`` (files on disk) and ``vectors`` (queries on trained vectors).
"""
