"""Train, score and save in one call: what a job's worker (and ``make models``) does for a run."""

from __future__ import annotations

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.evaluation import loss_and_accuracy, predict_proba
from fmnist_core.modeling.models import normalize_spec
from fmnist_core.modeling.saving import stage_model
from fmnist_core.modeling.training import HParams, train


def test_metrics(model, task, hp: HParams) -> dict:
    """Loss and accuracy on the 10,000 test images (final reporting only, never for choosing)."""
    task = get_task(task)
    _, (x, y) = fdata.load_fashion_mnist()
    return loss_and_accuracy(task.labels(y), predict_proba(model, fdata.preprocess(x, hp.normalize)))


def train_and_save(
    spec, task, hparams, name: str, on_progress=None, should_stop=None, extra_meta=None, directory=None, publish=None
) -> dict:
    """Train ``spec`` on ``task``, score it on validation and test, save it as ``name``; return its metadata.

    publish : how the staged model file goes live, ``publish(staged, meta)``; default: at once
        (``staged.publish()``). The worker publishes inside the store transaction that records
        the result, under its lease (see ``runs.leases``); the staged file is discarded if that fails.
    """
    hp = hparams if isinstance(hparams, HParams) else HParams.from_dict(hparams)
    task = get_task(task)
    spec = normalize_spec(spec)
    result = train(spec, task, hp, on_progress=on_progress, should_stop=should_stop)
    meta = {
        "task": task.to_dict(),
        "spec": spec,
        "hparams": {**hp.to_dict(), "precision": result.precision},
        "precision_requested": hp.precision,
        "precision_reason": result.precision_reason,
        "seed": hp.seed,
        "val_metrics": result.val_metrics,
        "test_metrics": test_metrics(result.model, task, hp),
        "train_seconds": round(result.seconds, 2),
        "epochs_trained": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped": result.stopped,
        "history": result.history,
        **(extra_meta or {}),
    }
    staged = stage_model(result.model, name, meta, directory)
    meta["path"] = str(staged.target)
    try:
        staged.publish() if publish is None else publish(staged, meta)
    finally:
        staged.discard()  # a no-op once published
    return meta
