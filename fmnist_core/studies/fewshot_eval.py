"""Study B's experiments: few-shot methods scored on a task's test images, compared, and swept over k.

``fewshot`` fits one method on one training set; this module draws the training sets (one per
seed or draw), scores every fit on the task's test images, and reports accuracies with their
spread over seeds and Wilson 95% intervals (``run_fewshot``, ``compare_methods``, ``kshot_curve``).
"""

from __future__ import annotations

import numpy as np

from fmnist_core.studies.fewshot import (
    DEFAULT_BACKBONE,
    DEFAULT_BACKBONES,
    DEFAULT_METHOD,
    DETERMINISTIC,
    KS,
    METHODS,
    fit,
)
from fmnist_core.studies.fewshot_data import FewShotData, builtin
from fmnist_core.studies.stats import mean_sd, wilson

SMALL_TEST = 20  # fewer test images than this: the page and CLI say the figure cannot support a conclusion


def small_test_warning(n: int) -> str | None:
    """A plain sentence when n test images cannot support a conclusion, else None."""
    if n >= SMALL_TEST:
        return None
    return (
        f"Only {n} test image{'s' if n != 1 else ''}: far too few to support any conclusion. Its 95% interval "
        f"is wide, and methods that differ by one image look like winners and losers. "
        f"Use at least {SMALL_TEST} test images (more per class is better)."
    )


def _data(task) -> FewShotData:
    return task if isinstance(task, FewShotData) else builtin(task)


def default_backbone(task) -> str:
    """The backbone a task uses unless told otherwise."""
    name = task.name if isinstance(task, FewShotData) else str(task)
    return DEFAULT_BACKBONES.get(name, DEFAULT_BACKBONE)


def run_fewshot(
    task,
    method: str = DEFAULT_METHOD,
    backbone: str | None = None,
    seeds: int = 3,
    shots: int | None = None,
    on_progress=None,
) -> dict:
    """Fit ``method`` with ``seeds`` seeds and score each on the task's test set.

    task : 'flats-heels', 'shoe-types' or a FewShotData.
    backbone : a saved model name; None -> ``default_backbone(task)``.
    shots : images per class drawn from the pool (seed s draws with seed s); None = the whole
        pool (flats-heels, your folders). shoe-types needs shots.
    on_progress : callable(fraction 0..1, message).

    Returns {task, method, backbone, classes, shots, n_train, n_test, seeds, accuracies,
    accuracy (mean), sd, correct and intervals (per seed: Wilson 95%), interval (seed 0's),
    unlabelled (which unlabelled images the method used, or None), warning (a sentence when the
    test set is too small to conclude anything, else None), confusion_matrix and predictions
    (first seed)}.
    """
    from sklearn.metrics import confusion_matrix

    data = _data(task)
    backbone = backbone or default_backbone(data)
    if shots is None and not data.fixed:
        raise ValueError(f"{data.name} draws its training images: give the shots per class (e.g. shots=5)")
    if not isinstance(seeds, int) or not 1 <= seeds <= 100:
        raise ValueError(f"seeds must be an integer in 1-100, got {seeds!r}")
    accs, corrects, ns, first = [], [], [], None
    for s in range(seeds):
        x, y, x_test, y_test = data.split(shots, s)

        def step(i, n, s=s):
            if on_progress:
                on_progress((s + i / n) / seeds, f"seed {s + 1}/{seeds}: {method} step {i}/{n}")

        if first is not None and shots is None and method in DETERMINISTIC:
            fitted, pred = first[2], first[0]  # same images, nothing random: the same model
        else:
            fitted = fit(method, backbone, x, y, data.classes, seed=s, on_step=step, x_unlabelled=x_test)
            pred = fitted.predict_proba(x_test).argmax(axis=1)
        accs.append(float(np.mean(pred == y_test)))
        corrects.append(int(np.sum(pred == y_test)))
        ns.append(int(len(y_test)))
        if first is None:
            first = (pred, len(x), fitted, y_test)
    mean, sd = mean_sd(accs)
    cm = confusion_matrix(first[3], first[0], labels=list(range(len(data.classes))))
    return {
        "task": data.name,
        "method": method,
        "backbone": backbone,
        "classes": list(data.classes),
        "shots": shots,
        "n_train": first[1],
        "n_test": int(len(first[3])),
        "seeds": list(range(seeds)),
        "accuracies": accs,
        "accuracy": mean,
        "sd": sd,
        "confusion_matrix": cm.tolist(),
        "correct": corrects,
        "intervals": [list(wilson(c, n)) for c, n in zip(corrects, ns)],
        "interval": list(wilson(corrects[0], ns[0])),  # seed 0's accuracy, n = n_test
        "unlabelled": first[2].unlabelled,
        "warning": small_test_warning(ns[0]),
        "predictions": first[0],
        "model": first[2],
    }


def compare_methods(
    task, methods=METHODS, backbone: str | None = None, seeds: int = 3, shots: int | None = None, on_progress=None
) -> dict:
    """``run_fewshot`` for each method on the same draws: {method: result}."""
    out = {}
    for i, m in enumerate(methods):

        def prog(f, msg, i=i):
            if on_progress:
                on_progress((i + f) / len(methods), msg)

        out[m] = run_fewshot(task, m, backbone, seeds, shots, prog)
    return out


def kshot_curve(
    task="shoe-types", methods=METHODS, ks=KS, draws: int = 5, backbone: str | None = None, on_progress=None
) -> list[dict]:
    """Accuracy vs shots per class: one row per (k, method) with the mean and sd over ``draws``.

    Draw d (seed d) uses the same training images for every method, so methods are compared
    on identical data. Returns [{'k', 'method', 'mean', 'sd', 'accuracies', 'draws', 'correct',
    'n', 'interval'}], ordered by k, then method; 'interval' is the Wilson 95% interval of all
    draws' test answers pooled (correct of n = draws x test images; the draws share test images,
    so it understates the draw-to-draw spread, which 'sd' shows).
    """
    data = _data(task)
    backbone = backbone or default_backbone(data)
    ks = [int(k) for k in ks]
    too_many = [k for k in ks if k > data.max_shots()]
    if too_many:
        raise ValueError(f"{data.name} has at most {data.max_shots()} image(s) per class; drop k = {too_many}")
    if isinstance(draws, bool) or not isinstance(draws, int) or not 1 <= draws <= 100:
        raise ValueError(f"draws must be an integer in 1-100, got {draws!r}")
    if not ks or not methods:
        raise ValueError("the curve needs at least one k and one method")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    total, done, rows = len(ks) * len(methods) * draws, 0, []
    for k in ks:
        accs = {m: [] for m in methods}
        counts = {m: [0, 0] for m in methods}
        for d in range(draws):
            x, y, x_test, y_test = data.split(k, d)
            for m in methods:
                fitted = fit(m, backbone, x, y, data.classes, seed=d, x_unlabelled=x_test)
                pred = fitted.predict_proba(x_test).argmax(axis=1)
                accs[m].append(float(np.mean(pred == y_test)))
                counts[m][0] += int(np.sum(pred == y_test))
                counts[m][1] += int(len(y_test))
                done += 1
                if on_progress:
                    on_progress(done / total, f"k = {k}, draw {d + 1}/{draws}: {m}")
        for m in methods:
            mean, sd = mean_sd(accs[m])
            c, n = counts[m]
            rows.append(
                {
                    "k": k,
                    "method": m,
                    "mean": mean,
                    "sd": sd,
                    "accuracies": accs[m],
                    "draws": draws,
                    "correct": c,
                    "n": n,
                    "interval": list(wilson(c, n)),
                }
            )
    return rows
