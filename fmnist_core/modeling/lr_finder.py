"""Learning-rate finder (Smith 2015; fastai's lr_find): an exponential per-batch LR sweep.

For each batch the LR grows by a constant factor from ``start_lr`` to ``end_lr``. While it
runs, ``DivergenceCheck`` stops the sweep once the loss has exploded (the median of the last five
losses over ``diverge_factor`` times its best), or the loss turns NaN. Afterwards the curve is
smoothed again without lag (``smooth_losses``) and fastai's suggestions are read off it.
Afterwards the model's weights and the optimizer's state are restored exactly, so the
finder can be run on a model and training can then start from where it was.
"""

from __future__ import annotations

import math
import time
from collections import deque

import numpy as np

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.models import build_model
from fmnist_core.modeling.precision import resolve as resolve_precision
from fmnist_core.modeling.training import HParams, compile_model, make_dataset, prepare_split


def smooth_losses(losses) -> np.ndarray:
    """Zero-lag smoothing: a 5-point running median, then a Savitzky-Golay filter (local quadratic
    fits over a centred window), both on log(loss).

    fastai's one-way EMA (beta = 0.98) lags by about 50 points on a 100-point sweep, more than a
    decade of LR, which put every suggestion to the right of where the loss really falls. Centred
    windows have no lag, and local quadratics keep the curve's shape (an EMA run forwards and
    backwards also has no lag, but smears the divergence back over the minimum: max error 0.4-0.9
    vs 0.06-0.12 on the synthetic sweep of tests/test_lr_finder.py). The median removes single
    spikes (one batch at loss 90 in a real tinyvgg sweep), and the log scale keeps an exploding
    tail from making the fit overshoot below zero. The window spans ~15% of the sweep, odd, >= 5.
    """
    from scipy.signal import medfilt, savgol_filter

    x = np.log(np.maximum(np.asarray(losses, dtype=float), 1e-12))
    window = min(len(x) - (1 - len(x) % 2), max(5, int(0.15 * len(x)) | 1))
    if window < 5:
        return np.exp(x)
    return np.exp(savgol_filter(medfilt(x, 5), window, polyorder=2, mode="interp"))


def edge_margin(n: int) -> int:
    """How many points at each end of the sweep no suggestion may use: the start is untrained
    noise and the end is divergence, and a smoother is least reliable at both edges."""
    return max(3, int(round(0.05 * n)))


def _suggestions(lrs: np.ndarray, smoothed: np.ndarray, diverge_factor: float = 4.0) -> dict:
    """fastai's three suggestions (``fastai.callback.schedule``), read off the zero-lag curve.

    Only the interior of the sweep is used (see ``edge_margin``), up to where the curve first
    exceeds ``diverge_factor`` times its lowest value so far (fastai stops its sweep there).

    - min_div_10: the LR of the lowest loss, divided by 10;
    - steepest: the most negative slope of loss against log(lr), before the minimum;
    - valley (fastai's default): the longest decreasing stretch (longest decreasing subsequence,
      as in fastai), taken halfway along it (fastai's index: start + 1/3 + 1/6 of its length).
      The stretch starts where the loss has begun to fall: a flat start drifting down by less
      than 10% of the total fall is not part of it. Without this rule the valley's start is the
      sweep's first point whenever the flat start happens to drift down, and the suggestion
      becomes the geometric middle of [start_lr, best lr], e.g. 6e-5 for fmnist_net.
    """
    n = len(lrs)
    m = edge_margin(n)
    lo, hi = m, n - m  # suggestions come from indices lo..hi-1
    if hi - lo >= 3:
        running_min = np.minimum.accumulate(smoothed[lo:hi])
        over = np.nonzero(smoothed[lo:hi] > diverge_factor * running_min)[0]
        hi = lo + int(over[0]) if len(over) else hi
    if hi - lo < 3:
        raise ValueError(
            f"the sweep has only {n} points and diverged early; need more points before the "
            "loss explodes (more batches, or a lower start LR)"
        )
    loss = smoothed[lo:hi]
    i_min = int(np.argmin(loss))
    out = {"min_div_10": float(lrs[lo + i_min] / 10)}
    grads = np.diff(loss) / np.diff(np.log(lrs[lo:hi]))
    out["steepest"] = float(lrs[lo + int(np.argmin(grads[: max(1, i_min)]))])
    top = loss[: i_min + 1].max()
    falling = np.nonzero(loss[: i_min + 1] >= top - 0.1 * (top - loss[i_min]))[0]
    s0 = int(falling[-1]) if len(falling) else 0
    seg = loss[s0 : i_min + 1]
    lds = np.ones(len(seg), dtype=int)  # lds[i]: longest decreasing subsequence ending at i
    for i in range(1, len(seg)):
        higher = seg[:i] > seg[i]
        if higher.any():
            lds[i] = lds[:i][higher].max() + 1
    end = int(np.argmax(lds))
    start = max(0, end - int(lds[end]))
    sections = (end - start) / 3
    out["valley"] = float(lrs[lo + s0 + start + int(sections) + int(sections / 2)])
    return out


