"""Phone-photo benchmark: how much of the shipped model's accuracy survives the upload path.

Fashion-MNIST *test* images are rendered as photo-like JPEGs (``photo_scenes``: five background
families, lighting, camera effects, a fixed seed) and classified through the upload path the Classify
page uses (``imaging.load_upload`` then ``imaging.to_fashion_mnist``). Retention = accuracy through the
upload path / accuracy on the same images as raw 28x28; also given as the share of raw-correct
images that stay correct, with a Wilson 95% interval. The first ``--val`` images (validation: tune
on these only) and the next ``--test`` images (report these) are disjoint.

Run: nice .venv/bin/python benchmarks/bench_photos.py [--val 300] [--test 600] [--seed 2027] [--part test]
Goal (issue 27): retention >= 0.97 overall and >= 0.93 in every family.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.photo_scenes import FAMILIES, scene  # noqa: E402
from fmnist_core.data import fashion_mnist as fdata  # noqa: E402
from fmnist_core.data import imaging  # noqa: E402
from fmnist_core.studies.stats import wilson  # noqa: E402

MODEL = "fmnist_cnn"


def upload_path(jpeg: bytes) -> np.ndarray:
    """What the Classify page does with an uploaded file."""
    return imaging.to_fashion_mnist(imaging.load_upload(jpeg))[0]


def render(x, indices, seed):
    rng = np.random.default_rng(seed)
    families = [FAMILIES[i % len(FAMILIES)] for i in range(len(indices))]
    return families, [scene(x[i], f, rng) for i, f in zip(indices, families)]


def report(name, raw_ok, up_ok) -> str:
    n, r, u = len(raw_ok), int(raw_ok.sum()), int(up_ok.sum())
    kept = int((raw_ok & up_ok).sum())
    lo, hi = wilson(kept, r)
    ret = u / r if r else float("nan")
    return (
        f"{name:9s} n={n:4d}  raw {r / n:.3f}  upload {u / n:.3f}  retention {ret:.3f}  "
        f"kept {kept}/{r} = {kept / max(r, 1):.3f} [{lo:.3f}, {hi:.3f}]"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--val", type=int, default=300)
    ap.add_argument("--test", type=int, default=600)
    ap.add_argument("--seed", type=int, default=2027)
    ap.add_argument("--part", choices=("val", "test", "both"), default="test")
    ap.add_argument("--dump", help="folder to write each failed picture to (val only: look, do not tune on test)")
    args = ap.parse_args(argv)
    from fmnist_core.modeling import inference

    (_, _), (x, y) = fdata.load_fashion_mnist(allow_download=False)
    order = np.random.default_rng(args.seed).permutation(len(x))
    parts = {"val": order[: args.val], "test": order[args.val : args.val + args.test]}
    for part in ("val", "test") if args.part == "both" else (args.part,):
        idx = parts[part]
        families, pics = render(x, idx, args.seed + (part == "test"))
        ups = np.stack([upload_path(p) for p in pics])
        raw_ok = inference.predict_images(MODEL, x[idx]).argmax(1) == y[idx]
        up_ok = inference.predict_images(MODEL, ups).argmax(1) == y[idx]
        print(f"--- {part} part ({MODEL}, seed {args.seed})")
        print(report("overall", raw_ok, up_ok))
        fam = np.array(families)
        for f in FAMILIES:
            print(report(f, raw_ok[fam == f], up_ok[fam == f]))
        if args.dump and part == "val":
            os.makedirs(args.dump, exist_ok=True)
            for k in np.flatnonzero(raw_ok & ~up_ok):
                with open(os.path.join(args.dump, f"{k:04d}_{families[k]}.jpg"), "wb") as fh:
                    fh.write(pics[k])
                imaging.Image.fromarray(imaging.enlarge(ups[k], 4)).save(
                    os.path.join(args.dump, f"{k:04d}_{families[k]}_28.png")
                )


if __name__ == "__main__":
    main()
