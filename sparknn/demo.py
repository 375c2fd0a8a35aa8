"""The quick-start main job (``make demo``): the classic networks through sparknn's API.

Later issues replace this with word2vec + char-LM on a local cluster.
"""

import numpy as np


def nine_line_network():
    """The classic 9-line network: one sigmoid unit, no bias, the seed's exact update rule."""
    from sparknn import Sequential
    from sparknn.nn import layers, losses, optimizers

    x = np.array([[0, 0, 1], [1, 1, 1], [1, 0, 1], [0, 1, 1]], dtype=float)
    y = np.array([[0, 1, 1, 0]]).T
    np.random.seed(1)
    model = Sequential(
        [layers.Dense(1, activation="sigmoid", use_bias=False, input_dim=3)], dtype="float64"
    )
    model.set_weights([2 * np.random.random((3, 1)) - 1])
    model.compile(losses.HalfSquaredError(reduction="sum"), optimizers.SGD(1.0))
    model.fit(x, y, epochs=10_000, batch_size=4, shuffle=False, verbose=0)
    return float(model.predict(np.array([[1, 0, 0]]))[0, 0])


def xor_network():
    from sparknn import Sequential
    from sparknn.nn import layers, losses, optimizers

    x = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
    y = np.array([[0, 1, 1, 0]]).T
    model = Sequential(
        [layers.Dense(4, activation="sigmoid", input_dim=3), layers.Dense(1, activation="sigmoid")],
        seed=1,
        dtype="float64",
    )
    model.compile(losses.HalfSquaredError(reduction="sum"), optimizers.SGD(1.0, momentum=0.9))
    model.fit(x, y, epochs=3000, batch_size=4, shuffle=False, verbose=0)
    return model.predict(x)[:, 0], y[:, 0]


def logic_gate(name, op):
    from sparknn import Sequential, to_categorical
    from sparknn.nn import layers, optimizers

    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([op(int(a), int(b)) for a, b in x])
    model = Sequential([layers.Dense(2, activation="softmax", input_dim=2)], seed=0)
    model.compile("categorical_crossentropy", optimizers.SGD(0.2), metrics=["accuracy"])
    model.fit(x, to_categorical(y, 2), epochs=500, batch_size=4, shuffle=False, verbose=0)
    _, accuracy = model.evaluate(x, to_categorical(y, 2))
    return model.predict(x).argmax(axis=1), y, accuracy


def main() -> int:
    from sparknn import Sequential, __version__
    from sparknn.nn import layers

    print(f"sparknn {__version__}: classic networks on the numpy network core\n")
    print(
        f"9-line network, prediction for [1, 0, 0]: {nine_line_network():.8f} (expected 0.99993704)"
    )

    out, target = xor_network()
    print(
        f"XOR 3-4-1 sigmoid: outputs {np.round(out, 3)} for targets {target}, "
        f"mean error {np.abs(out - target).mean():.4f}"
    )

    for name, op in (("OR", lambda a, b: a | b), ("AND", lambda a, b: a & b)):
        predicted, target, accuracy = logic_gate(name, op)
        print(
            f"{name} with Dense(2)+softmax, SGD(0.2): predicted {predicted}, "
            f"target {target}, accuracy {accuracy:.0%}"
        )

    print()
    model = Sequential([layers.Dense(2, activation="relu", input_dim=5), layers.Dense(1)])
    model.summary()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
