"""Core speed figures: data load, one-image inference (direct call vs model.predict), LR finder,
and seconds per training epoch of each CNN preset.

Run: .venv/bin/python benchmarks/bench_core.py [--epoch-images N] [--repeats R]
Prints one line per figure (medians over R repeats); copy them into BENCHMARKS.md with the date.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epoch-images", type=int, default=12000, help="images per timed epoch (scaled to 54k)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"# {time.strftime('%Y-%m-%d')}  {platform.processor() or platform.machine()}  cores={os.cpu_count()}")

    from fmnist_core.data import fashion_mnist as data

    t0 = time.perf_counter()
    data._load_cached.cache_clear()
    (x, y), (xt, yt) = data.load_fashion_mnist()
    print(f"load_fashion_mnist (cold, parse 4 IDX files): {time.perf_counter() - t0:.2f} s")
    print(f"load_fashion_mnist (cached): {median_time(data.load_fashion_mnist, 5) * 1e6:.1f} us")

    import numpy as np

    from fmnist_core.modeling.inference import predict_one
    from fmnist_core.modeling.models import build_model

    model = build_model("fmnist_net")
    meta = {"hparams": {"normalize": True}}
    img = xt[0]
    predict_one(model, meta, img)
    model.predict(data.preprocess(img[None]), verbose=0)
    direct = median_time(lambda: predict_one(model, meta, img), 30)
    via_predict = median_time(lambda: model.predict(data.preprocess(img[None]), verbose=0), 30)
    print(
        f"one image, fmnist_net: direct call {direct * 1e3:.1f} ms, model.predict {via_predict * 1e3:.1f} ms "
        f"(ratio {via_predict / direct:.1f}x), median of 30"
    )

    from fmnist_core.modeling.lr_finder import lr_find

    t = median_time(lambda: lr_find("tinyvgg", hparams={"subset": 20000}), max(1, args.repeats // 2))
    print(f"lr_find tinyvgg, 100 batches of 128: {t:.1f} s")

    from fmnist_core.modeling.timing import estimate_epoch_seconds
    from fmnist_core.modeling.training import train

    n = args.epoch_images
    for name in ("tinyvgg", "exercise_cnn", "shoe_cnn", "fmnist_net"):
        secs = []
        for r in range(max(1, args.repeats // 2)):
            res = train(name, "multiclass", {"epochs": 2, "subset": int(n / 0.9), "seed": r})
            secs.append(res.history[-1]["seconds"])  # epoch 2: no graph tracing in it
        per = statistics.median(secs)
        print(f"train {name}: {per:.1f} s per epoch of {n} images -> {per * 54000 / n:.1f} s per full epoch (54k)")
        # Build & Train's "about N s per epoch", measured on a few batches, against that real epoch
        # (it was a test, within 4x; a speed figure belongs here).
        est = estimate_epoch_seconds(name, "multiclass", {"subset": int(n / 0.9)})["seconds_per_epoch"]
        print(f"estimate vs real epoch, {name}: {est:.1f} s estimated, {per:.1f} s real (ratio {est / per:.2f})")
    del np


if __name__ == "__main__":
    main()
