"""Learning-rate finder (Smith 2015; fastai's lr_find): an exponential per-batch LR sweep.

For each batch the LR grows by a constant factor from ``start_lr`` to ``end_lr``; the
loss is smoothed with a debiased exponential moving average, and the sweep stops once
the smoothed loss exceeds ``diverge_factor`` times its best value, or turns NaN.
Afterwards the model's weights and the optimizer's state are restored exactly, so the
finder can be run on a model and training can then start from where it was.
"""
from __future__ import annotations

import math
import time

import numpy as np

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.models import build_model
from fmnist_core.modeling.training import HParams, compile_model, make_dataset, prepare_split


def _suggestions(lrs: np.ndarray, smoothed: np.ndarray) -> dict:
    """valley (fastai's default), steepest descent, and the LR at minimum loss divided by 10."""
    n = len(lrs)
    i_min = int(np.argmin(smoothed))
    out = {"min_div_10": float(lrs[i_min] / 10)}
    if n < 3:
        out["steepest"] = out["valley"] = float(lrs[i_min])
        return out
    grads = np.gradient(smoothed, np.log(lrs))
    # Steepest: the most negative slope before the minimum (the loss is still falling there).
    upto = max(2, i_min + 1)
    out["steepest"] = float(lrs[int(np.argmin(grads[:upto]))])
    # Valley: the longest run of decreasing loss, 2/3 of the way along it (fastai's rule).
    best_len, best_start, cur_start = 0, 0, 0
    for i in range(1, n):
        if smoothed[i] < smoothed[i - 1]:
            if i - cur_start > best_len:
                best_len, best_start = i - cur_start, cur_start
        else:
            cur_start = i
    idx = best_start + int(round(best_len * 2 / 3)) if best_len else i_min
    out["valley"] = float(lrs[min(idx, n - 1)])
    return out


def lr_find(spec, task="multiclass", hparams=None, model=None, start_lr: float = 1e-7, end_lr: float = 10.0,
            num_batches: int = 100, beta: float = 0.98, diverge_factor: float = 4.0, on_progress=None,
            data=None) -> dict:
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
    import keras

    if not (0 < start_lr < end_lr):
        raise ValueError(f"need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    if not 5 <= int(num_batches) <= 10_000:
        raise ValueError(f"num_batches must be in 5-10000, got {num_batches}")
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    hp = hparams if isinstance(hparams, HParams) else HParams.from_dict(hparams)
    hp.schedule = "constant"
    task = get_task(task)
    keras.utils.set_random_seed(hp.seed)
    xtr, ytr, _, _ = prepare_split(task, hp, data)
    if model is None:
        model = build_model(spec, task)
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
        compile_model(model, hp, task, 1)
    model.optimizer.build(model.trainable_variables)
    saved_weights = model.get_weights()
    saved_opt = [v.numpy().copy() for v in model.optimizer.variables]
    saved_lr = float(np.asarray(model.optimizer.learning_rate))

    factor = (end_lr / start_lr) ** (1.0 / (num_batches - 1))
    lrs, losses, smoothed = [], [], []
    avg, best, reason = 0.0, math.inf, "completed the sweep"
    t0 = time.perf_counter()
    batches = _repeat_batches(make_dataset(xtr, ytr, hp, True), num_batches)
    try:
        for i, (xb, yb) in enumerate(batches):
            lr = start_lr * factor ** i
            model.optimizer.learning_rate = lr
            loss = float(model.train_on_batch(xb, yb, return_dict=True)["loss"])
            if not math.isfinite(loss):
                reason = f"loss became NaN/inf at lr={lr:.3g}"
                break
            avg = beta * avg + (1 - beta) * loss
            smooth = avg / (1 - beta ** (i + 1))  # debias: early averages are pulled towards 0
            lrs.append(lr)
            losses.append(loss)
            smoothed.append(smooth)
            if on_progress:
                on_progress({"batch": i + 1, "num_batches": num_batches, "lr": lr, "loss": loss})
            if i > 0 and smooth > diverge_factor * best:
                reason = f"loss exceeded {diverge_factor:g}x its best at lr={lr:.3g}"
                break
            best = min(best, smooth)
    finally:
        model.set_weights(saved_weights)
        for var, value in zip(model.optimizer.variables, saved_opt):
            var.assign(value)
        model.optimizer.learning_rate = saved_lr
    if len(lrs) < 2:
        raise ValueError("the sweep diverged immediately; lower start_lr")
    sugg = _suggestions(np.array(lrs), np.array(smoothed))
    return {"lrs": lrs, "losses": losses, "smoothed": smoothed, "suggestions": sugg, "stopped_reason": reason,
            "seconds": time.perf_counter() - t0, "start_lr": start_lr, "end_lr": end_lr}


def _repeat_batches(ds, n):
    """n batches, cycling the dataset if it is shorter (small subsets)."""
    count = 0
    while count < n:
        for batch in ds:
            yield batch
            count += 1
            if count >= n:
                return
