"""The classic small networks, through sparknn's public API."""

import numpy as np

import sparknn
from sparknn.nn import layers, losses, optimizers

X_SEED = np.array([[0, 0, 1], [1, 1, 1], [1, 0, 1], [0, 1, 1]], dtype=float)
Y_SEED = np.array([[0, 1, 1, 0]]).T


def test_nine_line_network_reproduces_its_published_prediction():
    np.random.seed(1)
    initial = 2 * np.random.random((3, 1)) - 1
    model = sparknn.Sequential(
        [layers.Dense(1, activation="sigmoid", use_bias=False, input_dim=3)], dtype="float64"
    )
    model.set_weights([initial])
    # The seed's rule w += X.T @ ((y - o) * o * (1 - o)) is SGD(lr=1) on sum of 1/2 (y - o)^2.
    model.compile(loss=losses.HalfSquaredError(reduction="sum"), optimizer=optimizers.SGD(1.0))
    model.fit(X_SEED, Y_SEED, epochs=10_000, batch_size=4, shuffle=False, verbose=0)
    prediction = model.predict(np.array([[1, 0, 0]]))[0, 0]
    assert abs(prediction - 0.99993704) < 1e-7


def test_xor_with_a_3_4_1_sigmoid_network():
    xor = np.array([[0, 1, 1, 0]]).T
    x = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
    model = sparknn.Sequential(
        [
            layers.Dense(4, activation="sigmoid", input_dim=3),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=1,
        dtype="float64",
    )
    model.compile(losses.HalfSquaredError(reduction="sum"), optimizers.SGD(1.0, momentum=0.9))
    model.fit(x, xor, epochs=3000, batch_size=4, shuffle=False, verbose=0)
    error = np.abs(model.predict(x) - xor).mean()
    assert error < 0.01


def _truth_table(op):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([op(int(a), int(b)) for a, b in x])
    return x, y


def _learn_gate(op):
    x, y = _truth_table(op)
    model = sparknn.Sequential([layers.Dense(2, activation="softmax", input_dim=2)], seed=0)
    model.compile("categorical_crossentropy", optimizers.SGD(0.2), metrics=["accuracy"])
    history = model.fit(
        x, sparknn.to_categorical(y, 2), epochs=500, batch_size=4, shuffle=False, verbose=0
    )
    return model, x, y, history


def test_or_gate_reaches_full_accuracy():
    model, x, y, history = _learn_gate(lambda a, b: a | b)
    assert (model.predict(x).argmax(axis=1) == y).all()
    assert history.history["accuracy"][-1] == 1.0


def test_and_gate_reaches_full_accuracy():
    model, x, y, history = _learn_gate(lambda a, b: a & b)
    assert (model.predict(x).argmax(axis=1) == y).all()
    assert history.history["accuracy"][-1] == 1.0


def test_summary_shows_keras_parameter_counts():
    model = sparknn.Sequential([layers.Dense(2, activation="relu", input_dim=5), layers.Dense(1)])
    lines = []
    model.summary(print_fn=lines.append)
    rows = {line.split()[0]: line.split() for line in lines if line.startswith("dense")}
    assert rows["dense"][-1] == "12" and "(None, 2)" in " ".join(rows["dense"])
    assert rows["dense_1"][-1] == "3" and "(None, 1)" in " ".join(rows["dense_1"])
    assert "Total params: 15" in lines
    assert model.count_params() == 15


def test_char_lstm_overfits_a_string_and_generates_it_back():
    text = "the quick brown fox. "
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    window = 8
    starts = np.arange(len(ids))
    x = ids[(starts[:, None] + np.arange(window)) % len(ids)]
    y = ids[(starts[:, None] + np.arange(1, window + 1)) % len(ids)]
    model = sparknn.Sequential(
        [
            layers.Embedding(len(chars), 16),
            layers.LSTM(32, return_sequences=True),
            layers.Dense(len(chars), activation="softmax"),
        ],
        seed=0,
    )
    model.compile("sparse_categorical_crossentropy", optimizers.Adam(0.02))
    model.fit(x, y, epochs=200, batch_size=len(x), verbose=0)

    model.reset_states()
    generated = [ids[0]]
    for _ in range(2 * len(text) - 1):
        probs = model.predict_step(np.array([generated[-1]]))
        generated.append(int(probs[0].argmax()))
    assert "".join(chars[i] for i in generated) == text + text
