"""What the CLI commands share: the one-line-error parser, JSON and table output, the training flags."""
from __future__ import annotations

import argparse
import json
import math
import sys

from fmnist_core.modeling.training import PRECISIONS

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line ("error: ...") plus a hint, exit code 2."""

    def error(self, message):
        sys.stderr.write(f"error: {message} (see `{self.prog} -h`)\n")
        raise SystemExit(EXIT_USAGE)


# ---------------------------------------------------------------- argument types (checked before anything runs)
# Each raises ArgumentTypeError, which the Parser turns into one line and exit code 2.

MAX_SEED = 2**32 - 1   # NumPy and TensorFlow seeds are unsigned 32-bit
MAX_ID = 2**63 - 1     # SQLite's INTEGER


def int_in(lo: int, hi: int, what: str = "value"):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be in {lo}-{hi}, got {text}")
        return v
    parse.__name__ = what   # argparse names the type in its own messages
    return parse


def float_in(lo: float, hi: float, what: str = "value", lo_open: bool = False):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo):
            raise argparse.ArgumentTypeError(f"{what} must be a finite number in {'(' if lo_open else '['}{lo:g}, "
                                             f"{hi:g}], got {text}")
        return v
    parse.__name__ = what
    return parse


def model_name(text: str) -> str:
    from fmnist_core.modeling.saving import check_name
    try:
        return check_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def task_name(text: str) -> str:
    from fmnist_core.data.tasks import get_task
    try:
        return get_task(text).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


seed = int_in(0, MAX_SEED, "seed")
run_id = int_in(1, MAX_ID, "run id")


def _clean(v):
    """JSON has no NaN: an unmeasured value is null."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def print_json(obj) -> None:
    """Exactly one JSON object on stdout (progress goes to stderr, so the two never mix)."""
    from fmnist_core.modeling.saving import json_default
    print(json.dumps(_clean(obj), default=json_default))


def fmt_table(rows: list[list], header: list[str]) -> str:
    cols = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cols) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cols)


def pct(v):
    return "-" if v is None else f"{100 * v:.2f}%"


def add_train_arguments(tr) -> None:
    """The training flags, shared by the job-based ``train`` and the in-process fallback."""
    from fmnist_core.modeling.models import PRESETS
    tr.add_argument("--preset", required=True, choices=sorted(PRESETS))
    tr.add_argument("--task", default="multiclass", type=task_name,
                    help="multiclass, shoes, footwear_luggage or custom_<digits>")
    tr.add_argument("-mn", "--model-name", required=True, type=model_name, help="name to save the model under")
    tr.add_argument("--epochs", type=int_in(1, 500, "epochs"), default=5)
    tr.add_argument("--batch-size", type=int_in(1, 8192, "batch size"), default=128)
    tr.add_argument("--lr", type=float_in(0, 10, "learning rate", lo_open=True), default=1e-3)
    tr.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "rmsprop"])
    tr.add_argument("--schedule", default="constant", choices=["constant", "step", "exponential", "cosine", "onecycle"])
    tr.add_argument("--subset", type=int_in(1, 60000, "subset"), default=None,
                    help="train on a stratified subset of N images")
    tr.add_argument("--seed", type=seed, default=42)
    tr.add_argument("--augment-flip", action="store_true", help="random horizontal flips")
    tr.add_argument("--augment-shift", type=float_in(0, 0.3, "augment shift"), default=0.0,
                    help="random shifts, fraction of the image")
    tr.add_argument("--augment-erase", type=float_in(0, 1, "augment erase"), default=0.0,
                    help="random erasing: probability of blanking a rectangle")
    tr.add_argument("--label-smoothing", type=float_in(0, 0.49, "label smoothing"), default=0.0)
    tr.add_argument("--precision", default="auto", choices=PRECISIONS,
                    help="auto (default): measured once per machine, bfloat16 only where it is clearly faster")
    tr.add_argument("--no-normalize", action="store_true", help="keep raw 0-255 pixels")
    tr.add_argument("--early-stopping", type=int_in(0, 500, "early-stopping patience"), default=0,
                    help="patience in epochs (0 = off)")
    tr.add_argument("--init-from", default=None, type=model_name,
                    help="saved model whose conv layers initialize this one")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing model of that name")


def hparams_from_args(args) -> dict:
    return {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "optimizer": args.optimizer,
            "schedule": args.schedule, "subset": args.subset, "seed": args.seed, "augment_flip": args.augment_flip,
            "augment_shift": args.augment_shift, "normalize": not args.no_normalize,
            "early_stopping": args.early_stopping, "init_from": args.init_from, "augment_erase": args.augment_erase,
            "label_smoothing": args.label_smoothing, "precision": args.precision}
