"""``Sequential``: a Keras-familiar model whose weights live in one contiguous vector.

Training is built from exactly two calls, which is also the contract the Spark trainer uses::

    loss_sum, grad_sum, n = model.loss_and_gradient(x, y)   # sums over the n examples
    model.apply_gradients(grad_sum, n)                      # reduction, clipping, optimizer step

so a single-process ``fit`` and a data-parallel run (which adds the partitions' ``grad_sum``
before one ``apply_gradients``) differ only in the order the sums are taken.
"""

import numpy as np

from sparknn.backend import get_backend
from sparknn.divergence import DivergenceCheck
from sparknn.errors import SparknnError
from sparknn.nn import callbacks as callbacks_module
from sparknn.nn import layers as layers_module
from sparknn.nn import losses as losses_module
from sparknn.nn import optimizers as optimizers_module
from sparknn.nn.layers import LSTM, Embedding, Layer, format_shape
from sparknn.nn.serialization import load_model, save_model

DTYPES = ("float32", "float64")
METRICS = ("accuracy",)
_METRIC_ALIASES = {"acc": "accuracy", "accuracy": "accuracy"}

# Independent random streams derived from the model's seed.
_INIT_STREAM, _SHUFFLE_STREAM, _DROPOUT_STREAM = 0, 1, 2


def _is_spark_dataframe(x) -> bool:
    """A pyspark DataFrame, recognised without importing pyspark."""
    return any(
        f"{cls.__module__}.{cls.__name__}"
        in ("pyspark.sql.dataframe.DataFrame", "pyspark.sql.classic.dataframe.DataFrame")
        for cls in type(x).__mro__
    )


