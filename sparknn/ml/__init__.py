"""Spark ML integration: sparknn inside a Pipeline.

``NeuralNetwork`` is an Estimator training a ``sparknn.Sequential`` on a DataFrame (its
``fit`` runs sparknn's distributed trainer); ``NeuralNetworkModel`` the Transformer it
returns (prediction on the executors). ``Word2Vec`` / ``Word2VecModel``: a drop-in for
``pyspark.ml.feature.Word2Vec`` trained by sparknn's word2vec. ``network_to_bytes`` /
``network_from_bytes``: a network as the bytes of its ``.npz`` (no pickle), as the models ship
and save it.
"""

from sparknn.ml.neural_network import (
    NeuralNetwork,
    NeuralNetworkModel,
    network_from_bytes,
    network_to_bytes,
)
from sparknn.ml.word2vec import Word2Vec, Word2VecModel

__all__ = [
    "NeuralNetwork", "NeuralNetworkModel", "Word2Vec", "Word2VecModel", "network_from_bytes",
    "network_to_bytes",
]  # fmt: skip
