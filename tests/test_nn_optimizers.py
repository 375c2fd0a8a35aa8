"""Optimizers against hand-written Keras 3 update formulas, schedules, clipping, state."""

import math

import numpy as np
import pytest

from sparknn.errors import SparknnError
from sparknn.nn import optimizers

rng = np.random.default_rng(3)
W0 = rng.normal(size=6)
GRADS = [rng.normal(size=6) for _ in range(4)]


def run(optimizer, grads=GRADS):
    w = W0.copy()
    for g in grads:
        optimizer.apply(w, g.copy())
    return w


def test_plain_sgd():
    expected = W0 - 0.1 * sum(GRADS)
    np.testing.assert_allclose(run(optimizers.SGD(0.1)), expected, rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum(nesterov):
    lr, mu = 0.05, 0.9
    w, v = W0.copy(), np.zeros(6)
    for g in GRADS:
        v = mu * v - lr * g
        w = w + (mu * v - lr * g if nesterov else v)
    got = run(optimizers.SGD(lr, momentum=mu, nesterov=nesterov))
    np.testing.assert_allclose(got, w, rtol=1e-12)


def test_rmsprop():
    lr, rho, eps = 0.01, 0.9, 1e-7
    w, v = W0.copy(), np.zeros(6)
    for g in GRADS:
        v = rho * v + (1 - rho) * g**2
        w = w - lr * g / np.sqrt(v + eps)
    np.testing.assert_allclose(run(optimizers.RMSprop(lr)), w, rtol=1e-12)


def test_adam():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v = W0.copy(), np.zeros(6), np.zeros(6)
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        w = w - alpha * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(run(optimizers.Adam(lr)), w, rtol=1e-12)


def test_nadam():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v, u_prod = W0.copy(), np.zeros(6), np.zeros(6), 1.0
    for t, g in enumerate(GRADS, start=1):
        u_t = b1 * (1 - 0.5 * 0.96**t)
        u_t1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        u_prod = u_prod * u_t
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = u_t1 * m / (1 - u_prod * u_t1) + (1 - u_t) * g / (1 - u_prod)
        v_hat = v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(run(optimizers.Nadam(lr)), w, rtol=1e-12)


def test_schedules_follow_keras_formulas():
    assert optimizers.ExponentialDecay(0.1, 10, 0.5)(5) == pytest.approx(0.1 * 0.5**0.5)
    assert optimizers.ExponentialDecay(0.1, 10, 0.5, staircase=True)(15) == pytest.approx(0.05)
    assert optimizers.InverseTimeDecay(0.1, 10, 1.0)(10) == pytest.approx(0.05)
    assert optimizers.CosineDecay(0.1, 100)(50) == pytest.approx(0.05)
    assert optimizers.CosineDecay(0.1, 100, alpha=0.1)(1000) == pytest.approx(0.01)
    piecewise = optimizers.PiecewiseConstantDecay([2, 5], [1.0, 0.5, 0.1])
    assert [piecewise(s) for s in (0, 2, 3, 5, 6)] == [1.0, 1.0, 0.5, 0.5, 0.1]


def test_schedule_drives_the_learning_rate_per_step():
    schedule = optimizers.ExponentialDecay(0.1, 1, 0.5)
    expected = W0 - sum(0.1 * 0.5**t * g for t, g in enumerate(GRADS))
    np.testing.assert_allclose(run(optimizers.SGD(schedule)), expected, rtol=1e-12)


def test_clipnorm_clips_the_global_norm_only_when_above():
    g = np.array([3.0, 4.0])  # norm 5
    w = np.zeros(2)
    optimizers.SGD(1.0, clipnorm=1.0).apply(w, g.copy())
    np.testing.assert_allclose(w, [-0.6, -0.8])
    w = np.zeros(2)
    optimizers.SGD(1.0, clipnorm=10.0).apply(w, g.copy())
    np.testing.assert_allclose(w, [-3.0, -4.0])


@pytest.mark.parametrize(
    "make",
    [
        lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        lambda: optimizers.RMSprop(0.01),
        lambda: optimizers.Adam(0.01),
        lambda: optimizers.Nadam(0.01),
    ],
)
def test_state_round_trip_resumes_identically(make):
    straight = run(make())
    first = make()
    w = run(first, GRADS[:2])
    state = first.get_state()
    assert all(isinstance(value, np.ndarray) for value in state.values())
    resumed = make()
    resumed.set_state(state)
    for g in GRADS[2:]:
        resumed.apply(w, g.copy())
    np.testing.assert_array_equal(w, straight)


def test_config_round_trip():
    opt = optimizers.Adam(optimizers.CosineDecay(0.01, 50), beta_1=0.8, clipnorm=2.0)
    rebuilt = optimizers.from_config(opt.get_config())
    np.testing.assert_array_equal(run(rebuilt), run(opt))


def test_bad_optimizer_arguments():
    with pytest.raises(SparknnError, match="unknown optimizer 'adamw'.*sgd, rmsprop, adam, nadam"):
        optimizers.get("adamw")
    with pytest.raises(SparknnError, match="learning_rate must be positive"):
        optimizers.SGD(-1)
    with pytest.raises(SparknnError, match="momentum"):
        optimizers.SGD(0.1, momentum=1.5)
