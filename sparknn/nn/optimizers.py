"""Optimizers with Keras 3 update rules, applied in place to the model's flat parameter vector.

Because a model's parameters and gradients are each one contiguous vector, an optimizer's
slots (momenta, velocities) are one vector each too, and a step is a few whole-vector numpy
operations. State is a dict of named arrays (``get_state``/``set_state``) so trainers can
checkpoint it without pickle.

``clipnorm`` clips by the *global* norm of the whole gradient vector (Keras calls this
``global_clipnorm``): ``g *= clipnorm / max(norm(g), clipnorm)``.
"""

import math

import numpy as np

from sparknn.errors import SparknnError

# -- learning-rate schedules -------------------------------------------------------------------


class LearningRateSchedule:
    """A function of the step count (0 for the first update), Keras style."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self):
        return {"class_name": type(self).__name__, "config": dict(vars(self))}


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (floored if staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        if decay_steps <= 0:
            raise SparknnError(f"ExponentialDecay: decay_steps must be positive, got {decay_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = int(decay_steps)
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)

    def __call__(self, step):
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate**p


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        if decay_steps <= 0:
            raise SparknnError(f"InverseTimeDecay: decay_steps must be positive, got {decay_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = int(decay_steps)
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)

    def __call__(self, step):
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1 + self.decay_rate * p)


class CosineDecay(LearningRateSchedule):
    """Cosine from ``initial_learning_rate`` to ``alpha * initial`` over ``decay_steps``."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0):
        if decay_steps <= 0:
            raise SparknnError(f"CosineDecay: decay_steps must be positive, got {decay_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = int(decay_steps)
        self.alpha = float(alpha)

    def __call__(self, step):
        p = min(step, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1 + math.cos(math.pi * p))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` while ``step <= boundaries[i]`` (and ``values[-1]`` after the last)."""

    def __init__(self, boundaries, values):
        if len(values) != len(boundaries) + 1:
            raise SparknnError(
                "PiecewiseConstantDecay: need len(values) == len(boundaries) + 1, "
                f"got {len(values)} values and {len(boundaries)} boundaries"
            )
        self.boundaries = [int(b) for b in boundaries]
        self.values = [float(v) for v in values]

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values, strict=False):
            if step <= boundary:
                return value
        return self.values[-1]


SCHEDULES = {
    cls.__name__: cls
    for cls in (ExponentialDecay, InverseTimeDecay, CosineDecay, PiecewiseConstantDecay)
}


# -- optimizers -------------------------------------------------------------------------------


class Optimizer:
    """Base: learning rate (float or schedule), global-norm clipping, the step counter."""

    name = "optimizer"
    slots: tuple[str, ...] = ()

    def __init__(self, learning_rate, clipnorm=None):
        if isinstance(learning_rate, dict):
            learning_rate = schedule_from_config(learning_rate)
        if not isinstance(learning_rate, LearningRateSchedule):
            if not float(learning_rate) > 0:
                raise SparknnError(f"learning_rate must be positive, got {learning_rate!r}")
            learning_rate = float(learning_rate)
        if clipnorm is not None and not float(clipnorm) > 0:
            raise SparknnError(f"clipnorm must be positive or None, got {clipnorm!r}")
        self.learning_rate = learning_rate
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self.iterations = 0
        self._state: dict[str, np.ndarray] = {}

    def current_learning_rate(self) -> float:
        if isinstance(self.learning_rate, LearningRateSchedule):
            return float(self.learning_rate(self.iterations))
        return self.learning_rate

    def apply(self, params: np.ndarray, grads: np.ndarray) -> None:
        """One update of ``params`` in place. ``grads`` may be scaled in place by clipping."""
        if self.clipnorm is not None:
            clip_by_global_norm(grads, self.clipnorm)
        if set(self._state) != set(self.slots) or any(
            s.shape != params.shape or s.dtype != params.dtype for s in self._state.values()
        ):
            self._state = {name: np.zeros_like(params) for name in self.slots}
        self._update(params, grads, self.current_learning_rate())
        self.iterations += 1

    def _update(self, params, grads, lr) -> None:
        raise NotImplementedError

    # -- checkpointing ------------------------------------------------------------------------

    def get_state(self) -> dict[str, np.ndarray]:
        """Named arrays (copies): ``iterations`` plus this optimizer's slot vectors."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        state.update({name: value.copy() for name, value in self._state.items()})
        return state

    def set_state(self, state: dict) -> None:
        unknown = set(state) - {"iterations", *self.slots}
        if unknown:
            raise SparknnError(
                f"{type(self).__name__} state has no {sorted(unknown)}; "
                f"expected iterations, {', '.join(self.slots) or '(no slots)'}"
            )
        self.iterations = int(np.asarray(state.get("iterations", 0)))
        self._state = {
            name: np.array(state[name], copy=True) for name in self.slots if name in state
        }

    def _base_config(self):
        lr = self.learning_rate
        return {
            "learning_rate": lr.get_config() if isinstance(lr, LearningRateSchedule) else lr,
            "clipnorm": self.clipnorm,
        }

    def get_config(self):
        return {"class_name": type(self).__name__, "config": self._base_config()}


def clip_by_global_norm(grads: np.ndarray, clipnorm: float) -> float:
    """Scale ``grads`` in place so its L2 norm is at most ``clipnorm``; returns the old norm."""
    norm = float(np.sqrt(np.dot(grads, grads)))
    if norm > clipnorm:
        grads *= grads.dtype.type(clipnorm / norm)
    return norm


class SGD(Optimizer):
    """Plain: ``w -= lr*g``. Momentum: ``v = momentum*v - lr*g; w += v``.

    Nesterov: ``w += momentum*v - lr*g`` with the updated ``v``.
    """

    name = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, clipnorm=None):
        super().__init__(learning_rate, clipnorm)
        if not 0.0 <= float(momentum) < 1.0:
            raise SparknnError(f"SGD: momentum must be in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.slots = ("momentum",) if self.momentum > 0 else ()

    def _update(self, params, grads, lr):
        if self.momentum == 0:
            params -= lr * grads
            return
        v = self._state["momentum"]
        v *= self.momentum
        v -= lr * grads
        if self.nesterov:
            params += self.momentum * v - lr * grads
        else:
            params += v

    def get_config(self):
        config = super().get_config()
        config["config"].update(momentum=self.momentum, nesterov=self.nesterov)
        return config


class RMSprop(Optimizer):
    """``v = rho*v + (1-rho)*g^2; w -= lr*g / sqrt(v + eps)`` (Keras 3: eps inside the root)."""

    name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, clipnorm=None):
        super().__init__(learning_rate, clipnorm)
        self.rho = float(rho)
        self.epsilon = float(epsilon)
        self.slots = ("velocity",)

    def _update(self, params, grads, lr):
        v = self._state["velocity"]
        v *= self.rho
        v += (1 - self.rho) * grads * grads
        params -= lr * grads / np.sqrt(v + self.epsilon)

    def get_config(self):
        config = super().get_config()
        config["config"].update(rho=self.rho, epsilon=self.epsilon)
        return config


class Adam(Optimizer):
    """Keras Adam: ``w -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)``."""

    name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, clipnorm=None):
        super().__init__(learning_rate, clipnorm)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.slots = ("momentum", "velocity")

    def _moments(self, grads):
        m, v = self._state["momentum"], self._state["velocity"]
        m += (grads - m) * (1 - self.beta_1)
        v += (grads * grads - v) * (1 - self.beta_2)
        return m, v

    def _update(self, params, grads, lr):
        t = self.iterations + 1
        alpha = lr * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        m, v = self._moments(grads)
        params -= alpha * m / (np.sqrt(v) + self.epsilon)

    def get_config(self):
        config = super().get_config()
        config["config"].update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon)
        return config


class Nadam(Adam):
    """Keras Nadam (Dozat 2015): Adam with Nesterov momentum and the 0.96 momentum schedule."""

    name = "nadam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, clipnorm=None):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, clipnorm)
        self.u_product = 1.0  # product of the momentum schedule so far

    def _update(self, params, grads, lr):
        t = self.iterations + 1
        u_t = self.beta_1 * (1 - 0.5 * 0.96**t)
        u_next = self.beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
        self.u_product *= u_t
        u_product_next = self.u_product * u_next
        m, v = self._moments(grads)
        m_hat = (u_next / (1 - u_product_next)) * m + ((1 - u_t) / (1 - self.u_product)) * grads
        v_hat = v / (1 - self.beta_2**t)
        params -= lr * m_hat / (np.sqrt(v_hat) + self.epsilon)

    def get_state(self):
        return {**super().get_state(), "u_product": np.array(self.u_product, dtype=np.float64)}

    def set_state(self, state):
        state = dict(state)
        self.u_product = float(np.asarray(state.pop("u_product", 1.0)))
        super().set_state(state)


OPTIMIZERS = {cls.name: cls for cls in (SGD, RMSprop, Adam, Nadam)}
_BY_CLASS = {cls.__name__: cls for cls in OPTIMIZERS.values()}


def get(optimizer) -> Optimizer:
    """An :class:`Optimizer` from a name (``"adam"``, ...; Keras defaults) or an instance."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    key = optimizer.lower() if isinstance(optimizer, str) else optimizer
    if key not in OPTIMIZERS:
        raise SparknnError(
            f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
        )
    return OPTIMIZERS[key]()


def from_config(config: dict) -> Optimizer:
    name = config.get("class_name")
    if name not in _BY_CLASS:
        raise SparknnError(
            f"unknown optimizer class {name!r}; choose one of {', '.join(_BY_CLASS)}"
        )
    return _BY_CLASS[name](**config.get("config", {}))


def schedule_from_config(config: dict) -> LearningRateSchedule:
    name = config.get("class_name")
    if name not in SCHEDULES:
        raise SparknnError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name](**config.get("config", {}))
