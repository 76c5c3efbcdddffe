"""Training: one function, ``train(spec, task, hparams)``, used by the CLI, jobs and tests.

Flow: validate hparams -> seed -> split data -> build model -> compile with the chosen
optimizer and LR schedule -> fit with progress, NaN guard, stop request, early stopping.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.data.tasks import get_task
from fmnist_core.modeling import precision as precisions
from fmnist_core.modeling.models import build_model, normalize_spec

# The hyperparameters and their rules live in the schema; importable from here as before.
from fmnist_core.schema.hparams import OPTIMIZERS, PRECISIONS, SCHEDULES, HParams  # noqa: F401


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the message says where and what to try."""


@dataclass
class TrainResult:
    model: object
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    val_metrics: dict = field(default_factory=dict)  # accuracy and loss on the validation split
    seconds: float = 0.0
    stopped: bool = False  # True when a stop request ended the run
    best_epoch: int | None = None
    precision: str = "float32"  # what it trained in (``auto`` resolved)
    precision_reason: str | None = None  # why, when ``auto`` chose it


# ---------------------------------------------------------------- schedules


def make_lr_schedule(hp: HParams, steps_per_epoch: int):
    """A Keras LearningRateSchedule (per step) for the chosen schedule, or a float for constant/step.

    ``step`` decay is applied per epoch by a LearningRateScheduler callback instead (see
    ``_step_decay_callback``), since it is defined in epochs.
    """
    import keras

    total = max(1, steps_per_epoch * hp.epochs)
    if hp.schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(hp.lr, steps_per_epoch, hp.decay_rate)
    if hp.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(hp.lr, total, alpha=0.01)
    if hp.schedule == "onecycle":
        # One-cycle: warm up from lr/25 to lr over 30% of the steps, then cosine-anneal to ~0.
        warm = max(1, int(0.3 * total))
        return keras.optimizers.schedules.CosineDecay(
            hp.lr / 25, total - warm, alpha=1e-3, warmup_target=hp.lr, warmup_steps=warm
        )
    return hp.lr


def _step_decay_callback(hp: HParams):
    import keras

    def schedule(epoch, lr):  # epoch is 0-based; "until epoch N" means epochs 1..N keep the LR
        return hp.lr * (hp.step_factor ** max(0, epoch + 1 - hp.step_epoch))

    return keras.callbacks.LearningRateScheduler(schedule)


def make_optimizer(hp: HParams, steps_per_epoch: int):
    import keras

    lr = make_lr_schedule(hp, steps_per_epoch)
    if hp.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=hp.momentum)
    if hp.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr)
    return keras.optimizers.Adam(lr)


def compile_model(model, hp: HParams, task, steps_per_epoch: int):
    import keras

    task = get_task(task)
    if task.is_binary:
        loss = keras.losses.BinaryCrossentropy(label_smoothing=hp.label_smoothing)
    elif hp.label_smoothing:  # Keras's sparse loss has no smoothing: make_dataset one-hot encodes
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=hp.label_smoothing)
    else:
        loss = "sparse_categorical_crossentropy"
    optimizer = make_optimizer(hp, steps_per_epoch)
    if any(layer.dtype_policy.name == "mixed_float16" for layer in model.layers):
        # float16 gradients underflow without loss scaling; Keras adds it only for a global policy
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    # Keywords matter: Keras 3 reads a third positional argument as loss_weights.
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


# ---------------------------------------------------------------- data pipeline


