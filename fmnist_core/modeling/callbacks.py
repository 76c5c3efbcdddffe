"""Keras callbacks used by ``training.train``: progress, NaN guard, stop request, best weights."""
from __future__ import annotations

import math
import time

import keras
import numpy as np


def current_lr(optimizer) -> float:
    try:
        return float(np.asarray(optimizer.learning_rate))
    except Exception:  # a schedule object in an odd state must not break training
        return float("nan")


def _batch_size_at(batch: int, n: int, batch_size: int) -> int:
    return min(batch_size, n - batch * batch_size)


class ProgressReporter(keras.callbacks.Callback):
    """Turns Keras's running means into real per-batch values and reports them, throttled.

    In Keras 3 the logs of ``on_train_batch_end`` hold the mean over the epoch so far,
    weighted by batch size. The real value of batch b is therefore
    ``(mean_b * seen_b - mean_{b-1} * seen_{b-1}) / size_b``.
    """

    def __init__(self, fn, hp, n_train, n_val, steps, interval=0.25):
        super().__init__()
        self.fn, self.hp, self.n_train, self.n_val, self.steps, self.interval = fn, hp, n_train, n_val, steps, interval
        self._prev = {}
        self._seen = 0
        self._last_emit = 0.0
        self._t0 = self._epoch_t0 = 0.0
        self._epoch = 0

    def _emit(self, event):
        if self.fn:
            self.fn(event)

    def on_train_begin(self, logs=None):
        self._t0 = time.perf_counter()
        self._emit({"kind": "start", "epochs": self.hp.epochs, "batches_per_epoch": self.steps,
                    "n_train": self.n_train, "n_val": self.n_val})

    def on_epoch_begin(self, epoch, logs=None):
        self._prev, self._seen, self._epoch = {}, 0, epoch
        self._epoch_t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        size = _batch_size_at(batch, self.n_train, self.hp.batch_size)
        seen = self._seen + size
        real = {}
        for key in ("loss", "accuracy"):
            if key in logs:
                mean = float(logs[key])
                real[key] = (mean * seen - self._prev.get(key, 0.0) * self._seen) / size
                self._prev[key] = mean
        self._seen = seen
        now = time.perf_counter()
        last = batch == self.steps - 1
        if self.fn and (now - self._last_emit >= self.interval or last):
            self._last_emit = now
            self._emit({"kind": "batch", "epoch": self._epoch + 1, "batch": batch + 1,
                        "step": self._epoch * self.steps + batch + 1, "batches_per_epoch": self.steps,
                        "loss": real.get("loss"), "accuracy": real.get("accuracy"),
                        "lr": current_lr(self.model.optimizer), "elapsed": now - self._t0})

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self._emit({"kind": "epoch", "epoch": epoch + 1, "epochs": self.hp.epochs,
                    "loss": _f(logs.get("loss")), "accuracy": _f(logs.get("accuracy")),
                    "val_loss": _f(logs.get("val_loss")), "val_accuracy": _f(logs.get("val_accuracy")),
                    "lr": current_lr(self.model.optimizer), "seconds": time.perf_counter() - self._epoch_t0,
                    "elapsed": time.perf_counter() - self._t0})


def _f(v):
    return None if v is None else float(v)


class NaNGuard(keras.callbacks.Callback):
    """Stops at the first NaN/inf loss and records where, so the run fails loudly."""

    def __init__(self):
        super().__init__()
        self.message = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.message = (f"loss became NaN at epoch {self._epoch + 1} batch {batch + 1}; "
                            "try a lower learning rate")
            self.model.stop_training = True


class StopRequest(keras.callbacks.Callback):
    """Polls ``should_stop()`` after each batch (at most 5 times a second) and stops training."""

    def __init__(self, should_stop, interval=0.2):
        super().__init__()
        self.should_stop, self.interval = should_stop, interval
        self.requested = False
        self._last = 0.0

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if now - self._last < self.interval:
            return
        self._last = now
        if self.should_stop():
            self.requested = True
            self.model.stop_training = True


class BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the lowest validation loss, and the epoch history."""

    def __init__(self):
        super().__init__()
        self.weights = None
        self.best_loss = np.inf
        self.best_epoch = None
        self.history = []
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.history.append({"epoch": epoch + 1, "loss": _f(logs.get("loss")), "accuracy": _f(logs.get("accuracy")),
                             "val_loss": _f(logs.get("val_loss")), "val_accuracy": _f(logs.get("val_accuracy")),
                             "lr": current_lr(self.model.optimizer), "seconds": time.perf_counter() - self._t0})
        val_loss = logs.get("val_loss")
        if val_loss is not None and math.isfinite(float(val_loss)) and float(val_loss) < self.best_loss:
            self.best_loss, self.best_epoch = float(val_loss), epoch + 1
            self.weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        # A run stopped before its first epoch ended has no best epoch: keep the current weights.
        if self.weights is None:
            self.weights = self.model.get_weights()
