"""The job queue's boundary checks: everything a worker would trip over later, refused before a
run is queued (``jobs.submit``, ``sweeps``) or trained in this process (``train-here``).

The values themselves are the schema's business (``HParams``, ``normalize_spec``); here are the
checks that need more than the values: the task, the parameter cap for it, and a transfer source
on disk that fits the model.
"""

from __future__ import annotations

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling import saving
from fmnist_core.modeling.models import check_param_cap, normalize_spec
from fmnist_core.schema.hparams import HParams


def conv_body(spec) -> list[dict]:
    """The layers ``transfer_conv_weights`` copies from: everything before the classifier head."""
    out = []
    for layer in spec:
        if layer["type"] in ("Flatten", "GlobalAvgPool", "Dense"):
            break
        out.append(layer)
    return out


def check_transfer(spec, init_from: str) -> None:
    """ValueError unless ``init_from`` is a healthy saved model whose conv body matches ``spec``'s
    (what ``models.transfer_conv_weights`` would otherwise fail on inside the worker)."""
    try:
        meta = saving.load_metadata(init_from)
    except saving.ModelNotFoundError as exc:
        raise ValueError(str(exc)) from None
    mine = conv_body(spec)
    if not any(layer["type"] in ("Conv2D", "BatchNorm") for layer in mine):
        return  # nothing to copy: the transfer is a no-op (as for a linear model), not an error
    try:
        theirs = conv_body(normalize_spec(meta.get("spec") or []))
    except ValueError:
        theirs = None
    if theirs != mine:
        raise ValueError(
            f"--init-from {init_from!r} has a different architecture: its convolutional layers "
            "differ from this model's; pick a model trained with the same preset"
        )


def check_run(spec, task, hparams):
    """(normalized spec, Task, HParams) or ValueError: everything the worker would trip over later."""
    task = get_task(task)
    spec = normalize_spec(spec)
    check_param_cap(spec, task)
    hp = HParams.from_dict(hparams)  # the values, bounds and the split: the schema's rules
    if hp.init_from:
        check_transfer(spec, hp.init_from)
    return spec, task, hp
