"""What this computer is measured to do: precision ``auto``'s choice and the time of a quick run.

Every time the app states comes from this machine (``modeling.precision`` measures a training step
once per machine, in the pre-warmed worker, before the first Train), never from a figure written on
another machine. Nothing here imports TensorFlow: Home and Build & Train must open fast.
"""

from __future__ import annotations

from fmnist_core.modeling import models, timing
from fmnist_core.modeling.precision import known_choice

QUICK_IMAGES = 6000  # Build & Train's default training set (a stratified subset; 10% of it validates)


def precision_caption(selected: str) -> str:
    """One line under the Precision picker: what ``auto`` means here and why, or what was picked."""
    choice = known_choice()
    if selected != "auto":
        return f"{selected}, as chosen." + (f" auto would pick {choice.reason}." if choice else "")
    if choice is None:
        return (
            "auto: the first run on this computer times a few training steps in float32 and bfloat16 "
            "(10-20 s, once) and keeps the faster one that runs."
        )
    return f"auto → {choice.reason}."


def quick_run_text(images: int = QUICK_IMAGES) -> str:
    """How long the guide's quick run takes on this computer, from its measured training step."""
    epochs = int(models.RECIPES[models.DEFAULT_PRESET]["epochs"])
    n_val = -(-images // 10)
    secs = timing.reference_run_seconds(epochs, images - n_val, n_val)
    if secs is None:
        return f"{epochs} epochs, timed on this computer when you first train"
    return f"{epochs} epochs, about {max(1, round(secs)):,} s on this computer (from its measured training speed)"
