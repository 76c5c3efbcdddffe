"""The measurement behind precision ``auto``: a probe model's fastest training step, float32 vs
mixed_bfloat16, interleaved; and the quick model's step, for the app's time estimates. Imports
TensorFlow (through Keras) only when it measures; ``precision`` decides and caches.
"""

from __future__ import annotations

import time

REFERENCE_PRESET = "quick"  # the model a student trains first (models.DEFAULT_PRESET): timed for estimates
REFERENCE_BATCH = 256  # the quick recipe's batch size: the ratio depends on the batch
# The probe that decides: convolutions heavy enough (4.2 M multiply-adds per image: the quick preset until
# 2026-12-07) that the step measures the CPU's bfloat16 arithmetic, not the optimizer and input overheads
# that dominate the small quick model's step (there native bfloat16 measured only 1.1-1.3x faster).
PROBE = [
    layer
    for filters in (32, 64)
    for layer in (
        {"type": "Conv2D", "filters": filters, "kernel_size": 3, "padding": "same", "activation": "linear"},
        {"type": "MaxPool2D", "pool_size": 2},
        {"type": "BatchNorm"},
        {"type": "Activation", "activation": "relu"},
    )
] + [
    {"type": "Flatten"},
    {"type": "Dense", "units": 128, "activation": "linear"},
    {"type": "BatchNorm"},
    {"type": "Activation", "activation": "relu"},
]
TIMED_STEPS = 8  # per precision, interleaved, after one untimed (tracing) step


def measure_steps(steps: int = TIMED_STEPS) -> tuple[float, float | None, str | None, float, float | None]:
    """Seconds of one training step of the probe (``PROBE``), float32 vs mixed_bfloat16, the fastest of
    ``steps`` each; then of the quick model (for the app's estimates), in float32 and, where bfloat16 may
    be chosen, in bfloat16. Returns (probe float32, probe bfloat16 or None, bfloat16's error or None,
    quick float32, quick bfloat16 or None).

    The steps alternate between the two models, so a burst of load elsewhere hits both alike, and the
    fastest step is what each precision costs when nothing else runs: on a busy machine the median
    once called a 1.6x faster bfloat16 "only 1.14x faster".
    bfloat16 stops early once it is plainly slow (emulated bfloat16 takes ~2 s a step here): the
    answer is clear, and a student should not wait for it.
    """
    f32 = _reference_step("float32", PROBE)
    quick_f32 = _fastest(_reference_step("float32", REFERENCE_PRESET), 5)
    try:
        bf16 = _reference_step("mixed_bfloat16", PROBE)
        bf16()  # the first step traces, and is where an unsupported bfloat16 kernel fails
    except Exception as exc:  # noqa: BLE001 - TensorFlow's op errors have no common narrower base
        return _fastest(f32, steps), None, short_error(exc), quick_f32, None
    f32()
    t32, t16 = [], []
    for i in range(steps):
        t32.append(_timed(f32))
        t16.append(_timed(bf16))
        if i >= 1 and min(t16) > 2 * max(t32):
            break
    quick_bf16 = None
    if min(t16) < min(t32):  # only where bfloat16 may be chosen: emulated, a quick step takes ~1 s
        quick_bf16 = _fastest(_reference_step("mixed_bfloat16", REFERENCE_PRESET), 5)
    return min(t32), min(t16), None, quick_f32, quick_bf16


def _reference_step(precision: str, spec):
    import keras
    import numpy as np

    from fmnist_core.modeling.models import build_model

    model = build_model(spec, "multiclass", precision=precision)
    # Adam and the sparse loss, as training compiles the default recipe (the schedule costs nothing)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((REFERENCE_BATCH, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, REFERENCE_BATCH).astype(np.float32)
    return lambda: model.train_on_batch(x, y)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _fastest(fn, steps: int) -> float:
    fn()
    return min(_timed(fn) for _ in range(steps))


def short_error(exc: BaseException) -> str:
    """One line from a TensorFlow error (its messages run to dozens of lines of graph context)."""
    text = str(exc)
    if "primitive descriptor" in text:
        return "oneDNN has no bfloat16 convolution for this CPU"
    first = next((ln.strip() for ln in text.splitlines() if ln.strip() and "Graph execution error" not in ln), "")
    return f"{type(exc).__name__}: {first}"[:200]