class Sequential:
    """A linear stack of layers.

    ``seed`` makes initialisation, shuffling and dropout masks reproducible; ``dtype`` is the
    parameter/activation precision; ``backend`` is ``"numpy"``, ``"opencl"``, ``"auto"`` or a
    :class:`~sparknn.backend.Backend`.
    """

    def __init__(self, layers=None, name="sequential", seed=None, dtype="float32", backend="numpy"):
        if str(dtype) not in DTYPES:
            raise SparknnError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
        self.name = name
        self.seed = seed
        self.dtype = np.dtype(str(dtype))
        self.backend = get_backend(backend)
        self._entropy = np.random.SeedSequence(seed).entropy
        self._shuffle_rng = self._rng(_SHUFFLE_STREAM)
        self.layers: list[Layer] = []
        self.built_input_shape = None
        self._params = None
        self._grads = None
        self.loss = None
        self.optimizer = None
        self.metrics: list[str] = []
        self.stop_training = False
        self._fused = False
        for layer in layers or []:
            self.add(layer)

    def _rng(self, stream, index=0):
        return np.random.default_rng(
            np.random.SeedSequence(self._entropy, spawn_key=(stream, index))
        )

    # -- structure ----------------------------------------------------------------------------

    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise SparknnError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        if layer.name is None:
            layer.name = self._unique_name(layer.kind)
        elif any(other.name == layer.name for other in self.layers):
            raise SparknnError(f"duplicate layer name {layer.name!r}")
        layer.backend = self.backend
        layer.dtype = self.dtype
        layer.rng = self._rng(_DROPOUT_STREAM, len(self.layers))
        self.layers.append(layer)
        self._sync_fused_softmax()
        if self.built:
            self._build(self.built_input_shape)
        elif self.layers[0].input_shape is not None:
            self._build(self.layers[0].input_shape)  # Keras builds as soon as shapes are known

    def _unique_name(self, kind):
        taken = {layer.name for layer in self.layers}
        name, k = kind, 1
        while name in taken:
            name, k = f"{kind}_{k}", k + 1
        return name

    @property
    def built(self) -> bool:
        return self._params is not None

    def build(self, input_shape=None) -> None:
        """Create the weights for inputs shaped ``(batch, *input_shape)``."""
        if not self.layers:
            raise SparknnError("the model has no layers; add some first")
        if input_shape is None:
            input_shape = self.layers[0].input_shape
        if input_shape is None:
            raise SparknnError(
                "the model's input shape is unknown: give the first layer input_shape= or "
                "input_dim=, or call fit/predict first"
            )
        self._build(tuple(input_shape))

    def _build(self, input_shape) -> None:
        shape = tuple(input_shape)
        for i, layer in enumerate(self.layers):
            layer.needs_input_grad = i > 0
            shape = layer.build(shape)
        old = {}
        if self._params is not None:
            old = {
                (id(layer), name): value.copy()
                for layer in self.layers
                for name, value in layer.params.items()
            }
        specs = [
            (layer, name, shape)
            for layer in self.layers
            for name, shape in layer.param_shapes().items()
        ]
        total = sum(int(np.prod(shape)) for _, _, shape in specs)
        self._params = np.zeros(total, dtype=self.dtype)
        self._grads = np.zeros(total, dtype=self.dtype)
        self._step_grads = np.zeros(total, dtype=self.dtype)
        init_rng = self._rng(_INIT_STREAM)
        views = {id(layer): ({}, {}) for layer in self.layers}
        offset = 0
        for layer, name, shape in specs:
            size = int(np.prod(shape))
            params, grads = views[id(layer)]
            params[name] = self._params[offset : offset + size].reshape(shape)
            grads[name] = self._grads[offset : offset + size].reshape(shape)
            params[name][...] = old.get(
                (id(layer), name), layer.initial_value(name, shape, init_rng)
            )
            offset += size
        for layer in self.layers:
            layer.bind(*views[id(layer)])
        self.built_input_shape = tuple(input_shape)

    def _ensure_built(self, x_shape=None):
        if self.built:
            return
        first = self.layers[0] if self.layers else None
        if first is not None and first.input_shape is None and x_shape is not None:
            shape = tuple(x_shape[1:])
            if isinstance(first, (LSTM, Embedding)) and shape:
                shape = (None, *shape[1:])  # sequence length may vary between calls
            self.build(shape)
        else:
            self.build()

    # -- the contiguous parameter and gradient vectors ----------------------------------------

    @property
    def params(self) -> np.ndarray:
        """All weights, one contiguous vector; layers hold views, so assign with ``[:]``."""
        self._ensure_built()
        return self._params

    @params.setter
    def params(self, value):
        self._ensure_built()
        value = np.asarray(value)
        if value.shape != self._params.shape:
            raise SparknnError(f"params must have shape {self._params.shape}, got {value.shape}")
        self._params[...] = value

    @property
    def grads(self) -> np.ndarray:
        """All gradients, laid out like :attr:`params` (written by ``loss_and_gradient``)."""
        self._ensure_built()
        return self._grads

    def count_params(self) -> int:
        return int(self.params.size)

    def get_weights(self) -> list[np.ndarray]:
        self._ensure_built()
        return [value.copy() for layer in self.layers for value in layer.params.values()]

    def set_weights(self, weights) -> None:
        self._ensure_built()
        slots = [
            (layer, name, value) for layer in self.layers for name, value in layer.params.items()
        ]
        weights = list(weights)
        if len(weights) != len(slots):
            raise SparknnError(f"set_weights expects {len(slots)} arrays, got {len(weights)}")
        for (layer, name, view), new in zip(slots, weights, strict=True):
            new = np.asarray(new)
            if new.shape != view.shape:
                raise SparknnError(
                    f"layer {layer.name!r} weight {name!r} has shape {view.shape}, got {new.shape}"
                )
        for (_, _, view), new in zip(slots, weights, strict=True):
            view[...] = new

    # -- compile ----------------------------------------------------------------------------

    def compile(self, loss, optimizer="rmsprop", metrics=None) -> None:
        """Set the loss (name or Loss), optimizer (name or Optimizer) and metrics."""
        self.loss = losses_module.get(loss)
        self.optimizer = optimizers_module.get(optimizer)
        self.metrics = []
        for metric in metrics or []:
            if metric not in _METRIC_ALIASES:
                raise SparknnError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
            self.metrics.append(_METRIC_ALIASES[metric])
        self._sync_fused_softmax()

    def _sync_fused_softmax(self):
        """With a cross-entropy loss, a final softmax emits logits and the loss fuses softmax+CE."""
        fused = (
            isinstance(self.loss, losses_module.CrossEntropy)
            and bool(self.layers)
            and getattr(self.layers[-1], "activation", None) == "softmax"
        )
        for i, layer in enumerate(self.layers):
            if hasattr(layer, "emit_logits"):
                layer.emit_logits = fused and i == len(self.layers) - 1
        self._fused = fused

    def _require_compiled(self):
        if self.loss is None or self.optimizer is None:
            raise SparknnError(
                "the model is not compiled; call model.compile(loss=..., optimizer=...)"
            )

    # -- forward / backward -------------------------------------------------------------------

    def _prepare_input(self, x) -> np.ndarray:
        if not self.layers:
            raise SparknnError("the model has no layers; add some first")
        x = np.asarray(x)
        if x.ndim == 0:
            raise SparknnError(f"model input must have a batch axis, got a scalar {x!r}")
        if not isinstance(self.layers[0], Embedding):
            x = x.astype(self.dtype, copy=False)
        self._ensure_built(x.shape)
        self.layers[0].check_input_shape(x.shape)
        return x

    def _forward(self, x, training):
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def _loss_terms(self, out, y):
        if self._fused:
            return self.loss.from_logits(out, y, self.backend)
        return self.loss.per_example(out, y)

    def loss_and_gradient(self, x, y):
        """Forward + backward on one batch. Returns ``(loss_sum, grads, n)``.

        ``loss_sum`` is the sum of the ``n`` per-example losses (float), ``grads`` is
        :attr:`grads` holding the gradient of that *sum* (overwritten by the next call).
        """
        self._require_compiled()
        x = self._prepare_input(x)
        y = np.asarray(y)
        if len(y) != len(x):
            raise SparknnError(f"x has {len(x)} examples but y has {len(y)}")
        out = self._forward(x, training=True)
        losses, dout = self._loss_terms(out, y)
        dout = dout.astype(self.dtype, copy=False)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
            if dout is None:
                break
        self._last_output = out
        return float(losses.sum(dtype=np.float64)), self._grads, len(x)

    def apply_gradients(self, grad_sum, n) -> None:
        """Reduce a summed gradient over ``n`` examples (mean divides by n), clip, step."""
        self._require_compiled()
        grad_sum = np.asarray(grad_sum)
        if grad_sum.shape != self.params.shape:
            raise SparknnError(
                f"apply_gradients expects a gradient of shape {self.params.shape}, "
                f"got {grad_sum.shape}"
            )
        if n <= 0:
            raise SparknnError(f"apply_gradients needs n >= 1 examples, got {n}")
        scale = 1.0 / n if self.loss.reduction == "mean" else 1.0
        np.multiply(grad_sum, scale, out=self._step_grads, casting="same_kind")
        self.optimizer.apply(self._params, self._step_grads)

    # -- Keras-style training API -------------------------------------------------------------

    def fit(
        self,
        x,
        y=None,
        epochs=1,
        batch_size=32,
        validation_data=None,
        shuffle=True,
        callbacks=None,
        verbose=1,
        stop_on_nan=True,
        **dataframe_params,
    ):
        """Train; returns a :class:`~sparknn.nn.callbacks.History`.

        Each batch is one ``loss_and_gradient`` + ``apply_gradients``. A batch loss that has
        diverged (:mod:`sparknn.divergence`: NaN/inf, or exploded) raises
        :class:`SparknnError` before the update, unless ``stop_on_nan=False``. Logged
        ``loss`` is the mean per-example loss whatever the reduction.

        ``x`` may be a Spark DataFrame (``y`` then None): the distributed trainer of
        :class:`sparknn.ml.NeuralNetwork` trains this model on its ``featuresCol`` and
        ``labelCol`` (default "features", "label"); further keyword arguments are that
        Estimator's Params (``numPartitions``, ``seed``, ``validationCol``, ...).
        """
        if _is_spark_dataframe(x):
            if y is not None or validation_data is not None:
                raise SparknnError(
                    "fit(DataFrame): pass y as labelCol= and validation as validationCol= or "
                    "validationFraction=, not y / validation_data"
                )
            # sparknn.ml needs pyspark, which sparknn.nn must not import for numpy-only users.
            from sparknn.ml.neural_network import fit_dataframe

            return fit_dataframe(
                self, x, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                callbacks=callbacks, **dataframe_params,
            )  # fmt: skip
        if dataframe_params:
            raise SparknnError(
                f"fit got unexpected keyword arguments {sorted(dataframe_params)} "
                "(they are for a Spark DataFrame x)"
            )
        if y is None:
            raise SparknnError("fit needs y (the targets) for array inputs")
        self._require_compiled()
        x = self._prepare_input(x)
        y = np.asarray(y)
        if len(y) != len(x):
            raise SparknnError(f"x has {len(x)} examples but y has {len(y)}")
        if len(x) == 0:
            raise SparknnError("fit needs at least one example, got an empty x")
        if int(batch_size) < 1:
            raise SparknnError(f"batch_size must be >= 1, got {batch_size!r}")
        history = callbacks_module.History()
        hooks = [history, *(callbacks or [])]
        for hook in hooks:
            hook.model = self
            hook.on_train_begin()
        self.stop_training = False
        divergence = DivergenceCheck()
        n = len(x)
        for epoch in range(int(epochs)):
            for hook in hooks:
                hook.on_epoch_begin(epoch)
            order = self._shuffle_rng.permutation(n) if shuffle else None
            loss_total, correct, seen = 0.0, 0.0, 0
            for batch, start in enumerate(range(0, n, int(batch_size))):
                if order is None:
                    xb, yb = x[start : start + batch_size], y[start : start + batch_size]
                else:
                    idx = order[start : start + batch_size]
                    xb, yb = x[idx], y[idx]
                loss_sum, grad_sum, nb = self.loss_and_gradient(xb, yb)
                if stop_on_nan:
                    divergence.check(loss_sum / nb, f"epoch {epoch + 1}, batch {batch + 1}")
                self.apply_gradients(grad_sum, nb)
                loss_total += loss_sum
                seen += nb
                if self.metrics:
                    correct += self.last_accuracy_sum(yb)
                for hook in hooks:
                    hook.on_batch_end(batch, {"loss": loss_sum / nb})
            logs = {"loss": loss_total / seen}
            if self.metrics:
                logs["accuracy"] = correct / seen
            if validation_data is not None:
                val = self.evaluate(*validation_data, return_dict=True)
                logs.update({f"val_{key}": value for key, value in val.items()})
            if verbose:
                text = " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())
                print(f"Epoch {epoch + 1}/{epochs} - {text}")
            for hook in hooks:
                hook.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for hook in hooks:
            hook.on_train_end()
        return history

    def evaluate(self, x, y, batch_size=256, return_dict=False):
        """Mean per-example loss (and metrics): a float, a list ``[loss, acc]``, or a dict."""
        self._require_compiled()
        x = self._prepare_input(x)
        y = np.asarray(y)
        if len(y) != len(x):
            raise SparknnError(f"x has {len(x)} examples but y has {len(y)}")
        loss_total, correct = 0.0, 0.0
        for start in range(0, len(x), int(batch_size)):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            out = self._forward(xb, training=False)
            losses, _ = self._loss_terms(out, yb)
            loss_total += float(losses.sum(dtype=np.float64))
            if self.metrics:
                correct += self._accuracy_sum(out, yb)
        results = {"loss": loss_total / len(x)}
        if self.metrics:
            results["accuracy"] = correct / len(x)
        if return_dict:
            return results
        return results["loss"] if not self.metrics else list(results.values())

    def last_accuracy_sum(self, y) -> float:
        """The summed accuracy (``metrics=["accuracy"]``) of the outputs of the last
        :meth:`loss_and_gradient` call, whose targets were ``y``: what ``fit`` adds up for an
        epoch's ``accuracy``."""
        return self._accuracy_sum(self._last_output, y)

    def _accuracy_sum(self, out, y) -> float:
        """Sum over examples of each example's fraction of correct positions."""
        y = np.asarray(y)
        if out.shape[-1] == 1:  # one unit: binary decision at 0.5
            hits = (out > 0.5) == (y.reshape(out.shape) > 0.5)
        elif y.shape == out.shape:  # one-hot / probability targets
            hits = out.argmax(axis=-1) == y.argmax(axis=-1)
        else:  # integer labels
            hits = out.argmax(axis=-1) == y.reshape(out.shape[:-1])
        return float(hits.reshape(len(out), -1).mean(axis=1).sum())

    def predict(self, x, batch_size=None) -> np.ndarray:
        """Model outputs (probabilities after a final softmax) for inputs ``x``."""
        x = self._prepare_input(x)
        size = len(x) if batch_size is None else int(batch_size)
        outs = [
            self._finish(self._forward(x[s : s + size], training=False))
            for s in range(0, len(x), max(size, 1))
        ]
        return (
            np.concatenate(outs)
            if outs
            else np.zeros((0, *self.layers[-1].output_shape), self.dtype)
        )

    def _finish(self, out):
        return self.backend.bias_activation(out, None, "softmax") if self._fused else out

    def predict_step(self, x_t) -> np.ndarray:
        """Advance every recurrent layer one timestep (kept state) and return the output.

        ``x_t`` is one timestep: ids ``(B,)`` for an Embedding-first model, else ``(B, D)``.
        Call :meth:`reset_states` to start a new sequence.
        """
        self._ensure_built()
        x = np.asarray(x_t)
        if not isinstance(self.layers[0], Embedding):
            x = x.astype(self.dtype, copy=False)
        for layer in self.layers:
            x = layer.step(x)
        return self._finish(x)

    def reset_states(self) -> None:
        for layer in self.layers:
            layer.reset_states()

    # -- summary, config, persistence ----------------------------------------------------------

    def summary(self, print_fn=print) -> None:
        """Print a table of layers, output shapes and parameter counts (Keras counts)."""
        self._ensure_built()
        rows = [("Layer (type)", "Output Shape", "Param #")]
        for layer in self.layers:
            rows.append(
                (
                    f"{layer.name} ({type(layer).__name__})",
                    format_shape(layer.output_shape),
                    str(layer.count_params()),
                )
            )
        widths = [max(len(row[i]) for row in rows) + 2 for i in range(3)]
        rule = "-" * sum(widths)

        def line(row):
            return "".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()

        print_fn(f'Model: "{self.name}"')
        print_fn(rule)
        print_fn(line(rows[0]))
        print_fn(rule.replace("-", "="))
        for row in rows[1:]:
            print_fn(line(row))
        print_fn(rule)
        print_fn(f"Total params: {self.count_params()}")
        print_fn(f"Trainable params: {self.count_params()}")
        print_fn("Non-trainable params: 0")

    def get_config(self) -> dict:
        """A JSON-serialisable description: layers, dtype, seed, backend, input shape, compile."""
        input_shape = self.built_input_shape
        return {
            "class_name": "Sequential",
            "config": {
                "name": self.name,
                "seed": self.seed,
                "dtype": self.dtype.name,
                "backend": self.backend.name,
                "input_shape": None if input_shape is None else list(input_shape),
                "layers": [layers_module.to_config(layer) for layer in self.layers],
            },
            "compile": None
            if self.loss is None
            else {
                "loss": self.loss.get_config(),
                "optimizer": self.optimizer.get_config(),
                "metrics": list(self.metrics),
            },
        }

    @classmethod
    def from_config(cls, config: dict, backend=None) -> "Sequential":
        """Rebuild (and compile, and build if the input shape is known) from :meth:`get_config`."""
        if config.get("class_name") != "Sequential":
            raise SparknnError(f"not a Sequential config: class_name={config.get('class_name')!r}")
        inner = config["config"]
        model = cls(
            [layers_module.from_config(entry) for entry in inner["layers"]],
            name=inner.get("name", "sequential"),
            seed=inner.get("seed"),
            dtype=inner.get("dtype", "float32"),
            backend=backend or inner.get("backend", "numpy"),
        )
        compiled = config.get("compile")
        if compiled:
            model.compile(
                loss=losses_module.from_config(compiled["loss"]),
                optimizer=optimizers_module.from_config(compiled["optimizer"]),
                metrics=compiled.get("metrics"),
            )
        if inner.get("input_shape") is not None:
            model.build(inner["input_shape"])
        return model

    def save(self, path) -> None:
        """Write config + weights + optimizer state to one ``.npz`` (atomic, no pickle)."""
        save_model(self, path)


def load(path, backend=None) -> Sequential:
    """Load a model written by :meth:`Sequential.save`."""
    return load_model(path, Sequential.from_config, backend=backend)
