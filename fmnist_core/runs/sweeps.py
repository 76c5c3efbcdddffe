"""Sweeps: one run per value of one parameter (or per pair of values: a grid), every run checked
before any is queued (``jobs.submit_sweep`` queues them).

A parameter is a hyperparameter (``HParams`` field) or one of ``SPEC_SWEEP_PARAMS``, which rewrite
the model's layers instead. Values typed in a form or on a command line arrive as text and are
read by the schema's own rules (``HParams.parse_field``).
"""

from __future__ import annotations

import copy

from fmnist_core.runs.checks import check_run
from fmnist_core.schema.hparams import HParams
from fmnist_core.schema.spec import ACTIVATIONS

SPEC_SWEEP_PARAMS = ("activation", "dropout")  # rewrite the spec's layers rather than an hparam
MAX_SWEEP_VALUES = 20


def label_of(spec) -> str:
    """A run's name stem: the preset's name, or "custom" for a layer list."""
    return spec if isinstance(spec, str) else "custom"


def plan_sweep(base: dict, param: str, values) -> list[dict]:
    """One run description per value: [{"spec", "task", "hparams" (HParams), "name", "value"}].

    base : {"spec": ..., "task": ..., "hparams": {...}, "name": optional}.
    param : "activation" (every hidden activation in the spec), "dropout" (every Dropout
        layer's rate), or an HParams field (lr, optimizer, normalize, batch_size, seed, ...).
    Every run is validated here, so a bad value queues nothing.
    """
    if not isinstance(base, dict) or "spec" not in base:
        raise ValueError('base must be a dict with at least "spec" (and optionally "task", "hparams", "name")')
    values = list(values)
    if not 2 <= len(values) <= MAX_SWEEP_VALUES:
        raise ValueError(f"a sweep needs 2-{MAX_SWEEP_VALUES} values, got {len(values)}")
    hp_fields = HParams.model_fields
    if param not in SPEC_SWEEP_PARAMS and param not in hp_fields:
        raise ValueError(
            f"cannot sweep {param!r}; choose {', '.join(SPEC_SWEEP_PARAMS)} or a hyperparameter: {', '.join(hp_fields)}"
        )
    label = base.get("name") or label_of(base["spec"])
    spec0, task, hp0 = check_run(base["spec"], base.get("task", "multiclass"), base.get("hparams"))
    plans = []
    for value in values:
        spec, hp = copy.deepcopy(spec0), hp0.to_dict()
        if param == "activation":
            spec = _with_activation(spec, value)
        elif param == "dropout":
            spec = _with_dropout(spec, value)
        else:
            hp[param] = value = HParams.parse_field(param, value)
        if param == "dropout":
            value = _rate(value)
        spec, task, hp = check_run(spec, task, hp)
        plans.append({"spec": spec, "task": task, "hparams": hp, "name": f"{label} {param}={value}", "value": value})
    if len({repr(p["value"]) for p in plans}) != len(plans):  # after parsing: "1e-3" and "0.001" are one value
        raise ValueError("sweep values must be distinct")
    return plans


def plan_grid(base: dict, param: str, values, param2: str, values2) -> list[dict]:
    """A two-parameter sweep: one run per (value, value2) pair, every run validated; each plan's
    ``value`` is the pair [value, value2]. At most MAX_SWEEP_VALUES runs in all."""
    if param2 == param:
        raise ValueError("a grid needs two different parameters")
    values, values2 = list(values), list(values2)
    if len(values) * len(values2) > MAX_SWEEP_VALUES:
        raise ValueError(
            f"a grid of {len(values)} × {len(values2)} = {len(values) * len(values2)} runs is too "
            f"big; at most {MAX_SWEEP_VALUES} runs"
        )
    plans = []
    for first in plan_sweep(base, param, values):
        inner = {"spec": first["spec"], "task": first["task"], "hparams": first["hparams"], "name": first["name"]}
        plans += [dict(p, value=[first["value"], p["value"]]) for p in plan_sweep(inner, param2, values2)]
    return plans


def _with_activation(spec: list[dict], activation) -> list[dict]:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    changed = 0
    for layer in spec:
        # "linear" marks a pre-activation layer (Conv -> BatchNorm -> Activation): leave it linear.
        if layer.get("activation") not in (None, "linear"):
            layer["activation"] = activation
            changed += 1
    if not changed:
        raise ValueError(
            "this model has no hidden activations to vary (e.g. the linear preset); "
            "pick a model with Dense or Conv2D layers"
        )
    return spec


def _with_dropout(spec: list[dict], rate) -> list[dict]:
    rate = _rate(rate)
    drops = [layer for layer in spec if layer["type"] == "Dropout"]
    if not drops:
        raise ValueError(
            "this model has no Dropout layer; add one in the builder (or use the mlp preset) to sweep dropout"
        )
    for layer in drops:
        layer["rate"] = rate
    return spec


def _rate(value) -> float:
    """A dropout rate typed as text or given as a number (its bounds are the Dropout layer's, checked
    with the spec)."""
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = None
    if rate is None or isinstance(value, bool):
        raise ValueError(f"dropout value {value!r} has the wrong type (expected a number)")
    return rate
