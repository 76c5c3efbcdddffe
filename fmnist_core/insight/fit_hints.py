"""Over- and underfitting hints from a run's epoch history, each stated with its evidence. No Streamlit.

The rules read only finished epochs (train and validation loss/accuracy), like a teacher looking
at the curves:
  * overfitting: validation loss has risen for ``k >= 2`` epochs in a row while training loss fell,
    or training accuracy is far above validation accuracy;
  * underfitting: training and validation accuracy are close and training loss is still falling
    clearly, so the model has room to learn more;
  * unstable: training loss rose from one epoch to the next by more than a tenth.
"""

from __future__ import annotations

GAP_POINTS = 8.0  # train - validation accuracy, in percentage points, that counts as a clear gap
CLOSE_POINTS = 2.0  # accuracies this close: no overfitting yet
STILL_FALLING = 0.03  # relative drop of the training loss in the last epoch that means "still learning"


def _rising_streak(values: list) -> int:
    """How many epochs in a row, up to the last one, the value has gone up."""
    n = 0
    for a, b in zip(values[-2::-1], values[:0:-1]):
        if a is None or b is None or b <= a:
            break
        n += 1
    return n


def fit_hints(history: list[dict]) -> list[dict]:
    """[{"kind": "overfitting"|"underfitting"|"unstable", "text": sentence with the numbers}], maybe empty.

    history : finished epochs, oldest first, with loss, accuracy, val_loss, val_accuracy.
    """
    hist = [h for h in history if h.get("loss") is not None]
    if len(hist) < 2:
        return []
    out = []
    loss = [h["loss"] for h in hist]
    val_loss = [h.get("val_loss") for h in hist]
    last = hist[-1]
    k = _rising_streak(val_loss)
    if k >= 2 and loss[-1] < loss[-1 - k]:
        e0 = hist[-1 - k]["epoch"]
        out.append(
            {
                "kind": "overfitting",
                "text": (
                    f"Validation loss has risen for {k} epochs ({val_loss[-1 - k]:.3f} at epoch {e0} → {val_loss[-1]:.3f} at "
                    f"epoch {last['epoch']}) while training loss fell ({loss[-1 - k]:.3f} → {loss[-1]:.3f}): the model is "
                    "learning its training images by heart. Try more augmentation, dropout or early stopping."
                ),
            }
        )
    acc, val_acc = last.get("accuracy"), last.get("val_accuracy")
    if acc is not None and val_acc is not None:
        gap = 100 * (acc - val_acc)
        if gap >= GAP_POINTS and not out:
            out.append(
                {
                    "kind": "overfitting",
                    "text": (
                        f"Training accuracy {100 * acc:.1f}% is {gap:.1f} points above validation accuracy "
                        f"{100 * val_acc:.1f}% at epoch {last['epoch']}: the model fits its training images much better "
                        "than new ones. Try more augmentation, dropout, fewer parameters or more training images."
                    ),
                }
            )
        drop = (loss[-2] - loss[-1]) / loss[-2] if loss[-2] else 0.0
        if abs(gap) < CLOSE_POINTS and drop >= STILL_FALLING:
            out.append(
                {
                    "kind": "underfitting",
                    "text": (
                        f"Training and validation accuracy are close ({100 * acc:.1f}% and {100 * val_acc:.1f}%) and training "
                        f"loss still fell {100 * drop:.0f}% in the last epoch ({loss[-2]:.3f} → {loss[-1]:.3f}): the model "
                        "has room to learn more. Train for more epochs, raise the learning rate or use a bigger model."
                    ),
                }
            )
    if loss[-1] > 1.1 * loss[-2]:
        out.append(
            {
                "kind": "unstable",
                "text": (
                    f"Training loss went up from {loss[-2]:.3f} to {loss[-1]:.3f} in epoch {last['epoch']}: the learning rate "
                    "may be too high. Try a lower one, or a schedule that decays it."
                ),
            }
        )
    return out
