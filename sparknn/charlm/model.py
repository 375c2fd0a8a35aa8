"""The character-level LSTM language model: builder, the executor-side replica, and sampling.

``Embedding -> LSTM x layers (return_sequences) -> Dense(softmax)`` over a character
vocabulary, trained with sparse categorical cross-entropy (per-sequence loss is the mean over
its timesteps, so ``loss_sum / n`` is the mean loss per character in nats).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from sparknn.charlm.settings import CharLMSettings
from sparknn.corpus.chars import CharVocab, gather_examples
from sparknn.distributed.replica import RowReplica
from sparknn.errors import SparknnError
from sparknn.files import atomic_file
from sparknn.nn.layers import LSTM, Dense, Embedding
from sparknn.nn.model import Sequential, load
from sparknn.nn.optimizers import Nadam

MODEL_FILE = "model.npz"
VOCAB_FILE = "vocab.json"
SAMPLE_TEMPERATURES = (0.2, 0.5, 1.0, 1.2)


def build_charlm(
    vocab_size: int,
    hidden: int = CharLMSettings.hidden,
    layers: int = CharLMSettings.layers,
    embedding_dim: int = CharLMSettings.embedding_dim,
    lr: float = CharLMSettings.lr,
    clipnorm: float | None = CharLMSettings.clipnorm,
    seed: int = CharLMSettings.seed,
    dtype: str = CharLMSettings.dtype,
    backend: str = CharLMSettings.backend,
):
    """A compiled char-LM ``Sequential``: Embedding(``vocab_size``, ``embedding_dim``), then
    ``layers`` LSTM(``hidden``) layers, then a softmax Dense over the vocabulary; Nadam
    (``lr``, ``clipnorm``; None: no clipping), its weights drawn from ``seed``; the defaults
    are :class:`~sparknn.charlm.settings.CharLMSettings`'. Raises :class:`SparknnError` for
    a size below 1."""

    for name, value in (("hidden", hidden), ("layers", layers), ("embedding_dim", embedding_dim)):
        if int(value) < 1:
            raise SparknnError(f"{name} must be >= 1, got {value}")
    # N(0, 1) character embeddings, not Keras' U(-0.05, 0.05): the LSTM then sees a strong
    # input signal from step one, and trains to a lower loss (docs/DESIGN-NOTES.md).
    stack = [Embedding(vocab_size, embedding_dim, embeddings_initializer="standard_normal")]
    stack += [LSTM(hidden, return_sequences=True) for _ in range(layers)]
    stack += [Dense(vocab_size, activation="softmax")]
    model = Sequential(stack, name="charlm", seed=seed, dtype=dtype, backend=backend)
    model.compile(
        loss="sparse_categorical_crossentropy", optimizer=Nadam(learning_rate=lr, clipnorm=clipnorm)
    )
    model.build((None,))  # (timesteps,): any sequence length
    return model


class CharLMReplica(RowReplica):
    """A model copy plus the windows it holds: what a barrier task (or the driver) computes on.
    Its shards (:class:`~sparknn.corpus.chars.WindowShard`) answer ``select`` and ``examples``
    as :class:`~sparknn.distributed.RowShard` does, so the sums are :class:`RowReplica`'s.

    ``per_shard=True`` (executors) computes one gradient sum per shard and adds them, exactly
    as separate tasks would; ``per_shard=False`` (the single-process reference) computes the
    whole batch in one call, like ``model.fit`` would.
    """

    def __init__(self, model, shards, per_shard=True, eval_batch=128):
        super().__init__(model, shards, eval_batch)
        self.per_shard = per_shard

    def gradient(self, windows):
        if not self.per_shard:
            x, y = gather_examples(self.shards, windows)
            return self.model.loss_and_gradient(x, y)
        return super().gradient(windows)


def bits_per_char(loss_nats: float) -> float:
    """A loss in nats per character, in bits per character."""
    return loss_nats / math.log(2)


def sample(model, vocab: CharVocab, seed_text: str, length=400, temperature=0.5, rng=None):
    """Generate ``length`` characters after ``seed_text`` (which primes the LSTM state)."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise SparknnError(f"temperature must be a finite number > 0, got {temperature}")
    if length < 1:
        raise SparknnError(f"length must be >= 1, got {length}")
    if not seed_text:
        raise SparknnError("seed text must not be empty")
    rng = rng if rng is not None else np.random.default_rng()
    model.reset_states()
    ids = vocab.encode(seed_text).astype(np.int64)
    for char_id in ids[:-1]:
        model.predict_step(np.array([char_id]))
    current = ids[-1]
    out = []
    for _ in range(length):
        probs = model.predict_step(np.array([current]))[0].astype(np.float64)
        logits = np.log(np.maximum(probs, 1e-30)) / temperature
        logits -= logits.max()
        weights = np.exp(logits)
        weights[0] = 0.0 if weights.sum() > weights[0] else weights[0]  # never emit "unknown"
        current = rng.choice(len(weights), p=weights / weights.sum())
        out.append(vocab.chars[current])
    model.reset_states()
    return "".join(out)


def save_charlm(model, vocab: CharVocab, directory) -> Path:
    """``model.npz`` (loadable with ``sparknn.load``) and ``vocab.json`` beside it, atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / MODEL_FILE)
    with atomic_file(directory / VOCAB_FILE) as handle:
        json.dump({"chars": vocab.to_json()}, handle, ensure_ascii=False)
    return directory / MODEL_FILE


def load_charlm(path, backend="numpy"):
    """Load a model saved by :func:`save_charlm`: the model file or its directory."""

    path = Path(path)
    model_path = path / MODEL_FILE if path.is_dir() else path
    vocab_path = model_path.parent / VOCAB_FILE
    if not model_path.is_file():
        raise SparknnError(f"model not found: {model_path}")
    if not vocab_path.is_file():
        raise SparknnError(f"vocabulary not found next to the model: {vocab_path}")
    try:
        chars = json.loads(vocab_path.read_text(encoding="utf-8"))["chars"]
    except (ValueError, KeyError) as error:
        raise SparknnError(f"cannot read vocabulary {vocab_path}: {error}") from None
    return load(model_path, backend=backend), CharVocab.from_json(chars)
