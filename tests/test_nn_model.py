"""Sequential: the training contract, contiguous parameters, config, persistence, errors."""

import json
import os

import numpy as np
import pytest

import sparknn
from sparknn.errors import SparknnError
from sparknn.nn import callbacks, layers, losses, optimizers

rng = np.random.default_rng(11)


def char_model(seed=0, dtype="float32", optimizer=None):
    model = sparknn.Sequential(
        [
            layers.Embedding(6, 4),
            layers.LSTM(8, return_sequences=True),
            layers.Dropout(0.2),
            layers.Dense(6, activation="softmax"),
        ],
        seed=seed,
        dtype=dtype,
    )
    model.compile(
        "sparse_categorical_crossentropy", optimizer or optimizers.Adam(0.01, clipnorm=1.0)
    )
    return model


IDS = rng.integers(0, 6, size=(12, 5))
LABELS = rng.integers(0, 6, size=(12, 5))


def test_params_are_one_contiguous_vector_viewed_by_layers():
    model = char_model()
    model.build((None,))
    assert model.params.flags.c_contiguous and model.grads.shape == model.params.shape
    assert model.params.dtype == np.float32 == model.grads.dtype
    assert model.params.size == sum(w.size for w in model.get_weights())
    model.params[:] = np.arange(model.params.size, dtype=np.float32)
    kernel = model.layers[1].params["kernel"]
    assert np.shares_memory(kernel, model.params)
    assert kernel[0, 0] == model.layers[0].params["embeddings"].size
    _, grads, _ = model.loss_and_gradient(IDS, LABELS)
    assert grads is model.grads and np.shares_memory(model.layers[3].grads["kernel"], model.grads)


