"""Command line: ``python -m fmnist_core COMMAND ...`` (``-h`` on any command documents it).

The commands call the same core functions as the app. Bad arguments get a one-line
error and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line ("error: ...") plus a hint, exit code 2."""

    def error(self, message):
        sys.stderr.write(f"error: {message} (see `{self.prog} -h`)\n")
        raise SystemExit(EXIT_USAGE)


def _print_json(obj) -> None:
    from .saving import _json_default
    print(json.dumps(obj, default=_json_default))


def _fmt_table(rows: list[list], header: list[str]) -> str:
    cols = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cols) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cols)


# ---------------------------------------------------------------- test

def cmd_test(args) -> int:
    from .inference import evaluate_saved

    res = evaluate_saved(args.model_name, split=args.split, task=args.task)
    if args.json:
        _print_json(res)
        return EXIT_OK
    print(f"model {res['model']}  task {res['task']}  split {res['split']}  n={res['n']}")
    print(f"accuracy {res['accuracy']:.4f}  loss {res['loss']:.4f}  balanced accuracy {res['balanced_accuracy']:.4f}")
    names = res["class_names"]
    short = [n[:10] for n in names]
    print("\nconfusion matrix (rows = true, columns = predicted):")
    print(_fmt_table([[short[i]] + row for i, row in enumerate(res["confusion_matrix"])], ["true \\ pred"] + short))
    print("\nper-class report:")
    print(_fmt_table([[r["class"], f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}", r["support"]]
                      for r in res["report"]], ["class", "precision", "recall", "f1", "support"]))
    if res["most_confused"]:
        print("\nmost confused:", "; ".join(f"{p['true']} -> {p['predicted']} ({p['count']})"
                                            for p in res["most_confused"][:5]))
    return EXIT_OK


# ---------------------------------------------------------------- lr-find

def cmd_lr_find(args) -> int:
    from .lr_finder import lr_find

    hp = {"batch_size": args.batch_size, "optimizer": args.optimizer, "subset": args.subset, "seed": args.seed}
    res = lr_find(args.preset, args.task, hp, start_lr=args.start_lr, end_lr=args.end_lr,
                  num_batches=args.num_batches)
    if args.json:
        _print_json(res)
        return EXIT_OK
    s = res["suggestions"]
    print(f"swept {len(res['lrs'])} batches from {res['lrs'][0]:.2g} to {res['lrs'][-1]:.2g} in "
          f"{res['seconds']:.1f} s ({res['stopped_reason']})")
    print(f"suggested LR: valley {s['valley']:.3g}   steepest {s['steepest']:.3g}   min/10 {s['min_div_10']:.3g}")
    return EXIT_OK


# ---------------------------------------------------------------- models

def cmd_models(args) -> int:
    from .saving import list_models

    models = list_models()
    if args.json:
        _print_json(models)
        return EXIT_OK
    if not models:
        print("no saved models yet: run `make models`, or train one with `python -m fmnist_core train`")
        return EXIT_OK
    rows = []
    for m in models:
        val, test = m.get("val_metrics") or {}, m.get("test_metrics") or {}
        rows.append([m["name"], (m.get("task") or {}).get("name", "?"), f"{m.get('n_params', 0):,}",
                     _pct(val.get("accuracy")), _pct(test.get("accuracy")),
                     "shipped" if m.get("shipped") else "yours", m.get("error", "")])
    print(_fmt_table(rows, ["name", "task", "params", "val acc", "test acc", "source", ""]))
    return EXIT_OK


def _pct(v):
    return "-" if v is None else f"{100 * v:.2f}%"


# ---------------------------------------------------------------- train (in this process)

def add_train_arguments(tr) -> None:
    """The training flags, shared by the job-based ``train`` and the in-process fallback."""
    from .models import PRESETS
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


def cmd_train_here(args) -> int:
    from .models import preset
    from .runner import train_and_save
    from .saving import ModelNotFoundError, find_model

    try:
        find_model(args.model_name)
        if not args.overwrite:
            raise ValueError(f"a model named {args.model_name!r} exists; pass --overwrite or choose another name")
    except ModelNotFoundError:
        pass

    from .cli_jobs import epoch_line

    def show(e):
        if e["kind"] == "epoch":
            print(epoch_line(e, e["epochs"]), flush=True)
    meta = train_and_save(preset(args.preset), args.task, hparams_from_args(args), args.model_name, on_progress=show)
    print(f"saved {meta['path']}: val acc {meta['val_metrics']['accuracy']:.4f}, "
          f"test acc {meta['test_metrics']['accuracy']:.4f}, {meta['train_seconds']:.0f} s")
    return EXIT_OK


# ---------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    from .models import PRESETS

    p = _Parser(prog="python -m fmnist_core", description="Fashion-MNIST Lab: train, test and study models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("test", help="evaluate a saved model on the test (or validation) split")
    t.add_argument("-mn", "--model-name", required=True, help="saved model name (see `models`)")
    t.add_argument("--task", help="score on this task instead of the model's own; a 10-class model on a "
                                  "binary task is scored on its binarized predictions")
    t.add_argument("--split", default="test", choices=["test", "validation"])
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(func=cmd_test)

    lf = sub.add_parser("lr-find", help="exponential LR sweep with suggestions (valley, steepest, min/10)")
    lf.add_argument("--preset", required=True, choices=sorted(PRESETS))
    lf.add_argument("--task", default="multiclass")
    lf.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "rmsprop"])
    lf.add_argument("--batch-size", type=int, default=128)
    lf.add_argument("--subset", type=int, default=None, help="use a stratified subset of N training images")
    lf.add_argument("--start-lr", type=float, default=1e-7)
    lf.add_argument("--end-lr", type=float, default=10.0)
    lf.add_argument("--num-batches", type=int, default=100)
    lf.add_argument("--seed", type=int, default=42)
    lf.add_argument("--json", action="store_true")
    lf.set_defaults(func=cmd_lr_find)

    m = sub.add_parser("models", help="list saved models with their metrics")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)

    here = sub.add_parser("train-here", help="train in this process (no job queue) and save the model")
    add_train_arguments(here)
    here.set_defaults(func=cmd_train_here)

    for module in ("cli_jobs", "cli_studies"):
        try:
            mod = __import__(f"fmnist_core.{module}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"fmnist_core.{module}":
                raise
            continue
        mod.register(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .data import DatasetNotFoundError
    from .saving import ModelNotFoundError

    try:
        return int(args.func(args) or 0)
    except (DatasetNotFoundError, ModelNotFoundError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_FAIL
    except (ValueError, PermissionError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
