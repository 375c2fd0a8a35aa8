"""Layers, Keras style: each owns its weights, ``build(input_shape)``, ``forward``, ``backward``.

Shapes exclude the batch axis (``None`` marks a free time axis). A layer does not allocate its
own weights: the model lays every layer's parameters out in one contiguous vector and hands
each layer views into it (``bind``), so a whole model's weights and gradients are two buffers.

``backward(dy)`` *overwrites* the layer's gradient views with dL/dweights for the batch of the
last ``forward(training=True)`` call and returns dL/dx (or None when no one needs it).
Heavy arithmetic goes through ``self.backend`` so the numpy and OpenCL backends are
interchangeable.
"""

import numpy as np

from sparknn.backend import ACTIVATIONS, get_backend
from sparknn.errors import SparknnError
from sparknn.nn import initializers


def check_activation(activation) -> str:
    activation = "linear" if activation is None else activation
    if activation not in ACTIVATIONS:
        raise SparknnError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
        )
    return activation


def format_shape(shape) -> str:
    return str((None, *shape))


class Layer:
    """Base class. Subclasses set ``kind`` (the default name prefix) and override the hooks."""

    kind = "layer"

    def __init__(self, name=None, input_shape=None, input_dim=None):
        if input_shape is not None and input_dim is not None:
            raise SparknnError(f"{type(self).__name__}: give input_shape or input_dim, not both")
        self.name = name
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        if input_dim is not None:
            self.input_shape = (int(input_dim),)
        self.built_input_shape = None
        self.output_shape = None
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.backend = get_backend("numpy")
        self.dtype = np.dtype("float32")
        self.rng = np.random.default_rng()
        # The model clears this for its first layer: nobody needs dL/d(model input).
        self.needs_input_grad = True

    # -- construction -----------------------------------------------------------------------

    def build(self, input_shape) -> tuple:
        """Record the input shape and return the output shape (both without the batch axis)."""
        self.built_input_shape = tuple(input_shape)
        self.output_shape = tuple(self.compute_output_shape(self.built_input_shape))
        return self.output_shape

    def compute_output_shape(self, input_shape) -> tuple:
        return input_shape

    def param_shapes(self) -> dict[str, tuple]:
        """Weight names and shapes, in Keras' ``get_weights`` order. Needs ``build`` first."""
        return {}

    def param_initializers(self) -> dict[str, str]:
        return {}

    def initial_value(self, name, shape, rng) -> np.ndarray:
        return initializers.initialize(self.param_initializers()[name], shape, rng)

    def bind(self, params: dict, grads: dict) -> None:
        self.params, self.grads = params, grads

    def count_params(self) -> int:
        return sum(int(np.prod(s)) for s in self.param_shapes().values())

    def get_config(self) -> dict:
        config = {"name": self.name}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # -- computation --------------------------------------------------------------------------

    def check_input_shape(self, shape) -> None:
        """Raise naming this layer and both shapes if ``shape`` (batch axis included) is wrong."""
        expected = self.built_input_shape
        actual = tuple(shape[1:])
        ok = len(actual) == len(expected) and all(
            e is None or e == a for e, a in zip(expected, actual, strict=True)
        )
        if not ok:
            raise SparknnError(
                f"layer {self.name!r} expects input shape {format_shape(expected)} "
                f"but got {tuple(shape)}"
            )

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def step(self, x_t):
        """One timestep for generation; stateless layers just apply themselves."""
        return self.forward(x_t, training=False)

    def reset_states(self) -> None:
        pass