def test_partition_sums_equal_the_full_batch_and_fit_is_the_two_calls():
    full = char_model(dtype="float64")
    full.layers[2].rate = 0.0  # dropout masks differ by batch layout; the sum identity does not
    loss_all, grads_all, n_all = full.loss_and_gradient(IDS, LABELS)
    grads_all = grads_all.copy()
    parts = [(IDS[:5], LABELS[:5]), (IDS[5:], LABELS[5:])]
    loss_sum, grad_sum, n = 0.0, 0.0, 0
    for x, y in parts:
        l, g, k = full.loss_and_gradient(x, y)
        loss_sum, grad_sum, n = loss_sum + l, grad_sum + g, n + k
    assert n == n_all == 12
    np.testing.assert_allclose(loss_sum, loss_all, rtol=1e-12)
    np.testing.assert_allclose(grad_sum, grads_all, rtol=1e-9, atol=1e-12)

    # fit == a loop of loss_and_gradient + apply_gradients on the same batches
    fitted, manual = char_model(seed=5), char_model(seed=5)
    fitted.fit(IDS, LABELS, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for _ in range(2):
        for start in range(0, 12, 4):
            _, g, k = manual.loss_and_gradient(IDS[start : start + 4], LABELS[start : start + 4])
            manual.apply_gradients(g, k)
    np.testing.assert_array_equal(fitted.params, manual.params)


def test_mean_reduction_divides_by_n_and_sum_does_not():
    for reduction, divisor in (("mean", 4), ("sum", 1)):
        model = sparknn.Sequential([layers.Dense(1, input_dim=2)], dtype="float64", seed=0)
        model.compile(losses.MeanSquaredError(reduction=reduction), optimizers.SGD(0.1))
        before = model.params.copy()
        _, g, n = model.loss_and_gradient(rng.normal(size=(4, 2)), rng.normal(size=(4, 1)))
        expected = before - 0.1 * g / divisor
        model.apply_gradients(g, n)
        np.testing.assert_allclose(model.params, expected, rtol=1e-12)


def test_seed_makes_init_shuffle_and_dropout_reproducible():
    a, b, c = char_model(seed=1), char_model(seed=1), char_model(seed=2)
    for model in (a, b, c):
        model.fit(IDS, LABELS, epochs=2, batch_size=4, verbose=0)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.allclose(a.params, c.params)


def test_dropout_is_inverted_and_off_at_inference():
    drop = sparknn.Sequential([layers.Dropout(0.25, input_shape=(4000,))], seed=0)
    x = np.ones((2, 4000), dtype=np.float32)
    np.testing.assert_array_equal(drop.predict(x), x)
    out = drop.layers[0].forward(x, training=True)
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs(out.mean() - 1.0) < 0.05


def test_config_is_json_and_rebuilds_the_same_function():
    model = char_model(seed=3)
    model.fit(IDS, LABELS, epochs=1, batch_size=6, verbose=0)
    config = json.loads(json.dumps(model.get_config()))
    rebuilt = sparknn.Sequential.from_config(config)
    rebuilt.params[:] = model.params
    np.testing.assert_array_equal(rebuilt.predict(IDS), model.predict(IDS))
    assert rebuilt.optimizer.clipnorm == 1.0 and rebuilt.loss.name == model.loss.name


def test_save_and_load_resume_training_identically(tmp_path):
    path = tmp_path / "model.npz"
    model = char_model(seed=4)
    model.fit(IDS, LABELS, epochs=1, batch_size=6, shuffle=False, verbose=0)
    model.save(path)
    assert os.listdir(tmp_path) == ["model.npz"]  # no temp file left behind
    loaded = sparknn.load(path)
    np.testing.assert_array_equal(loaded.predict(IDS), model.predict(IDS))
    for m in (model, loaded):
        m.layers[2].rate = 0.0  # the resumed dropout stream is not part of a checkpoint
        m.fit(IDS, LABELS, epochs=1, batch_size=6, shuffle=False, verbose=0)
    np.testing.assert_array_equal(loaded.params, model.params)


def test_load_rejects_non_models_and_never_unpickles(tmp_path):
    with pytest.raises(SparknnError, match="no model file"):
        sparknn.load(tmp_path / "missing.npz")
    bogus = tmp_path / "bogus.npz"
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    os.replace(tmp_path / "obj.npy", bogus)
    with pytest.raises(SparknnError, match="not a sparknn model"):
        sparknn.load(bogus)
    model = char_model()
    model.build((None,))
    model.save(tmp_path / "model.npz")
    whole = (tmp_path / "model.npz").read_bytes()
    (tmp_path / "model.npz").write_bytes(whole[: len(whole) // 2])  # a copy cut short
    with pytest.raises(SparknnError, match="not a sparknn model"):
        sparknn.load(tmp_path / "model.npz")


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    model = char_model()
    model.build((None,))
    model.save(path)
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", explode)
    with pytest.raises(OSError):
        model.save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.npz"]


def test_weights_round_trip_and_shape_errors():
    model = sparknn.Sequential([layers.Dense(3, input_dim=2), layers.Dense(1)])
    weights = [np.full(w.shape, k, dtype=np.float32) for k, w in enumerate(model.get_weights())]
    model.set_weights(weights)
    for got, want in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(SparknnError, match=r"layer 'dense' weight 'kernel' has shape \(2, 3\)"):
        model.set_weights([np.zeros((3, 2)), *weights[1:]])


def test_shape_mismatch_names_the_layer_and_both_shapes():
    model = sparknn.Sequential([layers.Dense(4, input_dim=3), layers.Dense(1)])
    model.compile("mse", "sgd")
    with pytest.raises(
        SparknnError, match=r"layer 'dense' expects input shape \(None, 3\) but got \(5, 2\)"
    ):
        model.predict(np.zeros((5, 2)))
    with pytest.raises(
        SparknnError, match=r"expects targets shaped like the model output \(5, 1\), got \(5, 2\)"
    ):
        model.fit(np.zeros((5, 3)), np.zeros((5, 2)), verbose=0)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(
        SparknnError, match="unknown activation 'swish'; choose one of linear, sigmoid"
    ):
        layers.Dense(2, activation="swish")
    model = sparknn.Sequential([layers.Dense(1, input_dim=1)])
    with pytest.raises(
        SparknnError, match="unknown loss 'hinge'; choose one of mse, half_squared_error"
    ):
        model.compile("hinge", "sgd")
    with pytest.raises(SparknnError, match="unknown optimizer 'adagrad'; choose one of sgd"):
        model.compile("mse", "adagrad")
    with pytest.raises(SparknnError, match="unknown dtype 'float16'"):
        sparknn.Sequential(dtype="float16")
    with pytest.raises(SparknnError, match="unknown backend 'cuda'; choose one of numpy, opencl"):
        sparknn.Sequential(backend="cuda")
    with pytest.raises(SparknnError, match=r"params must have shape \(2,\), got \(3,\)"):
        model.params = np.zeros(3)


def test_nan_loss_stops_training_with_a_clear_error():
    model = sparknn.Sequential([layers.Dense(1, input_dim=2)], seed=0)
    model.compile("mse", optimizers.SGD(1e30))
    x, y = rng.normal(size=(8, 2)) * 1e10, rng.normal(size=(8, 1))
    with np.errstate(all="ignore"), pytest.raises(SparknnError, match="loss became (nan|inf)"):
        model.fit(x, y, epochs=50, batch_size=8, verbose=0)


def test_an_exploding_finite_loss_stops_training_too():
    """A loss a million times the first has diverged even while it is finite."""
    model = sparknn.Sequential([layers.Dense(1, input_dim=2)], seed=0)
    model.compile("mse", optimizers.SGD(1e8))
    x, y = rng.normal(size=(16, 2)), rng.normal(size=(16, 1))
    with pytest.raises(SparknnError, match=r"^loss became \S+ at epoch 1, batch 2: training"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(model.params).all()


def test_embedding_and_sparse_label_range_errors():
    model = char_model()
    with pytest.raises(SparknnError, match=r"layer 'embedding': ids must be in \[0, 6\)"):
        model.predict(np.array([[0, 9]]))
    with pytest.raises(SparknnError, match=r"class ids must be in \[0, 6\)"):
        model.loss_and_gradient(IDS, LABELS + 6)


def test_fit_validation_history_and_early_stopping(capsys):
    x = rng.normal(size=(40, 3))
    y = (x.sum(axis=1) > 0).astype(int)
    model = sparknn.Sequential([layers.Dense(2, activation="softmax", input_dim=3)], seed=0)
    model.compile("sparse_categorical_crossentropy", optimizers.SGD(0.5), metrics=["accuracy"])
    stopper = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    history = model.fit(x, y, epochs=5, batch_size=8, validation_data=(x, y), callbacks=[stopper])
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == [0, 1] and stopper.stopped_epoch == 1
    assert "Epoch 1/5 - loss:" in capsys.readouterr().out
    loss, accuracy = model.evaluate(x, y)
    assert loss == pytest.approx(history.history["val_loss"][-1], rel=0.5)
    assert 0.5 < accuracy <= 1.0


def test_to_categorical_and_normalize():
    np.testing.assert_array_equal(sparknn.to_categorical([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    assert sparknn.to_categorical(np.array([[1], [0]])).shape == (2, 2)
    with pytest.raises(SparknnError, match="does not fit num_classes=2"):
        sparknn.to_categorical([2], 2)
    out = sparknn.normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_stateful_step_matches_the_full_sequence_forward():
    model = char_model(seed=6)
    model.layers[2].rate = 0.0
    full = model.predict(IDS[:3])
    model.reset_states()
    steps = np.stack([model.predict_step(IDS[:3, t]) for t in range(IDS.shape[1])], axis=1)
    np.testing.assert_allclose(steps, full, rtol=1e-5, atol=1e-6)
    lstm = model.layers[1]
    x_t = model.layers[0].forward(IDS[:3, 0])
    h, state = lstm.cell_step(x_t)
    h2, _ = lstm.cell_step(model.layers[0].forward(IDS[:3, 1]), state)
    two_steps = lstm.forward(model.layers[0].forward(IDS[:3, :2]))[:, -1]
    np.testing.assert_allclose(h2, two_steps, rtol=1e-5, atol=1e-7)


def test_initializers_follow_keras_definitions():
    def kernel(init):
        model = sparknn.Sequential(
            [layers.Dense(300, kernel_initializer=init, input_dim=200)], seed=0
        )
        return model.get_weights()[0]

    glorot_limit = np.sqrt(6 / 500)
    w = kernel("glorot_uniform")
    assert w.max() <= glorot_limit and w.min() >= -glorot_limit and w.max() > 0.95 * glorot_limit
    w = kernel("he_uniform")
    assert np.abs(w).max() <= np.sqrt(6 / 200) and np.abs(w).max() > 0.95 * np.sqrt(6 / 200)
    assert abs(kernel("he_normal").std() - np.sqrt(2 / 200)) < 0.1 * np.sqrt(2 / 200)
    assert np.abs(kernel("uniform")).max() <= 0.05
    w = kernel("standard_normal")
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01 and np.abs(w).max() > 3
    lstm = sparknn.Sequential([layers.LSTM(16, input_shape=(None, 3))], seed=0)
    recurrent = lstm.layers[0].params["recurrent_kernel"].reshape(16, 64)
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(16), atol=1e-5)
    bias = lstm.layers[0].params["bias"]
    assert (bias[16:32] == 1).all() and (bias[:16] == 0).all()  # Keras unit_forget_bias
    with pytest.raises(SparknnError, match="unknown kernel_initializer 'xavier'; choose one of"):
        layers.Dense(2, kernel_initializer="xavier")
