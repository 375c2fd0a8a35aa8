"""The character-level LSTM language model: ``model`` (builder, replica, sampling, save/load),
``train`` (the whole training run of ``jobs/train_charlm.py``), ``cli`` (``sparknn generate``).

Public: the model's builder (``build_charlm``), the replica a Spark task computes with
(``CharLMReplica``, a :class:`sparknn.distributed.Replica`), sampling, and save/load.
"""

from sparknn.charlm.model import (
    CharLMReplica,
    bits_per_char,
    build_charlm,
    load_charlm,
    sample,
    save_charlm,
)

__all__ = ["CharLMReplica", "bits_per_char", "build_charlm", "load_charlm", "sample", "save_charlm"]
