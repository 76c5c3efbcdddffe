"""Study A: is a 10-class model, binarized, better at a binary question than a binary model?

Three approaches are scored on the same 10,000 test images:

* **binarized**: a 10-class model; each image goes to the group holding more of its
  probability mass (``tasks.binarize``). A variant, **binarized_argmax**, takes the group of
  the single most likely class instead; both are reported.
* **direct**: a binary model with the same body, trained from scratch on the grouped labels.
* **transfer**: the same binary model, its conv layers initialized from the 10-class model.

Each approach may hold several models (seeds); metrics are then mean +- sd over them, while
the confusion matrix, the McNemar tests and the disagreement images use each approach's
*primary* model (the first one, i.e. the shipped model). The test images are paired, so the
right test is McNemar's on the images where two approaches disagree.

The result's tables and its verdict in words are ``binary_report``'s.
"""

from __future__ import annotations

import numpy as np

from fmnist_core.data.tasks import binarize, get_task
from fmnist_core.modeling.inference import model_task, split_probabilities
from fmnist_core.modeling.saving import load_metadata
from fmnist_core.studies.stats import ALPHA, holm, mcnemar_exact, mean_sd, within_noise

APPROACHES = ("binarized", "direct", "transfer")
VARIANT = "binarized_argmax"
LABELS = {
    "binarized": "binarized 10-class model",
    "binarized_argmax": "binarized 10-class model (arg-max class)",
    "direct": "direct binary model",
    "transfer": "binary model with transfer",
}
TITLES = {
    "binarized": "Binarized 10-class (probability mass)",
    "binarized_argmax": "Binarized 10-class (arg-max class)",
    "direct": "Direct binary (from scratch)",
    "transfer": "Direct binary with transfer",
}
PAIRS = (("binarized", "direct"), ("binarized", "transfer"), ("direct", "transfer"), ("binarized", VARIANT))
METRICS = ("accuracy", "balanced_accuracy", "f1")
MIN_SEEDS_FOR_NOISE = 3


def default_model_names(task) -> dict:
    """The shipped models for a task: {'multiclass': 'fmnist_cnn', 'direct': '<task>_cnn', 'transfer': '<task>_transfer'}."""
    task = get_task(task)
    return {"multiclass": "fmnist_cnn", "direct": f"{task.name}_cnn", "transfer": f"{task.name}_transfer"}


def binarized_predictions(probs10: np.ndarray, task) -> dict:
    """A 10-class model's probability rows (n, 10) -> binary predictions, two ways.

    Returns {'mass': uint8 (n,), 1 where the positive group's summed probability exceeds the
    negative group's (ties go to the negative group), 'argmax': uint8 (n,), 1 where the single
    most likely class belongs to the positive group}.
    """
    probs10 = np.asarray(probs10, dtype=np.float64)
    if probs10.ndim != 2 or probs10.shape[1] != 10:
        raise ValueError(f"expected probability rows of shape (n, 10), got {probs10.shape}")
    mass = binarize(probs10, task)
    return {"mass": (mass[:, 1] > mass[:, 0]).astype(np.uint8), "argmax": binarize(probs10.argmax(axis=1), task)}


