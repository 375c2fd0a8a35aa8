"""Weight initialisers by name (Keras names and defaults), drawn from a numpy Generator."""

import numpy as np

from sparknn.errors import SparknnError


def _fans(shape):
    # Kernels are (fan_in, fan_out), an LSTM's (d, 4H) included; a vector counts both ways.
    return (shape[0], shape[1]) if len(shape) > 1 else (shape[0], shape[0])


def glorot_uniform(shape, rng):
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def glorot_normal(shape, rng):
    fan_in, fan_out = _fans(shape)
    return _truncated_normal(shape, np.sqrt(2.0 / (fan_in + fan_out)), rng)


def he_uniform(shape, rng):
    fan_in, _ = _fans(shape)
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape)


def he_normal(shape, rng):
    fan_in, _ = _fans(shape)
    return _truncated_normal(shape, np.sqrt(2.0 / fan_in), rng)


def uniform(shape, rng):
    """Keras ``RandomUniform`` default: U(-0.05, 0.05); also the Keras Embedding default."""
    return rng.uniform(-0.05, 0.05, size=shape)


def standard_normal(shape, rng):
    """N(0, 1): PyTorch's ``nn.Embedding`` default."""
    return rng.normal(size=shape)


def orthogonal(shape, rng):
    """Keras' default for LSTM recurrent kernels: rows or columns orthonormal."""
    rows, cols = shape[0], int(np.prod(shape[1:]))
    a = rng.normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # makes the distribution uniform over orthogonal matrices
    if rows < cols:
        q = q.T
    return q.reshape(shape)


def zeros(shape, rng):
    return np.zeros(shape)


def ones(shape, rng):
    return np.ones(shape)


def _truncated_normal(shape, std, rng):
    # Keras' truncated normal: redraw values beyond 2 std; its stddev correction 0.8796...
    std = std / 0.87962566103423978
    out = rng.normal(0.0, std, size=shape)
    bad = np.abs(out) > 2 * std
    while bad.any():
        out[bad] = rng.normal(0.0, std, size=int(bad.sum()))
        bad = np.abs(out) > 2 * std
    return out


INITIALIZERS = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "uniform": uniform,
    "standard_normal": standard_normal,
    "orthogonal": orthogonal,
    "zeros": zeros,
    "ones": ones,
}


def check(name: str, arg: str) -> str:
    if name not in INITIALIZERS:
        raise SparknnError(f"unknown {arg} {name!r}; choose one of {', '.join(INITIALIZERS)}")
    return name


def initialize(name: str, shape, rng) -> np.ndarray:
    return INITIALIZERS[check(name, "initializer")](tuple(shape), rng)