class Dense(Layer):
    """``y = act(x @ kernel + bias)`` over the last axis (also per timestep of a sequence)."""

    kind = "dense"

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name=None,
        input_shape=None,
        input_dim=None,
    ):
        super().__init__(name=name, input_shape=input_shape, input_dim=input_dim)
        if int(units) < 1:
            raise SparknnError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = check_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.check(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializers.check(bias_initializer, "bias_initializer")
        # Set by the model when the loss fuses softmax with cross-entropy: emit logits instead.
        self.emit_logits = False

    def compute_output_shape(self, input_shape):
        if not input_shape or input_shape[-1] is None:
            raise SparknnError(
                f"layer {self.name!r} needs a known last input axis, got {input_shape}"
            )
        return (*input_shape[:-1], self.units)

    def param_shapes(self):
        shapes = {"kernel": (self.built_input_shape[-1], self.units)}
        if self.use_bias:
            shapes["bias"] = (self.units,)
        return shapes

    def param_initializers(self):
        return {"kernel": self.kernel_initializer, "bias": self.bias_initializer}

    def _activation(self):
        return "linear" if self.emit_logits else self.activation

    def forward(self, x, training=False):
        x2 = x.reshape(-1, x.shape[-1])
        z = self.backend.gemm(x2, self.params["kernel"])
        y = self.backend.bias_activation(z, self.params.get("bias"), self._activation())
        if training:
            self._x2, self._y = x2, y
        return y.reshape(*x.shape[:-1], self.units)

    def backward(self, dy):
        dz = dy.reshape(-1, self.units)
        if self._activation() != "linear":
            dz = self.backend.activation_backward(dz, self._y, self._activation())
        self.backend.gemm(self._x2, dz, trans_a=True, out=self.grads["kernel"])
        if self.use_bias:
            self.grads["bias"][...] = self.backend.reduce_sum(dz, axis=0)
        if not self.needs_input_grad:
            return None
        dx = self.backend.gemm(dz, self.params["kernel"], trans_b=True)
        return dx.reshape(*dy.shape[:-1], self._x2.shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        }


class Activation(Layer):
    """An elementwise activation (or softmax over the last axis) as its own layer."""

    kind = "activation"

    def __init__(self, activation, name=None, input_shape=None, input_dim=None):
        super().__init__(name=name, input_shape=input_shape, input_dim=input_dim)
        self.activation = check_activation(activation)
        self.emit_logits = False

    def _activation(self):
        return "linear" if self.emit_logits else self.activation

    def forward(self, x, training=False):
        y = self.backend.bias_activation(x, None, self._activation())
        if training:
            self._y = y
        return y

    def backward(self, dy):
        return self.backend.activation_backward(dy, self._y, self._activation())

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class Dropout(Layer):
    """Inverted dropout: scales kept units by 1/(1-rate) in training, identity at inference."""

    kind = "dropout"

    def __init__(self, rate, name=None, input_shape=None, input_dim=None):
        super().__init__(name=name, input_shape=input_shape, input_dim=input_dim)
        if not 0.0 <= float(rate) < 1.0:
            raise SparknnError(f"Dropout: rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        keep = self.rng.random(x.shape) >= self.rate
        self._mask = keep.astype(x.dtype) / x.dtype.type(1.0 - self.rate)
        return x * self._mask

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


class Embedding(Layer):
    """Integer ids ``(B, T)`` -> vectors ``(B, T, output_dim)``; ``(B,)`` -> ``(B, output_dim)``.

    As in Keras, ``input_dim`` is the vocabulary size, not the input's width.
    """

    kind = "embedding"

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        input_length=None,
        name=None,
        input_shape=None,
    ):
        if input_shape is None:
            input_shape = (input_length,)
        super().__init__(name=name, input_shape=input_shape)
        if int(input_dim) < 1 or int(output_dim) < 1:
            raise SparknnError(
                "Embedding: input_dim and output_dim must be positive, "
                f"got {input_dim}, {output_dim}"
            )
        self.vocab_size = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = initializers.check(
            embeddings_initializer, "embeddings_initializer"
        )

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def param_shapes(self):
        return {"embeddings": (self.vocab_size, self.output_dim)}

    def param_initializers(self):
        return {"embeddings": self.embeddings_initializer}

    def forward(self, x, training=False):
        ids = np.asarray(x)
        if not np.issubdtype(ids.dtype, np.integer):
            if not np.all(np.mod(ids, 1) == 0):
                raise SparknnError(f"layer {self.name!r} expects integer ids, got {ids.dtype}")
            ids = ids.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise SparknnError(
                f"layer {self.name!r}: ids must be in [0, {self.vocab_size}), "
                f"got values in [{ids.min()}, {ids.max()}]"
            )
        if training:
            self._ids = ids
        return self.params["embeddings"][ids]

    def backward(self, dy):
        grad = self.grads["embeddings"]
        grad[...] = 0
        np.add.at(grad, self._ids.ravel(), dy.reshape(-1, self.output_dim))
        return None  # ids have no gradient

    def get_config(self):
        config = {
            "name": self.name,
            "input_dim": self.vocab_size,
            "output_dim": self.output_dim,
            "embeddings_initializer": self.embeddings_initializer,
        }
        if self.input_shape is not None and self.input_shape != (None,):
            config["input_shape"] = list(self.input_shape)
        return config


class LSTM(Layer):
    """Long short-term memory over ``(B, T, D)``; gates ``[i, f, g, o]`` as in Keras.

    Training runs full backpropagation through time from zero initial state. For generation,
    ``step(x_t)`` advances a kept state one timestep (``reset_states()`` clears it), and
    ``cell_step(x_t, state)`` does the same with an explicit ``(h, c)`` state.

    Speed: the input projection is computed ahead of the recurrence for many timesteps per GEMM
    (time-major), so the sequential loop does only the ``(B, H) @ (H, 4H)`` recurrent product
    and the cell nonlinearity; the weight gradients are likewise GEMMs over blocks of timesteps.
    """

    kind = "lstm"

    def __init__(
        self,
        units,
        return_sequences=False,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        name=None,
        input_shape=None,
        input_dim=None,
    ):
        super().__init__(name=name, input_shape=input_shape, input_dim=input_dim)
        if int(units) < 1:
            raise SparknnError(f"LSTM: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.return_sequences = bool(return_sequences)
        self.kernel_initializer = initializers.check(kernel_initializer, "kernel_initializer")
        self.recurrent_initializer = initializers.check(
            recurrent_initializer, "recurrent_initializer"
        )
        self.bias_initializer = initializers.check(bias_initializer, "bias_initializer")
        self.unit_forget_bias = bool(unit_forget_bias)
        self.states = None

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise SparknnError(
                f"layer {self.name!r} expects input shaped (batch, timesteps, features), "
                f"got {format_shape(input_shape)}"
            )
        if self.return_sequences:
            return (input_shape[0], self.units)
        return (self.units,)

    def param_shapes(self):
        d, H = self.built_input_shape[-1], self.units
        return {"kernel": (d, 4 * H), "recurrent_kernel": (H, 4 * H), "bias": (4 * H,)}

    def param_initializers(self):
        return {
            "kernel": self.kernel_initializer,
            "recurrent_kernel": self.recurrent_initializer,
            "bias": self.bias_initializer,
        }

    def initial_value(self, name, shape, rng):
        value = super().initial_value(name, shape, rng)
        if name == "bias" and self.unit_forget_bias:
            value[self.units : 2 * self.units] = 1.0  # Keras: start by remembering
        return value

    # Rows per input-projection / weight-gradient GEMM. Whole-sequence GEMMs (B*T rows) spill
    # out of cache and ran slower (measured: docs/DESIGN-NOTES.md).
    BLOCK_ROWS = 1024

    def _blocks(self, B, T):
        step = max(1, self.BLOCK_ROWS // B)
        return [(t0, min(T, t0 + step)) for t0 in range(0, T, step)]

    def forward(self, x, training=False):
        B, T, D = x.shape
        H = self.units
        be = self.backend
        W, U, bias = self.params["kernel"], self.params["recurrent_kernel"], self.params["bias"]
        # Time-major copy so each step's rows are one contiguous block.
        x_tm = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(T * B, D)
        z_all = np.empty((T, B, 4 * H), dtype=x.dtype)
        z_flat = z_all.reshape(T * B, 4 * H)
        for t0, t1 in self._blocks(B, T):  # input projection for many timesteps per GEMM
            rows = slice(t0 * B, t1 * B)
            be.gemm(x_tm[rows], W, out=z_flat[rows])
            z_flat[rows] += bias
        h = np.zeros((B, H), dtype=x.dtype)
        c = np.zeros((B, H), dtype=x.dtype)
        hs, cs, gates = [h], [c], []
        for t in range(T):
            z = be.gemm(h, U, out=z_all[t], accumulate=True)
            h, c, g = be.lstm_cell_forward(z, c)
            hs.append(h)
            cs.append(c)
            gates.append(g)
        if training:
            self._x_tm, self._hs, self._cs, self._gates, self._shape = x_tm, hs, cs, gates, x.shape
        if self.return_sequences:
            return np.stack(hs[1:], axis=1)
        return h

    def backward(self, dy):
        B, T, D = self._shape
        H = self.units
        be = self.backend
        U = self.params["recurrent_kernel"]
        dz_all = np.empty((T, B, 4 * H), dtype=dy.dtype)
        dh_carry = np.zeros((B, H), dtype=dy.dtype)
        dc = np.zeros((B, H), dtype=dy.dtype)
        if self.return_sequences:
            dy = np.ascontiguousarray(dy.transpose(1, 0, 2))  # time-major: contiguous per step
        for t in range(T - 1, -1, -1):
            if self.return_sequences:
                dh = dh_carry + dy[t]
            elif t == T - 1:
                dh = dh_carry + dy
            else:
                dh = dh_carry
            dz, dc = be.lstm_cell_backward(dh, dc, self._cs[t], self._cs[t + 1], self._gates[t])
            dz_all[t] = dz
            if t > 0:
                dh_carry = be.gemm(dz, U, trans_b=True)
        dU, dW = self.grads["recurrent_kernel"], self.grads["kernel"]
        dU[...] = 0
        dW[...] = 0
        dz_flat = dz_all.reshape(T * B, 4 * H)
        for t0, t1 in self._blocks(B, T):  # weight gradients summed over blocks of timesteps
            rows = slice(t0 * B, t1 * B)
            h_prev = np.concatenate(self._hs[t0:t1])
            be.gemm(h_prev, dz_flat[rows], trans_a=True, out=dU, accumulate=True)
            be.gemm(self._x_tm[rows], dz_flat[rows], trans_a=True, out=dW, accumulate=True)
        self.grads["bias"][...] = be.reduce_sum(dz_flat, axis=0)
        if not self.needs_input_grad:
            return None
        dx_tm = be.gemm(dz_flat, self.params["kernel"], trans_b=True).reshape(T, B, D)
        return np.ascontiguousarray(dx_tm.transpose(1, 0, 2))

    # -- stateful generation ------------------------------------------------------------------

    def cell_step(self, x_t, state=None):
        """Advance one timestep from ``state = (h, c)`` (zeros if None); returns ``(h, (h, c))``."""
        B = x_t.shape[0]
        if state is None:
            zero = np.zeros((B, self.units), dtype=x_t.dtype)
            state = (zero, zero)
        h, c = state
        z = self.backend.gemm(x_t, self.params["kernel"]) + self.params["bias"]
        z = self.backend.gemm(h, self.params["recurrent_kernel"], out=z, accumulate=True)
        h, c, _ = self.backend.lstm_cell_forward(z, c)
        return h, (h, c)

    def step(self, x_t):
        if self.states is not None and self.states[0].shape[0] != x_t.shape[0]:
            self.states = None  # a new batch size starts a new sequence
        h, self.states = self.cell_step(x_t, self.states)
        return h

    def reset_states(self):
        self.states = None

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "return_sequences": self.return_sequences,
            "kernel_initializer": self.kernel_initializer,
            "recurrent_initializer": self.recurrent_initializer,
            "bias_initializer": self.bias_initializer,
            "unit_forget_bias": self.unit_forget_bias,
        }


LAYERS = {cls.__name__: cls for cls in (Dense, Activation, Dropout, Embedding, LSTM)}


def from_config(entry: dict) -> Layer:
    """Rebuild a layer from ``{"class_name": ..., "config": {...}}``."""
    name = entry.get("class_name")
    if name not in LAYERS:
        raise SparknnError(f"unknown layer {name!r}; choose one of {', '.join(LAYERS)}")
    return LAYERS[name].from_config(dict(entry.get("config", {})))


def to_config(layer: Layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}
