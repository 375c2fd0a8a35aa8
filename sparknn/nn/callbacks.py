"""Training callbacks (Keras hooks): ``History`` is always attached; ``EarlyStopping`` optional."""

import math


class Callback:
    model = None

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


class History(Callback):
    """``history.history[metric]`` is the list of per-epoch values; ``history.epoch`` the epochs."""

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="min"):
        self.monitor, self.min_delta, self.patience, self.mode = monitor, min_delta, patience, mode
        self.best = math.inf
        self.wait = 0
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.stopped_epoch = math.inf, 0, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        score = value if self.mode == "min" else -value
        if score < self.best - self.min_delta:
            self.best, self.wait = score, 0
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True


class LambdaCallback(Callback):
    """Ad-hoc hooks: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, on_epoch_end=None, on_batch_end=None):
        self._epoch_end, self._batch_end = on_epoch_end, on_batch_end

    def on_epoch_end(self, epoch, logs=None):
        if self._epoch_end:
            self._epoch_end(epoch, logs)

    def on_batch_end(self, batch, logs=None):
        if self._batch_end:
            self._batch_end(batch, logs)