def binary_metrics(y: np.ndarray, pred: np.ndarray) -> dict:
    """Accuracy, balanced accuracy, F1 of the positive class and the 2x2 confusion matrix (rows = true)."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

    y, pred = np.asarray(y).astype(np.int64), np.asarray(pred).astype(np.int64)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "f1": float(f1_score(y, pred, pos_label=1, zero_division=0)),
        "confusion_matrix": confusion_matrix(y, pred, labels=[0, 1]).tolist(),
        "n": int(len(y)),
    }


def _as_list(names) -> list[str]:
    names = [names] if isinstance(names, str) else list(names or [])
    if not names:
        raise ValueError("each approach needs at least one model")
    return names


def _check_binary_model(name: str, task) -> None:
    own = model_task(load_metadata(name))
    if not own.is_binary or own.positive != task.positive:
        what = f"a binary model of {own.name!r}" if own.is_binary else "a 10-class model"
        raise ValueError(
            f"{name!r} is {what}, not of the grouping {task.name!r} "
            f"({', '.join(str(c) for c in sorted(task.positive))} vs rest)"
        )


def _predictions(approach: str, name: str, task) -> tuple[np.ndarray, np.ndarray, dict]:
    """(binary labels of the test split, predictions, {variant: predictions})."""
    if approach == "binarized":
        if model_task(load_metadata(name)).is_binary:
            raise ValueError(f"{name!r} is a binary model; the binarized approach needs a 10-class model")
        probs10, _, _, y10 = split_probabilities(name, "test")
        preds = binarized_predictions(probs10, task)
        return task.labels(y10), preds["mass"], {VARIANT: preds["argmax"]}
    _check_binary_model(name, task)
    probs, y, _, _ = split_probabilities(name, "test")
    return y, probs.argmax(axis=1).astype(np.uint8), {}


def _summary(runs: list[dict], label: str, title: str) -> dict:
    out = {
        "label": label,
        "title": title,
        "models": [r["model"] for r in runs],
        "n_seeds": len(runs),
        "confusion_matrix": runs[0]["confusion_matrix"],
        "runs": runs,
    }
    for key in METRICS:
        out[key], out[f"{key}_sd"] = mean_sd(r[key] for r in runs)
    return out


def compare_binary(task="footwear_luggage", multiclass=None, direct=None, transfer=None, on_progress=None) -> dict:
    """Score the three approaches on the test split and test every pair.

    task : a binary grouping: 'footwear_luggage', 'shoes', a custom task ('custom_579') or Task.
    multiclass, direct, transfer : a saved model name or a list of names (seeds); the first is
        the primary model. ``None`` -> the shipped defaults (see ``default_model_names``).
    on_progress : optional callable(done: int, total: int, model_name: str).

    Returns ``compare_predictions``'s dict (see there), plus ``notes``: warnings from
    ``design_notes`` when the chosen models do not make a fair comparison.
    """
    task = get_task(task)
    if not task.is_binary:
        raise ValueError(f"task {task.name!r} is not binary; use footwear_luggage, shoes or custom_<digits>")
    defaults = default_model_names(task)
    chosen = {
        "binarized": _as_list(multiclass or defaults["multiclass"]),
        "direct": _as_list(direct or defaults["direct"]),
        "transfer": _as_list(transfer or defaults["transfer"]),
    }
    total, done = sum(len(v) for v in chosen.values()), 0
    preds = {a: [] for a in (*APPROACHES, VARIANT)}
    y_ref = None
    for approach in APPROACHES:
        for name in chosen[approach]:
            y, pred, variants = _predictions(approach, name, task)
            y_ref = y if y_ref is None else y_ref
            preds[approach].append(pred)
            for v, vpred in variants.items():
                preds[v].append(vpred)
            done += 1
            if on_progress:
                on_progress(done, total, name)
    models = {**chosen, VARIANT: chosen["binarized"]}
    result = compare_predictions(task, y_ref, preds, models, y10=_test_labels10())
    result["notes"] = design_notes(chosen)
    return result


def design_notes(chosen: dict) -> list[str]:
    """Warnings when the chosen models do not make a fair comparison: a binary model with a
    different body than the 10-class model, a "direct" model that was transfer-initialized, or
    a transfer model initialized from another 10-class model than the one compared."""
    from fmnist_core.modeling.models import normalize_spec

    multi = chosen["binarized"][0]
    body = normalize_spec(load_metadata(multi).get("spec") or [])
    notes = []
    for approach in ("direct", "transfer"):
        for name in chosen[approach]:
            meta = load_metadata(name)
            spec = meta.get("spec")
            if spec is not None and normalize_spec(spec) != body:
                notes.append(
                    f"{name} ({LABELS[approach]}) has a different architecture body than {multi}: "
                    "the comparison mixes the approach with the architecture."
                )
            source = (meta.get("hparams") or {}).get("init_from")
            if approach == "direct" and source:
                notes.append(f"{name} was initialized from {source}, so it is not a from-scratch model.")
            if approach == "transfer" and source != multi:
                notes.append(f"{name} was initialized from {source or 'random weights'}, not from {multi}.")
    return notes


def compare_predictions(task, y: np.ndarray, preds: dict, models: dict | None = None, y10=None) -> dict:
    """The study's statistics from binary predictions on the same images.

    y : true binary labels (n,). preds : {approach: [predictions (n,) per seed]} for the keys
    'binarized', 'direct', 'transfer' and optionally 'binarized_argmax'; the first array of
    each list is the approach's primary model. models : {approach: [model names]}, same shapes.

    Returns a dict: task, task_def, class_names, n, approaches {name: summary with accuracy,
    balanced_accuracy, f1 (means over seeds), their *_sd, confusion_matrix (primary model),
    runs (per model)}, variants {'binarized_argmax': summary}, mcnemar {'a vs b': {first,
    second, b (first right, second wrong), c (the reverse), p_value, p_adjusted (Holm over the
    tests reported), p_values_per_seed (the other seeds' pairs, see ``_seed_pairs``)}}, noise {'a vs b': True
    (gap within 2 sd of seed noise) / False / None (neither approach has MIN_SEEDS_FOR_NOISE seeds)}, predictions {name:
    primary predictions}, y, y10 and disagreements (indices where the primary models of the
    three approaches do not all agree).
    """
    task = get_task(task)
    y = np.asarray(y).astype(np.int64)
    keys = [k for k in (*APPROACHES, VARIANT) if k in preds]
    missing = [k for k in APPROACHES if not preds.get(k)]
    if missing:
        raise ValueError(f"no predictions for {', '.join(missing)}")
    models = models or {k: [f"{k} model {i + 1}" for i in range(len(preds[k]))] for k in keys}
    summaries = {
        k: _summary([{"model": m, **binary_metrics(y, p)} for m, p in zip(models[k], preds[k])], LABELS[k], TITLES[k])
        for k in keys
    }
    correct = {k: [np.asarray(p) == y for p in preds[k]] for k in keys}
    mcnemar = {}
    for a, b in (pair for pair in PAIRS if pair[1] in preds):
        test = {"first": a, "second": b, **mcnemar_exact(correct[a][0], correct[b][0])}
        test["p_values_per_seed"] = [
            mcnemar_exact(correct[a][i], correct[b][j])["p_value"]
            for i, j in _seed_pairs(len(correct[a]), len(correct[b]))
        ]
        mcnemar[f"{a} vs {b}"] = test
    for key, p in holm({k: v["p_value"] for k, v in mcnemar.items()}).items():
        mcnemar[key]["p_adjusted"] = p
    noise = {
        key: within_noise(
            summaries[t["first"]]["accuracy"],
            _sd_if_measured(summaries[t["first"]]),
            summaries[t["second"]]["accuracy"],
            _sd_if_measured(summaries[t["second"]]),
        )
        for key, t in mcnemar.items()
    }
    primary = {k: np.asarray(preds[k][0]).astype(np.uint8) for k in keys}
    stacked = np.stack([primary[a] for a in APPROACHES])
    return {
        "task": task.name,
        "task_def": task.to_dict(),
        "class_names": list(task.class_names),
        "n": int(len(y)),
        "approaches": {a: summaries[a] for a in APPROACHES},
        "variants": {k: summaries[k] for k in keys if k not in APPROACHES},
        "mcnemar": mcnemar,
        "noise": noise,
        "alpha": ALPHA,
        "predictions": primary,
        "y": y,
        "y10": None if y10 is None else np.asarray(y10),
        "disagreements": np.flatnonzero((stacked != stacked[0]).any(axis=0)),
    }


def _seed_pairs(na: int, nb: int) -> list[tuple[int, int]]:
    """Model index pairs for the per-seed tests beyond the primary pair (0, 0): seed i with seed i;
    a lone model (one 10-class model, say) is paired with every other seed of the other side."""
    if na == 1 or nb == 1:
        return [(min(i, na - 1), min(i, nb - 1)) for i in range(1, max(na, nb))]
    return [(i, i) for i in range(1, min(na, nb))]


def _sd_if_measured(summary: dict) -> float:
    """The accuracy sd over seeds, or NaN below MIN_SEEDS_FOR_NOISE seeds (two values make a poor sd)."""
    return summary["accuracy_sd"] if summary["n_seeds"] >= MIN_SEEDS_FOR_NOISE else float("nan")


def _test_labels10() -> np.ndarray:
    from fmnist_core.insight.explore import split_arrays

    return split_arrays("test")[1]  # reads the 10k test files alone, not all 70k
