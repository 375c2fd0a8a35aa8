"""Spark ML integration: sparknn inside a Pipeline.

``NeuralNetwork`` is an Estimator training a ``sparknn.Sequential`` on a DataFrame (its
``fit`` runs sparknn's distributed trainer); ``NeuralNetworkModel`` the Transformer it
returns (prediction on the executors). ``Word2Vec`` / ``Word2VecModel``: a drop-in for
``pyspark.ml.feature.Word2Vec`` trained by sparknn's word2vec.
"""

from sparknn.ml.neural_network import NeuralNetwork, NeuralNetworkModel
from sparknn.ml.word2vec import Word2Vec, Word2VecModel

__all__ = ["NeuralNetwork", "NeuralNetworkModel", "Word2Vec", "Word2VecModel"]