def make_dataset(x, y, hp: HParams, training: bool, n_classes: int | None = None, repeat: bool = False):
    """tf.data pipeline: float images (n,28,28,1), shuffled and augmented when training.

    ``repeat`` makes an endless stream of full batches (reshuffled each pass), for a caller that
    counts batches rather than epochs (the LR finder): no short last batch, whose new shape costs
    a retrace of the training step, and no restart of the pipeline between passes.

    With label smoothing on a multi-class task (``n_classes`` > 2), labels become one-hot
    (n, n_classes) for the categorical loss.

    tf.data's autotuning is off. With it, runs stalled for seconds outside their training steps
    (dropping an iterator waited on its tuning thread; an LR sweep's end stalled ~2.5 s in one sweep
    of 3-5): one epoch of fmnist_net on 18k images took 23.2-23.9 s with it and 13.5-13.6 s without,
    and on the full split a 2-epoch run spent 2.6-11.7 s outside its epochs with it, 1.7 s without
    (the epochs themselves, 31-34 s, were the same; BENCHMARKS.md, "Quiet-machine run, every row,
    after the warm LR Finder"). The model, not this in-memory pipeline, is the bottleneck, so
    nothing is lost.
    """
    import tensorflow as tf

    if hp.label_smoothing and n_classes and n_classes > 2 and y.ndim == 1:
        y = np.eye(n_classes, dtype=np.float32)[y.astype(int)]
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.float32 if y.ndim == 1 else y.dtype)))
    if training:
        ds = ds.shuffle(len(x), seed=hp.seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(hp.batch_size, drop_remainder=repeat)
    augment = augmentation(hp)
    if training and augment is not None:
        ds = ds.map(lambda images, labels: (augment(images), labels), num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def augmentation(hp: HParams):
    """The training pipeline's augmentation: a function (n, 28, 28, 1) floats -> same shape, random
    per call; None when ``hp`` asks for none. Also what Build & Train's preview shows."""
    from keras import layers

    aug = []
    if hp.augment_flip:
        aug.append(layers.RandomFlip("horizontal", seed=hp.seed))
    if hp.augment_shift > 0:
        aug.append(layers.RandomTranslation(hp.augment_shift, hp.augment_shift, fill_mode="constant", seed=hp.seed))
    if hp.augment_erase > 0:
        top = 1.0 if hp.normalize else 255.0
        aug.append(layers.RandomErasing(hp.augment_erase, value_range=(0, top), seed=hp.seed))
    if not aug:
        return None

    def augment(images):
        for layer in aug:
            images = layer(images, training=True)
        return images

    return augment


def prepare_split(task, hp: HParams, data=None):
    """(x_train, y_train, x_val, y_val) as model-ready floats and task labels.

    ``data`` may supply its own uint8 arrays as ((x_tr, y10_tr), (x_va, y10_va)), e.g. a
    few-shot set; otherwise the seeded stratified split of the training images is used.
    """
    task = get_task(task)
    if data is None:
        data = fdata.train_val_split(hp.val_fraction, hp.seed, hp.subset)
    (xtr, ytr), (xva, yva) = data
    return (
        fdata.preprocess(xtr, hp.normalize),
        task.labels(ytr),
        fdata.preprocess(xva, hp.normalize),
        task.labels(yva),
    )


# ---------------------------------------------------------------- the run


def train(
    spec,
    task="multiclass",
    hparams=None,
    callbacks=None,
    on_progress=None,
    should_stop=None,
    data=None,
    model=None,
    progress_interval: float = 0.25,
    histograms: bool = True,
) -> TrainResult:
    """Train a model and return it with its per-epoch history and validation metrics.

    spec : list of layer dicts or a preset name (see ``models``).
    task : task name or Task.
    hparams : HParams or dict.
    callbacks : extra Keras callbacks.
    on_progress : called with event dicts, ``{"kind": "start"|"batch"|"epoch"|"end", ...}``;
        batch events carry the real per-batch loss and accuracy, throttled to one per
        ``progress_interval`` seconds.
    should_stop : callable returning True to stop after the current batch; the best weights so
        far are kept and the result is marked ``stopped``.
    data : optional ((x_train, y10_train), (x_val, y10_val)) uint8 images and 10-class labels.
    model : optional prebuilt model (e.g. transfer-initialized); must match spec and task.
    histograms : with ``on_progress``, also report weight and gradient histograms per epoch
        (``callbacks.WeightHistograms``, about half a training step per epoch).

    Raises TrainingDivergedError if the loss becomes NaN/inf.
    """
    import keras

    from fmnist_core.modeling.callbacks import (
        BestWeights,
        NaNGuard,
        ProgressReporter,
        StopRequest,
        WeightHistograms,
    )

    hp = hparams if isinstance(hparams, HParams) else HParams.from_dict(hparams)
    hp.validate()
    task = get_task(task)
    spec = normalize_spec(spec)
    keras.utils.set_random_seed(hp.seed)

    xtr, ytr, xva, yva = prepare_split(task, hp, data)
    steps = math.ceil(len(xtr) / hp.batch_size)
    precision, precision_reason = precisions.resolve(hp.precision)
    if model is None:
        model = build_model(spec, task, precision=precision)
        if hp.init_from:
            from fmnist_core.modeling.inference import get_model
            from fmnist_core.modeling.models import transfer_conv_weights

            transfer_conv_weights(get_model(hp.init_from)[0], model)
    compile_model(model, hp, task, steps)

    best = BestWeights()
    nan_guard = NaNGuard()
    cbs = [nan_guard, best, ProgressReporter(on_progress, hp, len(xtr), len(xva), steps, progress_interval)]
    if on_progress and histograms:
        cbs.append(WeightHistograms(on_progress, xtr[:64], ytr[:64], keras.losses.get(model.loss)))
    stop_cb = StopRequest(should_stop) if should_stop else None
    if stop_cb:
        cbs.append(stop_cb)
    if hp.schedule == "step":
        cbs.append(_step_decay_callback(hp))
    if hp.early_stopping:
        cbs.append(keras.callbacks.EarlyStopping("val_loss", patience=hp.early_stopping, restore_best_weights=False))
    cbs.extend(callbacks or [])

    first_step = keras.callbacks.LambdaCallback(on_train_batch_end=lambda *_, **__: setattr(first_step, "done", True))
    first_step.done = False
    cbs.append(first_step)

    t0 = time.perf_counter()
    n_out = None if task.is_binary else task.n_classes
    try:
        keras_hist = model.fit(
            make_dataset(xtr, ytr, hp, True, n_out),
            validation_data=make_dataset(xva, yva, hp, False, n_out),
            epochs=hp.epochs,
            callbacks=cbs,
            verbose=0,
            shuffle=False,
        )
    except Exception as exc:
        # A reduced precision whose kernels this CPU lacks (bfloat16 with oneDNN below AVX-512) fails
        # at the very first step, in dozens of lines of graph context: say it in one line instead.
        if precision != "float32" and not first_step.done and _is_op_error(exc):
            raise precisions.unsupported(precision, exc) from None
        raise
    seconds = time.perf_counter() - t0
    if nan_guard.message:
        raise TrainingDivergedError(nan_guard.message)

    stopped = bool(stop_cb and stop_cb.requested)
    # Keep the best epoch's weights (by validation loss) whenever the run ended early or
    # early stopping is on; a plain run keeps its final weights, as Keras users expect.
    if best.weights is not None and (stopped or hp.early_stopping):
        model.set_weights(best.weights)
    history = best.history
    val = _val_metrics(model, xva, yva, task)
    if on_progress:
        on_progress({"kind": "end", "stopped": stopped, "seconds": seconds, **{f"val_{k}": v for k, v in val.items()}})
    del keras_hist
    return TrainResult(model, history, val, seconds, stopped, best.best_epoch, precision, precision_reason)


def _is_op_error(exc: BaseException) -> bool:
    import tensorflow as tf

    return isinstance(exc, tf.errors.OpError)


def _val_metrics(model, x, y, task) -> dict:
    from fmnist_core.modeling.evaluation import loss_and_accuracy, predict_proba

    if len(x) == 0:
        return {}
    probs = predict_proba(model, x)
    return loss_and_accuracy(y, probs)
