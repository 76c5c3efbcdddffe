"""Tasks: the 10-class problem, and binary groupings of its classes.

A binary task is "positive classes vs the rest". ``binarize`` maps 10-class labels,
predicted labels or probability rows onto it, so a 10-class model can be scored on a
binary question (see the binarized-vs-binary study).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fmnist_core.data.fashion_mnist import CLASS_NAMES, N_CLASSES


@dataclass(frozen=True)
class Task:
    """A classification task over Fashion-MNIST.

    name : identifier used in the CLI, metadata and run store.
    positive : for binary tasks, the 10-class labels mapped to 1; ``None`` for multiclass.
    class_names : display names of the task's output classes, index = label.
    """

    name: str
    positive: frozenset[int] | None
    class_names: tuple[str, ...]
    description: str = ""

    @property
    def is_binary(self) -> bool:
        return self.positive is not None

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "positive": sorted(self.positive) if self.positive else None,
            "class_names": list(self.class_names),
        }

    def labels(self, y10: np.ndarray) -> np.ndarray:
        """10-class labels (n,) -> this task's labels (n,) uint8."""
        return y10.astype(np.uint8) if not self.is_binary else binarize(y10, self)


def _binary(name: str, positive: set[int], pos_name: str, neg_name: str, description: str) -> Task:
    return Task(name, frozenset(positive), (neg_name, pos_name), description)


MULTICLASS = Task("multiclass", None, CLASS_NAMES, "All 10 Fashion-MNIST classes.")
SHOES = _binary(
    "shoes",
    {5, 7, 9},
    "Shoes",
    "Not shoes",
    "Sandal, Sneaker and Ankle boot vs everything else (the original project's task 1).",
)
FOOTWEAR_LUGGAGE = _binary(
    "footwear_luggage",
    {5, 7, 8, 9},
    "Footwear and luggage",
    "Clothing",
    "Sandal, Sneaker, Bag and Ankle boot vs clothing.",
)
BUILTIN_TASKS = {t.name: t for t in (MULTICLASS, SHOES, FOOTWEAR_LUGGAGE)}


def custom_task(positive, name: str | None = None) -> Task:
    """Any set of classes (ints 0-9 or class names) vs the rest."""
    pos = set()
    for c in positive:
        if isinstance(c, str) and not c.isdigit():
            if c not in CLASS_NAMES:
                raise ValueError(f"unknown class {c!r}; choose from {', '.join(CLASS_NAMES)}")
            pos.add(CLASS_NAMES.index(c))
        else:
            pos.add(int(c))
    if not pos or any(not 0 <= c < N_CLASSES for c in pos) or len(pos) == N_CLASSES:
        raise ValueError("a custom task needs between 1 and 9 distinct classes from 0-9")
    name = name or "custom_" + "".join(str(c) for c in sorted(pos))
    pos_name = " + ".join(CLASS_NAMES[c] for c in sorted(pos))
    return _binary(name, pos, pos_name, "Rest", f"{pos_name} vs the rest.")


DISPLAY_NAMES = {
    "multiclass": "All 10 classes",
    "shoes": "Shoes vs the rest",
    "footwear_luggage": "Footwear & bags vs clothing",
}


def display_name(task) -> str:
    """A task in words, for every page: 'All 10 classes', 'Footwear & bags vs clothing',
    'T-shirt/top + Bag vs the rest' (never the identifier ``footwear_luggage``)."""
    try:
        task = get_task(task.get("name") if isinstance(task, dict) and "positive" not in task else task)
    except ValueError:
        return str(task)
    if task.name in DISPLAY_NAMES:
        return DISPLAY_NAMES[task.name]
    return f"{task.class_names[1]} vs the rest" if task.is_binary else task.name


def get_task(name_or_task) -> Task:
    """Resolve 'multiclass', 'shoes', 'footwear_luggage', 'custom_579' or a Task."""
    if isinstance(name_or_task, Task):
        return name_or_task
    if isinstance(name_or_task, dict):
        if name_or_task.get("positive") is None:
            return MULTICLASS
        return BUILTIN_TASKS.get(name_or_task["name"]) or custom_task(name_or_task["positive"], name_or_task["name"])
    name = str(name_or_task)
    if name in BUILTIN_TASKS:
        return BUILTIN_TASKS[name]
    if name.startswith("custom_") and name[7:].isdigit() and name[7:].isascii():  # "²".isdigit() too
        return custom_task(list(name[7:]))
    raise ValueError(
        f"unknown task {name!r}; choose from {', '.join(BUILTIN_TASKS)} or custom_<digits>, e.g. custom_579"
    )


def binarize(values: np.ndarray, task) -> np.ndarray:
    """Map 10-class labels or probabilities onto a binary task.

    values : int array (n,) of 10-class labels (true or predicted) -> uint8 (n,) of 0/1;
             or float array (n, 10) of class probabilities -> float (n, 2) whose columns are
             [P(negative), P(positive)], each the sum of its group's probability mass.
    """
    task = get_task(task)
    if not task.is_binary:
        raise ValueError(f"task {task.name!r} is not binary")
    values = np.asarray(values)
    pos = np.zeros(N_CLASSES, dtype=bool)
    pos[sorted(task.positive)] = True
    if values.ndim == 2:
        if values.shape[1] != N_CLASSES:
            raise ValueError(f"probability rows must have 10 columns, got {values.shape[1]}")
        p_pos = values[:, pos].sum(axis=1)
        return np.stack([values[:, ~pos].sum(axis=1), p_pos], axis=1)
    if values.ndim != 1:
        raise ValueError(f"expected labels (n,) or probabilities (n, 10), got shape {values.shape}")
    if values.size and (values.min() < 0 or values.max() >= N_CLASSES):
        raise ValueError("labels must be in 0-9")
    return pos[values.astype(np.int64)].astype(np.uint8)
