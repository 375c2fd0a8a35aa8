"""Finite-difference checks (float64) of every layer, activation and loss.

Each check compares ``model.loss_and_gradient``'s analytic gradient of the summed loss with
central differences of the same loss over every parameter. A ``Dense`` layer placed *before*
the layer under test makes its input gradient (dL/dx) part of what is checked.
"""

import numpy as np
import pytest

from sparknn.backend import ACTIVATIONS
from sparknn.nn import Sequential, layers, losses

EPS = 1e-6


def numeric_gradient(model, x, y):
    params = model.params
    numeric = np.zeros_like(params)
    for i in range(params.size):
        saved = params[i]
        params[i] = saved + EPS
        plus = loss_sum(model, x, y)
        params[i] = saved - EPS
        minus = loss_sum(model, x, y)
        params[i] = saved
        numeric[i] = (plus - minus) / (2 * EPS)
    return numeric


def loss_sum(model, x, y):
    # Dropout draws a fresh mask per forward pass: replay the same mask for every evaluation.
    for layer in model.layers:
        layer.rng = np.random.default_rng(7)
    return model.loss_and_gradient(x, y)[0]


def assert_gradients_match(model, x, y):
    loss_sum(model, x, y)
    analytic = model.grads.copy()
    numeric = numeric_gradient(model, x, y)
    assert np.abs(analytic).max() > 1e-6, "a zero gradient would make this check vacuous"
    scale = max(1.0, np.abs(numeric).max())
    assert np.abs(analytic - numeric).max() / scale < 1e-6


def compiled(model_layers, loss, seed=0):
    model = Sequential(model_layers, dtype="float64", seed=seed)
    model.compile(loss=loss, optimizer="sgd")
    return model


rng = np.random.default_rng(42)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_each_activation(activation):
    x = rng.normal(size=(5, 3))
    model = compiled(
        [layers.Dense(4, activation="tanh", input_dim=3), layers.Dense(3, activation=activation)],
        "mse",
    )
    y = rng.uniform(size=(5, 3))
    assert_gradients_match(model, x, y)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_layer(activation):
    x = rng.normal(size=(5, 3))
    model = compiled([layers.Dense(4, input_dim=3), layers.Activation(activation)], "mse")
    assert_gradients_match(model, x, rng.uniform(size=(5, 4)))


def test_dropout_layer():
    x = rng.normal(size=(6, 3))
    model = compiled(
        [layers.Dense(8, activation="tanh", input_dim=3), layers.Dropout(0.4), layers.Dense(2)],
        "mse",
    )
    assert_gradients_match(model, x, rng.normal(size=(6, 2)))


def test_embedding_layer_with_repeated_ids():
    ids = np.array([[0, 2, 2, 4], [1, 1, 3, 0]])
    model = compiled(
        [layers.Embedding(5, 3, input_length=4), layers.Dense(2, activation="tanh")], "mse"
    )
    assert_gradients_match(model, ids, rng.normal(size=(2, 4, 2)))


@pytest.mark.parametrize("return_sequences", [True, False])
def test_lstm_over_six_timesteps(return_sequences):
    x = rng.normal(size=(3, 6, 2))
    model = compiled(
        [
            layers.Dense(3, activation="tanh", input_shape=(6, 2)),
            layers.LSTM(4, return_sequences=return_sequences),
            layers.Dense(2),
        ],
        "mse",
    )
    y = rng.normal(size=(3, 6, 2) if return_sequences else (3, 2))
    assert_gradients_match(model, x, y)


def test_stacked_lstm_char_model_with_fused_sparse_softmax():
    ids = rng.integers(0, 5, size=(3, 5))
    labels = rng.integers(0, 5, size=(3, 5))
    model = compiled(
        [
            layers.Embedding(5, 3),
            layers.LSTM(4, return_sequences=True),
            layers.LSTM(3, return_sequences=True),
            layers.Dense(5, activation="softmax"),
        ],
        "sparse_categorical_crossentropy",
    )
    assert model._fused
    assert_gradients_match(model, ids, labels)


def probabilities_model(loss):
    # Softmax as a separate Activation layer, plus a non-CE loss forces the unfused path.
    return compiled([layers.Dense(3, input_dim=4), layers.Activation("softmax")], loss)


@pytest.mark.parametrize(
    "loss, targets",
    [
        ("mse", lambda: rng.uniform(size=(5, 3))),
        ("half_squared_error", lambda: rng.uniform(size=(5, 3))),
        ("binary_crossentropy", lambda: rng.integers(0, 2, size=(5, 3)).astype(float)),
        ("categorical_crossentropy", lambda: rng.dirichlet(np.ones(3), size=5)),
        ("sparse_categorical_crossentropy", lambda: rng.integers(0, 3, size=5)),
    ],
)
def test_each_loss_unfused(loss, targets):
    model = compiled([layers.Dense(3, activation="sigmoid", input_dim=4)], loss)
    assert not model._fused
    assert_gradients_match(model, rng.normal(size=(5, 4)), targets())


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("loss", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_crossentropy_on_softmax_fused_and_unfused(loss, fused):
    model = probabilities_model(loss)
    if not fused:  # same maths through the probabilities path
        model.layers[-1].emit_logits = False
        model._fused = False
    assert model._fused == fused
    x = rng.normal(size=(5, 4))
    y = rng.integers(0, 3, size=5)
    if loss == "categorical_crossentropy":
        y = np.eye(3)[y]
    assert_gradients_match(model, x, y)


def test_fused_and_unfused_losses_agree():
    x = rng.normal(size=(6, 4))
    y = rng.integers(0, 3, size=6)
    fused = probabilities_model("sparse_categorical_crossentropy")
    loss_fused, grads_fused, _ = fused.loss_and_gradient(x, y)
    grads_fused = grads_fused.copy()
    fused.layers[-1].emit_logits, fused._fused = False, False
    loss_plain, grads_plain, _ = fused.loss_and_gradient(x, y)
    np.testing.assert_allclose(loss_fused, loss_plain, rtol=1e-12)
    np.testing.assert_allclose(grads_fused, grads_plain, rtol=1e-9, atol=1e-12)


def test_sequence_loss_is_mean_over_timesteps_per_sequence():
    model = compiled(
        [layers.Embedding(4, 3), layers.LSTM(5, return_sequences=True), layers.Dense(4, "softmax")],
        losses.SparseCategoricalCrossentropy(),
    )
    ids = rng.integers(0, 4, size=(2, 7))
    labels = rng.integers(0, 4, size=(2, 7))
    total, _, n = model.loss_and_gradient(ids, labels)
    probs = model.predict(ids)
    picked = np.take_along_axis(probs, labels[..., None], axis=-1)[..., 0]
    assert n == 2
    np.testing.assert_allclose(total, (-np.log(picked)).mean(axis=1).sum(), rtol=1e-10)
