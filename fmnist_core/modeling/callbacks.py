"""Keras callbacks used by ``training.train``: progress, NaN guard, stop request, best weights.

An epoch that a stop request or a NaN loss cut short is *unfinished*: its running means cover
only some batches, so it is never reported as an epoch (no epoch event, no history row, never
the "best epoch"); its last batch point says where training stopped. Keras would still run a
full validation pass after such an epoch, which costs seconds and measures nothing anyone
reads, so the callbacks that stop mid-epoch skip it (``_stop_now``).
"""

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


def _finished(callback, batches_seen: int) -> bool:
    """Did this epoch run all its batches? (Keras puts the batch count in ``params["steps"]``.)"""
    steps = (callback.params or {}).get("steps")
    return steps is None or batches_seen >= steps


def _stop_now(model) -> None:
    """Stop after this batch, without the validation pass Keras runs after an unfinished epoch.

    Keras 3's fit loop asks ``model._should_eval`` before validating; an instance attribute
    shadows that method for the rest of this fit (``_restore_eval`` removes it at train end).
    """
    model.stop_training = True
    model._should_eval = lambda *args, **kwargs: False


def _restore_eval(model) -> None:
    model.__dict__.pop("_should_eval", None)


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
        self._batches = 0  # batches run in this epoch
        self._pending = None  # the newest batch point, if the throttle held it back

    def _emit(self, event):
        if self.fn:
            self.fn(event)

    def on_train_begin(self, logs=None):
        self._t0 = time.perf_counter()
        self._emit(
            {
                "kind": "start",
                "epochs": self.hp.epochs,
                "batches_per_epoch": self.steps,
                "n_train": self.n_train,
                "n_val": self.n_val,
            }
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._prev, self._seen, self._epoch, self._batches = {}, 0, epoch, 0
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
        self._seen, self._batches = seen, batch + 1
        if not self.fn:
            return
        now = time.perf_counter()
        last = batch == self.steps - 1
        point = {
            "kind": "batch",
            "epoch": self._epoch + 1,
            "batch": batch + 1,
            "step": self._epoch * self.steps + batch + 1,
            "batches_per_epoch": self.steps,
            "loss": real.get("loss"),
            "accuracy": real.get("accuracy"),
            "lr": None,
            "elapsed": now - self._t0,
        }
        if now - self._last_emit >= self.interval or last:
            self._last_emit, self._pending = now, None
            self._emit(dict(point, lr=current_lr(self.model.optimizer)))
        else:
            self._pending = point

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not _finished(self, self._batches):
            if self._pending:  # where it stopped, even if the throttle held that point back
                self._emit(dict(self._pending, lr=current_lr(self.model.optimizer)))
                self._pending = None
            return
        self._emit(
            {
                "kind": "epoch",
                "epoch": epoch + 1,
                "epochs": self.hp.epochs,
                "loss": _f(logs.get("loss")),
                "accuracy": _f(logs.get("accuracy")),
                "val_loss": _f(logs.get("val_loss")),
                "val_accuracy": _f(logs.get("val_accuracy")),
                "lr": current_lr(self.model.optimizer),
                "seconds": time.perf_counter() - self._epoch_t0,
                "elapsed": time.perf_counter() - self._t0,
            }
        )


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
            self.message = f"loss became NaN at epoch {self._epoch + 1} batch {batch + 1}; try a lower learning rate"
            _stop_now(self.model)

    def on_train_end(self, logs=None):
        _restore_eval(self.model)


class StopRequest(keras.callbacks.Callback):
    """Asks ``should_stop()`` after every batch and stops training there.

    Every batch, not every n seconds: a batch of a big model can take seconds, and the check
    (one indexed SQLite read in a job) costs well under a millisecond.
    """

    def __init__(self, should_stop):
        super().__init__()
        self.should_stop = should_stop
        self.requested = False

    def on_train_batch_end(self, batch, logs=None):
        if not self.model.stop_training and self.should_stop():
            self.requested = True
            _stop_now(self.model)

    def on_train_end(self, logs=None):
        _restore_eval(self.model)


class BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the lowest validation loss, and the epoch history."""

    def __init__(self):
        super().__init__()
        self.weights = None
        self.best_loss = np.inf
        self.best_epoch = None
        self.history = []
        self._t0 = 0.0
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0, self._batches = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        if not _finished(self, self._batches):
            return  # cut short: not an epoch of the history, never the best one
        logs = logs or {}
        self.history.append(
            {
                "epoch": epoch + 1,
                "loss": _f(logs.get("loss")),
                "accuracy": _f(logs.get("accuracy")),
                "val_loss": _f(logs.get("val_loss")),
                "val_accuracy": _f(logs.get("val_accuracy")),
                "lr": current_lr(self.model.optimizer),
                "seconds": time.perf_counter() - self._t0,
            }
        )
        val_loss = logs.get("val_loss")
        if val_loss is not None and math.isfinite(float(val_loss)) and float(val_loss) < self.best_loss:
            self.best_loss, self.best_epoch = float(val_loss), epoch + 1
            self.weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        # A run stopped before its first epoch ended has no best epoch: keep the current weights.
        if self.weights is None:
            self.weights = self.model.get_weights()


class WeightHistograms(keras.callbacks.Callback):
    """Histograms of every kernel's weights and of the loss gradient on them, per finished epoch
    (and once before training, as epoch 0), reported as ``{"kind": "histograms", ...}`` events.

    Bounded cost: one forward and backward pass on a fixed probe batch of ``len(x_probe)`` training
    images per epoch (about half a training step at 64 images) plus ``np.histogram`` over the
    weights; the model is called with ``training=False`` so BatchNorm statistics and dropout are
    untouched. Kernels only (Dense and Conv2D weights), as TensorBoard's weight views show.
    """

    def __init__(self, fn, x_probe, y_probe, loss, bins: int = 30):
        super().__init__()
        self.fn, self.x, self.y, self.loss, self.bins = fn, x_probe, y_probe, loss, bins
        self._batches = 0
        self._grads = None

    def on_epoch_begin(self, epoch, logs=None):
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches = batch + 1

    def on_train_begin(self, logs=None):
        self._grads = None
        self._emit(0)

    def on_epoch_end(self, epoch, logs=None):
        if _finished(self, self._batches):
            self._emit(epoch + 1)

    def _emit(self, epoch: int) -> None:
        if self.fn is None:
            return
        try:
            self._record(epoch)
        except Exception as exc:  # a diagnostic must never fail the run: report it once, then stop recording
            self.fn({"kind": "histograms_off", "epoch": epoch, "message": f"{type(exc).__name__}: {exc}"})
            self.fn = None

    def _record(self, epoch: int) -> None:
        import tensorflow as tf

        kernels = [
            (layer.name, w) for layer in self.model.layers for w in layer.trainable_weights if w.path.endswith("kernel")
        ]
        if not kernels:
            return
        if getattr(self, "_grads", None) is None:
            # Compiled once per run: run eagerly, the forward and backward pass cost ~3 training steps.
            out = self.model.outputs[0].shape
            y = np.reshape(self.y, (-1, 1)) if len(out) == 2 and out[-1] == 1 else self.y  # binary: one unit

            @tf.function
            def grads():
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(self.loss(y, self.model(self.x, training=False)))  # probe's mean loss
                return tape.gradient(loss, [w.value for _, w in kernels])

            self._grads = grads
        grads = self._grads()
        layers = []
        for (name, w), g in zip(kernels, grads):
            entry = {"layer": name, "shape": list(w.shape), "weights": _hist(np.asarray(w), self.bins)}
            if g is not None:
                entry["gradients"] = _hist(np.asarray(g), self.bins)
            layers.append(entry)
        self.fn({"kind": "histograms", "epoch": epoch, "layers": layers})


def _hist(values: np.ndarray, bins: int) -> dict:
    counts, edges = np.histogram(values.ravel(), bins=bins)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
