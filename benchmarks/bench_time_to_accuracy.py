"""Time to accuracy: wall-clock (and CPU) time until a recipe reaches 90/92/93/94% validation
accuracy, for the project's recipes side by side in ONE run, with ratios.

Recipes (``RECIPES`` below; all on the seeded 54,000/6,000 train/validation split, seed 42):
- ``quick``: the quick preset with its recipe (models.RECIPES["quick"]): precision auto, batch 256,
  one-cycle 5e-3, 3 epochs. Its goals: >= 92% validation in <= 60 s of training (native), <= 90 s
  on the laptop profiles (``--profile``, benchmarks/profiles.py).
- ``old_quick``: the quick preset and recipe before 2026-12-07 (Conv(32)/Conv(64), 4 epochs).
- ``recipe``: the fast_cnn preset with its recipe (models.RECIPES["fast_cnn"]): bfloat16, batch 256,
  one-cycle 4e-3, flips, 12 epochs. Its goal: >= 94% validation in <= 10 minutes.
- ``fmnist_net``: the shipped 10-class model's network and recipe (models.RECIPES["fmnist_net"]):
  pool-first double-conv blocks, bfloat16, batch 256, one-cycle 4e-3, flips, 20 epochs.
- ``old_fmnist_net``: the old shipped recipe: fmnist_net's first layout (``OLD_FMNIST_NET``,
  BatchNorm at full resolution), float32, batch 128, one-cycle 3e-3, flips, 15 epochs.
- ``tinyvgg_seed``: the seed's baseline: TinyVGG, Adam 1e-3 constant, batch 32, up to 25 epochs,
  stopped when validation accuracy has not improved for 3 epochs (plateau).

Each epoch records wall time since the start of ``fit`` (training plus that epoch's validation,
which is part of knowing you got there), the process's CPU time, and the validation accuracy.
A recipe stops at its epoch budget, its plateau, or once it reaches the last threshold.

The machine is shared: run it with ``nice``, and read the ratios (measured in the same run)
rather than absolute times. The load average is printed before and after every recipe.

Run:  nice -n 5 .venv/bin/python benchmarks/bench_time_to_accuracy.py [--recipes quick,old_quick]
      [--profile native|laptop-nobf16|laptop-avx2]
      [--subset 20000] [--max-epochs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when loaded by path (tests/test_recipe.py)
import profiles  # noqa: E402  (benchmarks/profiles.py, beside this script)

from fmnist_core.modeling import models  # noqa: E402

THRESHOLDS = (0.90, 0.92, 0.93, 0.94)


def _old_fmnist_net() -> list[dict]:
    """fmnist_net as first shipped (until 2026-11-26): each block conv-BN-ReLU, conv-BN-ReLU, pool."""

    def block(filters, drop):
        conv = {"type": "Conv2D", "filters": filters, "kernel_size": 3, "padding": "same", "activation": "linear"}
        bn_relu = [{"type": "BatchNorm"}, {"type": "Activation", "activation": "relu"}]
        return [
            conv,
            *bn_relu,
            dict(conv),
            *bn_relu,
            {"type": "MaxPool2D", "pool_size": 2},
            {"type": "Dropout", "rate": drop},
        ]

    return (
        block(32, 0.2)
        + block(64, 0.3)
        + [
            {"type": "Flatten"},
            {"type": "Dense", "units": 128, "activation": "linear"},
            {"type": "BatchNorm"},
            {"type": "Activation", "activation": "relu"},
            {"type": "Dropout", "rate": 0.4},
        ]
    )


def _old_quick() -> list[dict]:
    """The quick preset until 2026-12-07: Conv(32)/Conv(64) blocks, 4.2 M multiply-adds per image."""

    def conv_pool_bn(filters):
        return [
            {"type": "Conv2D", "filters": filters, "kernel_size": 3, "padding": "same", "activation": "linear"},
            {"type": "MaxPool2D", "pool_size": 2},
            {"type": "BatchNorm"},
            {"type": "Activation", "activation": "relu"},
        ]

    return (
        conv_pool_bn(32)
        + conv_pool_bn(64)
        + [
            {"type": "Flatten"},
            {"type": "Dense", "units": 128, "activation": "linear"},
            {"type": "BatchNorm"},
            {"type": "Activation", "activation": "relu"},
        ]
    )


OLD_FMNIST_NET = _old_fmnist_net()
RECIPES = {  # name: (preset or spec, hparams, plateau patience or 0)
    "quick": ("quick", {**models.RECIPES["quick"]}, 0),
    "old_quick": (_old_quick(), {**models.RECIPES["quick"], "epochs": 4}, 0),
    "recipe": ("fast_cnn", {**models.RECIPES["fast_cnn"]}, 0),
    "fmnist_net": ("fmnist_net", {**models.RECIPES["fmnist_net"]}, 0),
    "old_fmnist_net": (
        OLD_FMNIST_NET,
        {"batch_size": 128, "schedule": "onecycle", "lr": 3e-3, "epochs": 15, "augment_flip": True},
        0,
    ),
    "tinyvgg_seed": ("tinyvgg", {"batch_size": 32, "lr": 1e-3, "epochs": 25}, 3),
}


def run_recipe(name: str, subset: int | None, max_epochs: int | None) -> dict:
    import keras

    from fmnist_core.modeling.training import train

    preset, hp, patience = RECIPES[name]
    hp = {**hp, "seed": 42, "subset": subset}
    if max_epochs:
        hp["epochs"] = min(hp["epochs"], max_epochs)
    epochs = []

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            epochs.append(
                {
                    "epoch": epoch + 1,
                    "wall_s": time.perf_counter() - self.t0,
                    "cpu_s": time.process_time() - self.c0,
                    "val_accuracy": float(logs["val_accuracy"]),
                    "load1": os.getloadavg()[0],
                }
            )
            best = max(e["val_accuracy"] for e in epochs)
            print(
                f"  {name} epoch {epoch + 1}: val {logs['val_accuracy']:.4f}  wall {epochs[-1]['wall_s']:.0f} s  "
                f"cpu {epochs[-1]['cpu_s']:.0f} s  load {epochs[-1]['load1']:.1f}",
                flush=True,
            )
            plateau = patience and len(epochs) > patience and all(e["val_accuracy"] < best for e in epochs[-patience:])
            if best >= THRESHOLDS[-1] or plateau:
                self.model.stop_training = True

    load_before = os.getloadavg()
    result = train(preset, "multiclass", hp, callbacks=[Clock()])
    print(f"  {name}: trained in {result.precision} ({result.precision_reason or 'as asked'})", flush=True)
    reached = {}
    for t in THRESHOLDS:
        hit = next((e for e in epochs if e["val_accuracy"] >= t), None)
        reached[f"{t:.0%}"] = None if hit is None else {k: hit[k] for k in ("epoch", "wall_s", "cpu_s")}
    return {
        "recipe": name,
        "preset": preset if isinstance(preset, str) else f"old {name} layout",
        "hparams": hp,
        "precision": result.precision,
        "epochs": epochs,
        "reached": reached,
        "best_val_accuracy": max(e["val_accuracy"] for e in epochs),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }


def table(results: list[dict]) -> str:
    names = [r["recipe"] for r in results]
    refs = [n for n in ("old_quick", "old_fmnist_net", "tinyvgg_seed") if n in names]
    lines = [
        "| recipe | precision | best val | "
        + " | ".join(f"to {t:.0%}: epochs, wall s, cpu s" for t in THRESHOLDS)
        + "".join(f" | ratio vs {n} (wall, at the highest level both reached)" for n in refs)
        + " |",
        "|---" * (3 + len(THRESHOLDS) + len(refs)) + "|",
    ]
    by = {r["recipe"]: r for r in results}
    for r in results:
        cells = []
        for t in THRESHOLDS:
            h = r["reached"][f"{t:.0%}"]
            cells.append("not reached" if h is None else f"{h['epoch']}, {h['wall_s']:.0f}, {h['cpu_s']:.0f}")
        ratios = []
        for n in refs:
            both = [f"{t:.0%}" for t in THRESHOLDS if r["reached"][f"{t:.0%}"] and by[n]["reached"][f"{t:.0%}"]]
            if not both or n == r["recipe"]:
                ratios.append("-")
            else:
                k = both[-1]
                ratios.append(f"{by[n]['reached'][k]['wall_s'] / r['reached'][k]['wall_s']:.2f}x faster to {k}")
        lines.append(
            f"| {r['recipe']} | {r.get('precision', '-')} | {r['best_val_accuracy']:.2%} | "
            + " | ".join(cells)
            + "".join(f" | {x}" for x in ratios)
            + " |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated, from: " + ", ".join(RECIPES))
    ap.add_argument("--subset", type=int, default=None, help="train on a stratified subset (default: all 60,000)")
    ap.add_argument("--max-epochs", type=int, default=None, help="cap every recipe's epochs (a shortened run)")
    ap.add_argument("--json", help="also write the per-epoch records here")
    profiles.add_argument(ap)
    args = ap.parse_args(argv)
    profiles.apply(args.profile)
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    unknown = set(names) - set(RECIPES)
    if unknown:
        ap.error(f"unknown recipe(s) {', '.join(sorted(unknown))}; choose from {', '.join(RECIPES)}")
    print(
        f"{platform.node()} · {os.cpu_count()} CPUs · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · "
        f"profile {args.profile} · subset {args.subset or 'all'} · max epochs {args.max_epochs or 'recipe'} · load {os.getloadavg()}",
        flush=True,
    )
    results = [run_recipe(n, args.subset, args.max_epochs) for n in names]
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
