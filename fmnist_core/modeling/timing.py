"""Estimated time per epoch, measured on a few real batches.

The Build page shows "about N s per epoch" before the user commits to a run. Counting
parameters does not predict speed (a conv layer with few weights can cost more than a
large Dense one), so we build the model and time real train and validation steps.

The first steps trace the graph and are much slower than the rest, so they are run as
warm-up and left out of the measurement.
"""

from __future__ import annotations

import math
import time

import numpy as np

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.models import build_model
from fmnist_core.modeling.precision import resolve as resolve_precision
from fmnist_core.modeling.training import HParams, compile_model

N_TRAIN_IMAGES = 60_000


def train_set_size(hparams=None) -> tuple[int, int]:
    """(training images, validation images) that a run with these hparams sees per epoch.

    Mirrors ``data.train_val_split``: a subset is drawn first, then split; sklearn rounds the
    validation share up.
    """
    hp = hparams if isinstance(hparams, HParams) else HParams.from_dict(hparams)
    total = int(hp.subset) if hp.subset else N_TRAIN_IMAGES
    n_val = math.ceil(total * hp.val_fraction)
    return total - n_val, n_val


def estimate_epoch_seconds(spec, task="multiclass", hparams=None, steps: int = 8, warmup: int = 2) -> dict:
    """Time ``steps`` training steps (after ``warmup`` untimed ones) and a few validation steps.

    spec, task : the model, as for ``models.build_model``.
    hparams : HParams or dict; its optimizer, batch size, normalization, subset and validation
        share decide the batch and epoch sizes.

    Returns a dict: ``seconds_per_epoch`` (train + validation), ``train_seconds``, ``val_seconds``,
    ``seconds_per_batch``, ``batches_per_epoch``, ``n_train``, ``n_val``, ``batch_size``,
    ``measured_steps``, ``precision`` (float32 or mixed_bfloat16). Real images are used, so the figure includes the real input cost.
    Augmentation runs in the input pipeline and is not included.
    """
    hp = hparams if isinstance(hparams, HParams) else HParams.from_dict(hparams)
    if not 1 <= int(steps) <= 100 or not 1 <= int(warmup) <= 20:
        raise ValueError(f"steps must be in 1-100 and warmup in 1-20, got {steps} and {warmup}")
    import keras  # after validation: a bad argument is reported without the TensorFlow start-up

    task = get_task(task)
    n_train, n_val = train_set_size(hp)
    bs = hp.batch_size
    (x, y10), _ = fdata.load_fashion_mnist()
    x = fdata.preprocess(x[:bs], hp.normalize)
    y = task.labels(y10[:bs]).astype(np.float32)
    if hp.label_smoothing and not task.is_binary:  # the smoothed loss takes one-hot labels
        y = np.eye(task.n_classes, dtype=np.float32)[y.astype(int)]

    keras.utils.set_random_seed(hp.seed)
    precision = resolve_precision(hp.precision)[0]
    model = build_model(spec, task, precision=precision)
    batches_per_epoch = math.ceil(n_train / bs)
    compile_model(model, hp, task, batches_per_epoch)
    for _ in range(warmup):
        model.train_on_batch(x, y)
        model.test_on_batch(x, y)

    # The median step, not the mean: on a shared CPU one step stalled by another process
    # would otherwise dominate the estimate.
    per_batch = _median_seconds(lambda: model.train_on_batch(x, y), steps)
    per_val_batch = _median_seconds(lambda: model.test_on_batch(x, y), max(1, steps // 2))

    train_s = per_batch * batches_per_epoch
    val_s = per_val_batch * math.ceil(n_val / bs) if n_val else 0.0
    return {
        "seconds_per_epoch": train_s + val_s,
        "train_seconds": train_s,
        "val_seconds": val_s,
        "seconds_per_batch": per_batch,
        "batches_per_epoch": batches_per_epoch,
        "n_train": n_train,
        "n_val": n_val,
        "batch_size": bs,
        "measured_steps": steps,
        "precision": precision,
    }


def _median_seconds(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def reference_run_seconds(epochs: int, n_train: int, n_val: int, home=None) -> float | None:
    """Seconds a run of the default (quick) model would take here, from the training step that precision
    ``auto`` measured on this machine; None before that measurement. Read without importing TensorFlow,
    so Home can say "about N s on this computer" instead of a figure from another machine.

    A validation batch is a forward pass only, about a third of a training step.
    """
    from fmnist_core.modeling.precision import REFERENCE_BATCH, known_choice, step_seconds

    choice = known_choice(home)
    step = step_seconds(choice) if choice else None
    if not step:
        return None
    per_image = step / REFERENCE_BATCH
    # per image, so another batch size is only approximated (smaller batches cost a little more per image)
    return epochs * per_image * (n_train + n_val / 3)
