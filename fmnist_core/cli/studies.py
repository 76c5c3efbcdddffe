"""CLI for the two studies: ``compare-binary`` and ``fewshot`` (registered by cli/main.py).

Both print a readable report, or with ``--json`` exactly one JSON object on stdout; progress
goes to stderr so it never mixes with the JSON.
"""

from __future__ import annotations

import math
import sys
import time

from fmnist_core.cli.common import int_in, print_json


def _err(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def _pm(mean: float, sd: float) -> str:
    return f"{100 * mean:.2f}%" + ("" if sd is None or math.isnan(sd) else f" ± {100 * sd:.2f}")


def _ci(interval) -> str:
    return f"{100 * interval[0]:.1f}-{100 * interval[1]:.1f}%"


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise ValueError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise ValueError(f"expected a positive integer, got {v}")
    return v


# ---------------------------------------------------------------- compare-binary


def cmd_compare_binary(args) -> int:
    from fmnist_core.modeling.saving import load_metadata
    from fmnist_core.studies import binary_report as br
    from fmnist_core.studies import binary_study as bs
    from fmnist_core.studies import replicates as rep

    training = args.seeds is not None or args.epochs or args.subset
    for given in (args.multiclass, args.binary, args.transfer):
        # Without training, a given model must exist: a missing or damaged one is one line, never a silent
        # fallback to the default. With --seeds/--epochs/--subset a missing --binary/--transfer names the
        # replicates to train (from the 10-class model's recipe).
        if given is not None and (not training or given == args.multiclass):
            load_metadata(given)
    lists = {"direct": args.binary, "transfer": args.transfer}
    if training:
        n = args.seeds or 1
        plan = rep.plan_replicates(args.task, n, args.multiclass, args.binary, args.transfer, args.epochs, args.subset)
        todo = rep.missing(plan)
        if todo:
            _err(
                f"training {len(todo)} replicate model(s) through the job queue: " + ", ".join(e["name"] for e in todo)
            )
            runs = rep.submit_missing(plan)
            last = {}

            def show(name, run):  # one line per status or epoch change, at most every 15 s otherwise
                state = (run.get("status"), run.get("current_epoch"))
                now = time.monotonic()
                if last.get(name, (None, 0))[0] != state or now - last[name][1] > 15:
                    last[name] = (state, now)
                    _err(
                        f"  {name}: {run.get('status')} epoch {run.get('current_epoch') or 0}/{run.get('epochs')}"
                        f" batch {run.get('current_batch') or 0}/{run.get('batches_per_epoch') or '?'}"
                    )

            rep.wait_for(runs, on_progress=show)
        lists = rep.model_lists(plan)
    else:  # default: the given models plus any same-recipe replicates already trained
        plan = rep.plan_replicates(args.task, 20, args.multiclass, args.binary, args.transfer)
        for approach, entries in plan.items():
            names = []
            for e in entries:
                if not e["exists"]:
                    break
                names.append(e["name"])
            lists[approach] = names or None

    res = bs.compare_binary(
        args.task,
        args.multiclass,
        lists["direct"],
        lists["transfer"],
        on_progress=lambda d, t, name: _err(f"evaluating {name} ({d}/{t})"),
    )
    if args.json:
        print_json(br.to_json(res))
        return 0
    print(f"task {res['task']}: {res['class_names'][1]} vs {res['class_names'][0]}, {res['n']:,} test images\n")
    for note in res.get("notes", []):
        print(f"note: {note}")
    if res.get("notes"):
        print()
    rows = br.metric_rows(res)
    width = max(len(r["approach"]) for r in rows)
    print(f"{'approach'.ljust(width)}  seeds  {'accuracy':>16}  {'balanced acc':>16}  {'F1':>16}  models")
    for r in rows:
        print(
            f"{r['approach'].ljust(width)}  {r['seeds']:>5}  {_pm(r['accuracy'], r['accuracy_sd']):>16}  "
            f"{_pm(r['balanced_accuracy'], r['balanced_accuracy_sd']):>16}  {_pm(r['f1'], r['f1_sd']):>16}  {r['models']}"
        )
    print(
        "\nconfusion matrices of the primary models (rows = true, columns = predicted; "
        f"{res['class_names'][0]}, {res['class_names'][1]}):"
    )
    for s in {**res["approaches"], **res["variants"]}.values():
        print(f"  {s['title']}: {s['confusion_matrix']}")
    print("\nMcNemar exact tests on the primary models (Holm-adjusted p over the tests shown):")
    for key, t in res["mcnemar"].items():
        print(
            f"  {key}: {t['b']} vs {t['c']} discordant images, p = {t['p_value']:.3g}, adjusted {t['p_adjusted']:.3g}"
            + (
                f", per extra seed {', '.join(f'{p:.3g}' for p in t['p_values_per_seed'])}"
                if t["p_values_per_seed"]
                else ""
            )
        )
    print(f"\n{len(res['disagreements'])} test images on which the three approaches do not all agree.\n")
    for sentence in br.verdict_sentences(res):
        print("- " + sentence)
    return 0


# ---------------------------------------------------------------- fewshot


def _fewshot_data(args):
    from fmnist_core.studies import fewshot_data as fd

    if args.train_dir or args.test_dir:
        if args.task:
            raise ValueError("give either --task or --train-dir/--test-dir, not both")
        if not (args.train_dir and args.test_dir):
            raise ValueError("--train-dir and --test-dir go together: each holds one sub-folder per class")
        return fd.from_folders(args.train_dir, args.test_dir)
    if not args.task:
        raise ValueError(
            "choose a task: --task flats-heels, --task shoe-types --shots K, or --train-dir DIR --test-dir DIR"
        )
    return fd.builtin(args.task)


def cmd_fewshot(args) -> int:
    from fmnist_core.studies import fewshot as fs
    from fmnist_core.studies import fewshot_eval as fe

    data = _fewshot_data(args)
    progress = (lambda f, msg: _err(f"[{100 * f:5.1f}%] {msg}")) if not args.quiet else None
    if progress and args.method in fs.TRANSDUCTIVE and not args.curve:
        progress(0.0, f"{args.method}: embedding the unlabelled pool (the first run computes and stores it)")
    if args.curve:
        ks = [_positive_int(k) for k in args.ks.split(",")]
        methods = args.methods.split(",") if args.methods else list(fs.METHODS)
        backbone = args.backbone or fe.default_backbone(data)
        rows = fe.kshot_curve(data, methods, ks, args.draws, backbone, on_progress=progress)
        out = {
            "task": data.name,
            "backbone": backbone,
            "classes": list(data.classes),
            "n_test": int(len(data.y_test)),
            "draws": args.draws,
            "curve": rows,
        }
        if args.json:
            print_json(out)
            return 0
        print(
            f"{data.name}: accuracy vs shots per class, mean ± sd over {args.draws} draws, backbone {backbone}; "
            "[Wilson 95% interval of all draws' answers pooled, n = draws x test images]"
        )
        print("k".rjust(4) + "".join(m.rjust(34) for m in methods))
        for k in ks:
            cells = {
                r["method"]: f"{_pm(r['mean'], r['sd'])} [{_ci(r['interval'])}] n={r['n']}" for r in rows if r["k"] == k
            }
            print(str(k).rjust(4) + "".join(cells[m].rjust(34) for m in methods))
        return 0

    shots = args.shots
    if shots is None and not data.fixed:
        shots = 5
        _err(f"{data.name}: no --shots given, using 5 per class")
    res = fe.run_fewshot(data, args.method, args.backbone, args.seeds, shots, on_progress=progress)
    res = {k: v for k, v in res.items() if k not in ("predictions", "model")}
    if args.json:
        print_json(res)
        return 0
    print(
        f"{res['task']} ({', '.join(res['classes'])}): method {res['method']}, backbone {res['backbone']}, "
        f"{res['n_train']} training images, {res['n_test']} test images"
    )
    if res["unlabelled"]:
        print(f"unlabelled images used: {res['unlabelled']}")
    print(
        f"accuracy {_pm(res['accuracy'], res['sd'])} over {len(res['accuracies'])} seed(s): "
        + ", ".join(
            f"{100 * a:.1f}% ({c}/{res['n_test']}, 95% CI {_ci(iv)})"
            for a, c, iv in zip(res["accuracies"], res["correct"], res["intervals"])
        )
    )
    print(f"confusion matrix of seed 0 (rows = true): {res['confusion_matrix']}")
    if res["warning"]:
        print("WARNING: " + res["warning"])
    return 0


# ---------------------------------------------------------------- registration


def register(subparsers) -> None:
    """Add ``compare-binary`` and ``fewshot`` to the main parser's subcommands."""
    from fmnist_core.studies.fewshot import BACKBONES, DEFAULT_BACKBONE, DEFAULT_BACKBONES, DEFAULT_METHOD, KS, METHODS

    cb = subparsers.add_parser(
        "compare-binary",
        help="binarized 10-class model vs direct binary models (McNemar, seeds)",
        description="Score a 10-class model binarized onto a grouping, a binary model trained from scratch and "
        "one with transfer, on the same test images; McNemar's exact test for every pair.",
    )
    cb.add_argument("--task", default="footwear_luggage", help="footwear_luggage, shoes or custom_<digits>")
    cb.add_argument("--multiclass", default=None, help="10-class model (default fmnist_cnn)")
    cb.add_argument("--binary", default=None, help="binary model from scratch (default <task>_cnn)")
    cb.add_argument("--transfer", default=None, help="binary model with transfer (default <task>_transfer)")
    cb.add_argument(
        "--seeds",
        type=int_in(1, 20, "seeds"),
        default=None,
        help="use N seeds per binary approach, training the missing replicates through the job queue "
        "(default: the given models plus replicates already trained)",
    )
    cb.add_argument(
        "--epochs", type=int_in(1, 500, "epochs"), default=None, help="train replicates with this many epochs (cheaper)"
    )
    cb.add_argument(
        "--subset",
        type=int_in(1, 60000, "subset"),
        default=None,
        help="train replicates on N training images (cheaper)",
    )
    cb.add_argument("--json", action="store_true", help="print one JSON object")
    cb.set_defaults(func=cmd_compare_binary)

    fs = subparsers.add_parser(
        "fewshot",
        help="few-shot fine-tuning (flats-heels, shoe-types, your folders)",
        description="Fit a few-shot classifier on a pre-trained backbone and score it on the task's test images.",
    )
    fs.add_argument(
        "--task",
        choices=["flats-heels", "flats-heels-val", "shoe-types"],
        default=None,
        help="flats-heels: the seed set (2 shots, 20 test boots); flats-heels-val: the study's own "
        "validation set (216 training-split boots labelled by eye); shoe-types",
    )
    fs.add_argument("--train-dir", default=None, help="folder with one sub-folder of images per class")
    fs.add_argument("--test-dir", default=None, help="same layout as --train-dir, same class names")
    fs.add_argument(
        "--shots",
        type=int,
        default=None,
        help="images per class drawn for each seed (shoe-types: default 5; folders: default all)",
    )
    fs.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD, help=f"default {DEFAULT_METHOD}")
    fs.add_argument(
        "--backbone",
        default=None,
        help=f"saved model to start from ({', '.join(BACKBONES)}; default {DEFAULT_BACKBONE}, "
        + ", ".join(f"{v} for {k}" for k, v in DEFAULT_BACKBONES.items())
        + ")",
    )
    fs.add_argument(
        "--seeds", type=int_in(1, 100, "seeds"), default=3, help="repeats (random draws and head initializations)"
    )
    fs.add_argument("--curve", action="store_true", help="the k-shot curve: accuracy vs shots per class, every method")
    fs.add_argument("--ks", default=",".join(str(k) for k in KS), help="shots per class for --curve")
    fs.add_argument("--draws", type=int, default=5, help="random draws per k for --curve")
    fs.add_argument("--methods", default=None, help="comma-separated methods for --curve (default all)")
    fs.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    fs.add_argument("--json", action="store_true", help="print one JSON object")
    fs.set_defaults(func=cmd_fewshot)
