"""What the weight/gradient histograms cost: the same training run with and without
``callbacks.WeightHistograms``, interleaved in one process so machine load hits both alike.

Run: .venv/bin/python benchmarks/bench_histograms.py [--preset tinyvgg --subset 6000 --epochs 3 --repeats 3]
Prints each pair and the ratio of medians (goal: at most 1.05).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tinyvgg")
    ap.add_argument("--subset", type=int, default=6000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from fmnist_core.modeling.training import train

    hp = {"subset": args.subset, "epochs": args.epochs, "seed": 0}
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M %Z')}  cores={os.cpu_count()}  load {os.getloadavg()[0]:.1f}  "
        f"({args.preset}, {args.subset} images, {args.epochs} epochs)"
    )
    train(args.preset, "multiclass", {**hp, "epochs": 1}, on_progress=lambda e: None)  # warm-up
    times = {True: [], False: []}
    for i in range(args.repeats):
        for hist in (False, True) if i % 2 == 0 else (True, False):
            res = train(args.preset, "multiclass", hp, on_progress=lambda e: None, histograms=hist)
            times[hist].append(res.seconds)
        print(
            f"repeat {i + 1}: without {times[False][-1]:.2f} s, with histograms {times[True][-1]:.2f} s "
            f"(load {os.getloadavg()[0]:.1f})"
        )
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f"median: without {off:.2f} s, with {on:.2f} s, ratio {on / off:.3f}")


if __name__ == "__main__":
    sys.exit(main())
