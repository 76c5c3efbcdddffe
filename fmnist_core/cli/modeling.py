"""CLI commands over single models: ``test``, ``lr-find``, ``models``, ``train-here``.

They call the same core functions as the app.
"""

from __future__ import annotations

from fmnist_core.cli.common import (
    EXIT_OK,
    add_hparam,
    add_train_arguments,
    float_in,
    fmt_table,
    hparams_from_args,
    int_in,
    model_name,
    pct,
    print_json,
    task_name,
)

# ---------------------------------------------------------------- test


def cmd_test(args) -> int:
    from fmnist_core.modeling.inference import evaluate_saved

    res = evaluate_saved(args.model_name, split=args.split, task=args.task)
    if args.json:
        print_json(res)
        return EXIT_OK
    print(f"model {res['model']}  task {res['task']}  split {res['split']}  n={res['n']}")
    print(f"accuracy {res['accuracy']:.4f}  loss {res['loss']:.4f}  balanced accuracy {res['balanced_accuracy']:.4f}")
    names = res["class_names"]
    short = [n[:10] for n in names]
    print("\nconfusion matrix (rows = true, columns = predicted):")
    print(fmt_table([[short[i]] + row for i, row in enumerate(res["confusion_matrix"])], ["true \\ pred"] + short))
    print("\nper-class report:")
    print(
        fmt_table(
            [
                [r["class"], f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}", r["support"]]
                for r in res["report"]
            ],
            ["class", "precision", "recall", "f1", "support"],
        )
    )
    if res["most_confused"]:
        print(
            "\nmost confused:",
            "; ".join(f"{p['true']} -> {p['predicted']} ({p['count']})" for p in res["most_confused"][:5]),
        )
    return EXIT_OK


# ---------------------------------------------------------------- lr-find


def cmd_lr_find(args) -> int:
    from fmnist_core.modeling.lr_finder import lr_find

    hp = {"batch_size": args.batch_size, "optimizer": args.optimizer, "subset": args.subset, "seed": args.seed}
    res = lr_find(args.preset, args.task, hp, start_lr=args.start_lr, end_lr=args.end_lr, num_batches=args.num_batches)
    if args.json:
        print_json(res)
        return EXIT_OK
    s = res["suggestions"]
    print(
        f"swept {len(res['lrs'])} batches from {res['lrs'][0]:.2g} to {res['lrs'][-1]:.2g} in "
        f"{res['seconds']:.1f} s ({res['stopped_reason']})"
    )
    print(f"suggested LR: valley {s['valley']:.3g}   steepest {s['steepest']:.3g}   min/10 {s['min_div_10']:.3g}")
    return EXIT_OK


# ---------------------------------------------------------------- models


def cmd_models(args) -> int:
    from fmnist_core.modeling.saving import list_models

    models = list_models()
    if args.json:
        print_json(models)
        return EXIT_OK
    if not models:
        print("no saved models yet: run `make models`, or train one with `python -m fmnist_core train`")
        return EXIT_OK
    rows = []
    for m in models:
        val, test = m.get("val_metrics") or {}, m.get("test_metrics") or {}
        rows.append(
            [
                m["name"],
                (m.get("task") or {}).get("name", "?"),
                f"{m.get('n_params', 0):,}",
                pct(val.get("accuracy")),
                pct(test.get("accuracy")),
                "shipped" if m.get("shipped") else "yours",
                m.get("error", ""),
            ]
        )
    print(fmt_table(rows, ["name", "task", "params", "val acc", "test acc", "source", ""]))
    return EXIT_OK


def cmd_train_here(args) -> int:
    from fmnist_core.cli.jobs import epoch_line  # one epoch formatter for train and train-here
    from fmnist_core.modeling.models import preset
    from fmnist_core.modeling.precision import resolve
    from fmnist_core.runs import jobs

    hp = hparams_from_args(args)
    jobs.check_run(preset(args.preset), args.task, hp)  # the job queue's boundary checks, before any training

    def show(e):
        if e["kind"] == "start":  # the name is reserved by now
            precision, why = resolve(hp["precision"])
            print(f"precision: {why or precision + ' (as asked)'}", flush=True)
        if e["kind"] == "epoch":
            print(epoch_line(e, e["epochs"]), flush=True)

    # A run like any other: the name is reserved in the store (refused if taken), then trained here.
    meta = jobs.train_here(preset(args.preset), args.task, hp, args.model_name, overwrite=args.overwrite, on_event=show)
    print(
        f"saved {meta['path']}: val acc {meta['val_metrics']['accuracy']:.4f}, "
        f"test acc {meta['test_metrics']['accuracy']:.4f}, {meta['train_seconds']:.0f} s"
    )
    return EXIT_OK


def register(sub) -> None:
    from fmnist_core.modeling.models import PRESETS

    t = sub.add_parser("test", help="evaluate a saved model on the test (or validation) split")
    t.add_argument("-mn", "--model-name", required=True, type=model_name, help="saved model name (see `models`)")
    t.add_argument(
        "--task",
        type=task_name,
        help="score on this task instead of the model's own; a 10-class model on a "
        "binary task is scored on its binarized predictions",
    )
    t.add_argument("--split", default="test", choices=["test", "validation"])
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(func=cmd_test)

    lf = sub.add_parser("lr-find", help="exponential LR sweep with suggestions (valley, steepest, min/10)")
    lf.add_argument("--preset", required=True, choices=sorted(PRESETS))
    lf.add_argument("--task", default="multiclass", type=task_name)
    add_hparam(lf, "optimizer")
    add_hparam(lf, "batch_size")
    lf.add_argument(
        "--subset", type=int_in(100, 60000, "subset"), default=None, help="use a stratified subset of N training images"
    )
    lf.add_argument("--start-lr", type=float_in(0, 10, "start LR", lo_open=True), default=1e-7)
    lf.add_argument("--end-lr", type=float_in(0, 100, "end LR", lo_open=True), default=10.0)
    lf.add_argument("--num-batches", type=int_in(5, 10_000, "number of batches"), default=100)
    add_hparam(lf, "seed")
    lf.add_argument("--json", action="store_true")
    lf.set_defaults(func=cmd_lr_find)

    m = sub.add_parser("models", help="list saved models with their metrics")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)

    here = sub.add_parser("train-here", help="train in this process (no job queue) and save the model")
    add_train_arguments(here)
    here.set_defaults(func=cmd_train_here)
