"""Spark ML integration: train a ``sparknn.Sequential`` on a DataFrame inside a Pipeline.

``NeuralNetwork`` is an Estimator (its ``fit`` runs sparknn's distributed trainer);
``NeuralNetworkModel`` the Transformer it returns (prediction on the executors).
"""

from sparknn.ml.neural_network import NeuralNetwork, NeuralNetworkModel

__all__ = ["NeuralNetwork", "NeuralNetworkModel"]
