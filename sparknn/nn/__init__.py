"""The numpy network core: layers, losses, optimizers, callbacks and ``Sequential``."""

from sparknn.nn import callbacks, initializers, layers, losses, optimizers
from sparknn.nn.model import Sequential, load
from sparknn.nn.utils import normalize, to_categorical

__all__ = [
    "Sequential",
    "callbacks",
    "initializers",
    "layers",
    "load",
    "losses",
    "normalize",
    "optimizers",
    "to_categorical",
]
