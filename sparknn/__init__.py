"""sparknn: neural-network training on Apache Spark, from Python.

The public API is re-exported here lazily so that ``import sparknn`` stays cheap
(no pyspark, no pyopencl) until a feature that needs them is used.
"""

from importlib import import_module

from sparknn.spark.python_path import prefer_installed_pyspark

# Imported eagerly (it is light: no pyspark until called) because a lazy export cannot win
# against the submodule of the same name: once anything imports ``sparknn.session``,
# Python binds the *module* as ``sparknn.session`` and ``sparknn.session(...)`` would fail.
from sparknn.spark.session import session

# Before anything imports pyspark (nothing above does): a spark-submit driver then imports
# pip's pyspark (compiled once) rather than spark-submit's zip of it (compiled at each start).
prefer_installed_pyspark()

__version__ = "0.1.0"

_EXPORTS = {
    # network core
    "Sequential": "sparknn.nn.model",
    "load": "sparknn.nn.model",
    "layers": "sparknn.nn",
    "optimizers": "sparknn.nn",
    "losses": "sparknn.nn",
    "to_categorical": "sparknn.nn.utils",
    "normalize": "sparknn.nn.utils",
    # compute backends
    "get_backend": "sparknn.backend",
    # word vectors
    "load_vectors": "sparknn.word2vec.vectors",
}

__all__ = ["__version__", "session", *_EXPORTS]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sparknn' has no attribute {name!r}")
    module = import_module(_EXPORTS[name])
    return module if module.__name__.endswith("." + name) else getattr(module, name)
