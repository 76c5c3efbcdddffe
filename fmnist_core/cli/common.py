"""What the CLI commands share: the one-line-error parser, JSON and table output, the training flags."""
from __future__ import annotations

import argparse
import json
import math
import sys

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line ("error: ...") plus a hint, exit code 2."""

    def error(self, message):
        sys.stderr.write(f"error: {message} (see `{self.prog} -h`)\n")
        raise SystemExit(EXIT_USAGE)


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
    tr.add_argument("--task", default="multiclass", help="multiclass, shoes, footwear_luggage or custom_<digits>")
    tr.add_argument("-mn", "--model-name", required=True, help="name to save the model under")
    tr.add_argument("--epochs", type=int, default=5)
    tr.add_argument("--batch-size", type=int, default=128)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "rmsprop"])
    tr.add_argument("--schedule", default="constant", choices=["constant", "step", "exponential", "cosine", "onecycle"])
    tr.add_argument("--subset", type=int, default=None, help="train on a stratified subset of N images")
    tr.add_argument("--seed", type=int, default=42)
    tr.add_argument("--augment-flip", action="store_true", help="random horizontal flips")
    tr.add_argument("--augment-shift", type=float, default=0.0, help="random shifts, fraction of the image")
    tr.add_argument("--no-normalize", action="store_true", help="keep raw 0-255 pixels")
    tr.add_argument("--early-stopping", type=int, default=0, help="patience in epochs (0 = off)")
    tr.add_argument("--init-from", default=None, help="saved model whose conv layers initialize this one")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing model of that name")


def hparams_from_args(args) -> dict:
    return {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "optimizer": args.optimizer,
            "schedule": args.schedule, "subset": args.subset, "seed": args.seed, "augment_flip": args.augment_flip,
            "augment_shift": args.augment_shift, "normalize": not args.no_normalize,
            "early_stopping": args.early_stopping, "init_from": args.init_from}
