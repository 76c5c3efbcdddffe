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


# ---------------------------------------------------------------- argument types (checked before anything runs)
# Each raises ArgumentTypeError, which the Parser turns into one line and exit code 2.

MAX_ID = 2**63 - 1  # SQLite's INTEGER


def int_in(lo: int, hi: int, what: str = "value"):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be in {lo}-{hi}, got {text}")
        return v

    parse.__name__ = what  # argparse names the type in its own messages
    return parse


def float_in(lo: float, hi: float, what: str = "value", lo_open: bool = False):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo):
            raise argparse.ArgumentTypeError(
                f"{what} must be a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}], got {text}"
            )
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


def hparam_type(name: str):
    """An argparse type for the HParams field ``name``: the schema's own rule and one-line message."""
    from fmnist_core.schema.hparams import HParams

    def parse(text: str):
        try:
            return HParams.parse_field(name, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name
    return parse


def add_hparam(parser, name: str, help: str | None = None) -> None:
    """``--<name>`` for an HParams field: its choices, type and default are the schema's."""
    from fmnist_core.schema.hparams import HParams
    from fmnist_core.schema.messages import allowed

    info = HParams.model_fields[name]
    flag = "--" + name.replace("_", "-")
    if HParams.choices(name):
        parser.add_argument(flag, default=info.default, choices=HParams.choices(name), help=help)
    else:
        parser.add_argument(
            flag, type=hparam_type(name), default=info.default, help=f"{help or info.title or name}: {allowed(info)}"
        )


def add_train_arguments(tr) -> None:
    """The training flags, shared by the job-based ``train`` and the in-process fallback; every
    hyperparameter is checked by the schema (``fmnist_core.schema.hparams``) as it is parsed."""
    from fmnist_core.modeling.models import PRESETS

    tr.add_argument("--preset", required=True, choices=sorted(PRESETS))
    tr.add_argument(
        "--task", default="multiclass", type=task_name, help="multiclass, shoes, footwear_luggage or custom_<digits>"
    )
    tr.add_argument("-mn", "--model-name", required=True, type=model_name, help="name to save the model under")
    for name in (
        "epochs",
        "batch_size",
        "lr",
        "optimizer",
        "schedule",
        "momentum",
        "step_epoch",
        "step_factor",
        "decay_rate",
        "val_fraction",
    ):
        add_hparam(tr, name)
    add_hparam(tr, "subset", help="train on a stratified subset of N images")
    add_hparam(tr, "seed")
    tr.add_argument("--augment-flip", action="store_true", help="random horizontal flips")
    add_hparam(tr, "augment_shift", help="random shifts, fraction of the image")
    add_hparam(tr, "augment_erase", help="random erasing: probability of blanking a rectangle")
    add_hparam(tr, "label_smoothing")
    add_hparam(
        tr, "precision", help="auto (default): measured once per machine, bfloat16 only where it is clearly faster"
    )
    tr.add_argument("--no-normalize", action="store_true", help="keep raw 0-255 pixels")
    add_hparam(tr, "early_stopping", help="patience in epochs (0 = off)")
    add_hparam(tr, "init_from", help="saved model whose conv layers initialize this one")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing model of that name")


def hparams_from_args(args) -> dict:
    """The HParams dict of parsed training flags (the fields a command has no flag for keep their defaults)."""
    from fmnist_core.schema.hparams import HParams

    hp = {name: getattr(args, name) for name in HParams.model_fields if hasattr(args, name)}
    hp["augment_flip"], hp["normalize"] = args.augment_flip, not args.no_normalize
    return hp