def lr_find(
    spec,
    task="multiclass",
    hparams=None,
    model=None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_batches: int = 100,
    diverge_factor: float = 4.0,
    on_progress=None,
    data=None,
) -> dict:
    """Sweep the LR exponentially over ``num_batches`` training batches.

    Parameters
    ----------
    spec, task : the model (a prebuilt ``model`` may be given instead; it is restored afterwards).
    hparams : HParams/dict for optimizer, batch size, normalization, subset and seed.
    start_lr, end_lr : the swept range, 0 < start_lr < end_lr.
    on_progress : called with {"batch": i, "num_batches": n, "lr": lr, "loss": loss} per batch.

    Returns
    -------
    dict with ``lrs``, ``losses`` (raw per-batch), ``smoothed`` (lists of floats, same length),
    ``suggestions`` {valley, steepest, min_div_10}, ``stopped_reason`` and ``seconds``.
    """
    if not (0 < start_lr < end_lr):
        raise ValueError(f"need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    if not 5 <= int(num_batches) <= 10_000:
        raise ValueError(f"num_batches must be in 5-10000, got {num_batches}")
    if not diverge_factor > 1:
        raise ValueError(f"diverge_factor must be > 1, got {diverge_factor}")
    task, hp, xtr, ytr = _setup(task, hparams, data)
    if model is None:
        model = build_model(spec, task, precision=hp.precision)
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
        compile_model(model, hp, task, 1)
    model.optimizer.build(model.trainable_variables)
    saved = _snapshot(model)  # the optimizer's learning-rate variable included

    factor = (end_lr / start_lr) ** (1.0 / (num_batches - 1))
    lrs, losses = [], []
    diverged, reason = DivergenceCheck(diverge_factor), "completed the sweep"
    t0 = time.perf_counter()
    batches = sweep_batches(xtr, ytr, hp, task, num_batches)
    try:
        for i, (xb, yb) in enumerate(batches):
            lr = start_lr * factor**i
            model.optimizer.learning_rate = lr
            loss = float(model.train_on_batch(xb, yb, return_dict=True)["loss"])
            if not math.isfinite(loss):
                reason = f"loss became NaN/inf at lr={lr:.3g}"
                break
            lrs.append(lr)
            losses.append(loss)
            if on_progress:
                on_progress({"batch": i + 1, "num_batches": num_batches, "lr": lr, "loss": loss})
            if diverged.update(loss):
                reason = f"loss exceeded {diverge_factor:g}x its best at lr={lr:.3g}"
                break
    finally:
        _restore(model, saved)
    if len(lrs) < 2:
        raise ValueError("the sweep diverged immediately; lower start_lr")
    smoothed = smooth_losses(losses).tolist()
    sugg = _suggestions(np.array(lrs), np.array(smoothed), diverge_factor)
    return {
        "lrs": lrs,
        "losses": losses,
        "smoothed": smoothed,
        "suggestions": sugg,
        "stopped_reason": reason,
        "seconds": time.perf_counter() - t0,
        "start_lr": start_lr,
        "end_lr": end_lr,
    }


class DivergenceCheck:
    """Decides, batch by batch, that the sweep's loss has exploded: the median of the last ``window``
    losses exceeds ``factor`` times the lowest such median so far.

    fastai stops when a debiased EMA of the loss (beta 0.98) exceeds 4x its best. That average lags
    ~50 batches behind the loss, so on a 100-batch sweep it stops late or never: a fmnist_net sweep
    (batch 128, bfloat16) ran all 100 batches to lr = 10, its last losses 15-40 against a best of
    0.55; this check stops it at batch 93 (lr = 2.7). A running median lags ``window // 2`` batches
    and, unlike a short average, ignores a single bad batch (one at loss 90 in a real tinyvgg sweep).
    """

    def __init__(self, factor: float = 4.0, window: int = 5):
        self.factor = factor
        self.recent: deque[float] = deque(maxlen=window)
        self.best = math.inf

    def update(self, loss: float) -> bool:
        """Add one batch's loss; True once the loss has exploded."""
        self.recent.append(float(loss))
        if len(self.recent) < self.recent.maxlen:
            return False
        median = float(np.median(self.recent))
        self.best = min(self.best, median)
        return median > self.factor * self.best


def warm_model(spec, task="multiclass", hparams=None, data=None):
    """A model for ``lr_find(model=...)`` that starts the sweep at full speed: built and compiled as
    ``lr_find`` would (same seed, so the same initial weights), with its training step already traced
    by one batch, then put back to its fresh weights, optimizer and dropout-seed state.

    Tracing the step (and oneDNN's first kernels) is the sweep's first batch: 2-6 s of a ~10-s
    fmnist_net sweep on the 2-core machine (BENCHMARKS.md, "Quiet-machine run, every row, after the
    warm LR Finder"). The LR Finder page warms the model for the settings it shows while the user
    reads them; a sweep on it gives the same losses as on a fresh model (tests/test_lr_finder.py).
    """
    task, hp, xtr, ytr = _setup(task, hparams, data)
    model = build_model(spec, task, precision=hp.precision)
    compile_model(model, hp, task, 1)
    model.optimizer.build(model.trainable_variables)
    fresh = _snapshot(model)
    for xb, yb in sweep_batches(xtr, ytr, hp, task, 1):
        model.train_on_batch(xb, yb)
    _restore(model, fresh)
    return model


def _setup(task, hparams, data):
    """The sweep's task, hyperparameters (constant LR: the sweep sets it per batch) and training split,
    after seeding everything from ``hp.seed``."""
    import keras

    hp = HParams.from_dict(hparams.to_dict() if isinstance(hparams, HParams) else hparams)
    hp.schedule = "constant"
    hp.precision = resolve_precision(hp.precision)[0]  # "auto" -> what this machine trains fastest in
    task = get_task(task)
    keras.utils.set_random_seed(hp.seed)
    xtr, ytr, _, _ = prepare_split(task, hp, data)
    return task, hp, xtr, ytr


def sweep_batches(xtr, ytr, hp: HParams, task, n: int):
    """``n`` full training batches (x: (batch_size, 28, 28, 1), y), reshuffled on each pass over a
    small subset; augmented as in training (tf.data autotuning off, as for training)."""
    return make_dataset(xtr, ytr, hp, True, None if task.is_binary else task.n_classes, repeat=True).take(n)


def _snapshot(model) -> list:
    """Every variable a sweep changes: weights, BatchNorm statistics, dropout seed states (all in
    ``model.variables``) and the optimizer's moments and step count."""
    return [v.numpy().copy() for v in (*model.variables, *model.optimizer.variables)]


def _restore(model, saved: list) -> None:
    for var, value in zip((*model.variables, *model.optimizer.variables), saved):
        var.assign(value)
