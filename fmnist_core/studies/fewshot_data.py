"""Few-shot data sets: the built-in flats-vs-heels and shoe-types tasks, and the user's own images.

A ``FewShotData`` holds a *pool* of labelled training images and a test set. Each run draws
k images per class from the pool (``draw``); a fixed set such as flats-heels, whose pool
holds exactly the training examples, is used whole. Images are uint8 (n, 28, 28) in
Fashion-MNIST form; labels are ints indexing ``classes``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist_core.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist

FLATS_HEELS_CSV = Path(__file__).with_name("flats_heels.csv")
FLATS_HEELS_VAL_CSV = Path(__file__).with_name("flats_heels_val.csv")
FLATS_HEELS_SOURCE = (
    "the original FashionMNIST_Classification project's Shoes few-shot set: 22 Fashion-MNIST "
    "'Ankle boot' images labelled flat-soled or heeled (1 training image per class, 20 test images)"
)
SHOE_TYPES = (5, 7, 9)  # Sandal, Sneaker, Ankle boot
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
BUILTIN = ("flats-heels", "flats-heels-val", "shoe-types")


@dataclass(frozen=True, eq=False)
class FewShotData:
    """A few-shot task: a labelled pool to draw training shots from, and a labelled test set.

    x_pool, x_test : uint8 (n, 28, 28); y_pool, y_test : int64 (n,) indexing ``classes``.
    fixed : True when the pool is normally used whole as the training set (flats-heels, the
        user's images); False when runs draw k shots per class from a large pool (shoe-types).
    shots_from_test : True for a labelled validation set (flats-heels-val): k shots per class are
        drawn from the test set itself and the rest of it is scored, so a draw never tests on its
        own shots; k=None uses the pool (the seed's shots) and scores the whole test set.
    """

    name: str
    classes: tuple[str, ...]
    x_pool: np.ndarray
    y_pool: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    description: str = ""
    fixed: bool = False
    shots_from_test: bool = False

    def __post_init__(self):
        k = len(self.classes)
        if k < 2:
            raise ValueError(f"a few-shot task needs at least 2 classes, got {k}")
        for what, x, y in (("training", self.x_pool, self.y_pool), ("test", self.x_test, self.y_test)):
            if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8 or len(x) != len(y):
                raise ValueError(
                    f"{what} images must be uint8 (n, 28, 28) with one label each, "
                    f"got {x.shape} {x.dtype} and {len(y)} labels"
                )
            missing = [self.classes[c] for c in range(k) if not np.any(y == c)]
            if missing:
                raise ValueError(
                    f"the {what} set has no image of class {', '.join(missing)}; every class needs at least one"
                )

    def pool_counts(self) -> list[int]:
        return [int(np.sum(self.y_pool == c)) for c in range(len(self.classes))]

    def max_shots(self) -> int:
        """The most shots per class a draw can take (shots_from_test: leaving >= 1 test image per class)."""
        if self.shots_from_test:
            return min(int(np.sum(self.y_test == c)) for c in range(len(self.classes))) - 1
        return min(self.pool_counts())

    def split(self, k: int | None, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Training shots and test images of one draw: (x_train, y_train, x_test, y_test).

        Usually ``draw(k, seed)`` and the whole test set. With ``shots_from_test`` and k given, k
        images per class are drawn from the test set with ``seed`` and the rest are the test images.
        """
        if not (self.shots_from_test and k is not None):
            return (*self.draw(k, seed), self.x_test, self.y_test)
        _check_k(k, self.max_shots(), self.name)
        rng = np.random.default_rng(seed)
        idx = np.concatenate(
            [np.sort(rng.choice(np.flatnonzero(self.y_test == c), k, replace=False)) for c in range(len(self.classes))]
        )
        rest = np.setdiff1d(np.arange(len(self.y_test)), idx)
        return self.x_test[idx], self.y_test[idx], self.x_test[rest], self.y_test[rest]

    def draw(self, k: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """k training images per class, drawn without replacement with ``seed``; k=None -> the whole pool.

        Returns (uint8 (n, 28, 28), int64 (n,)), ordered by class, then by pool position, so the
        same images always come in the same order.
        """
        if k is None:
            order = np.argsort(self.y_pool, kind="stable")
            return self.x_pool[order], self.y_pool[order]
        _check_k(k, min(self.pool_counts()), self.name)
        rng = np.random.default_rng(seed)
        idx = np.concatenate(
            [np.sort(rng.choice(np.flatnonzero(self.y_pool == c), k, replace=False)) for c in range(len(self.classes))]
        )
        return self.x_pool[idx], self.y_pool[idx]


def _check_k(k, most: int, name: str) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"shots per class must be a positive integer, got {k!r}")
    if k > most:
        raise ValueError(
            f"{name} has only {most} training image(s) in its smallest class; ask for at most {most} shots per class"
        )


# ---------------------------------------------------------------- built-in tasks


def _csv_rows(path: Path) -> list[dict]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    rows = list(csv.DictReader(lines))
    for r in rows:
        r["fmnist_index"] = int(r["fmnist_index"])
    return rows


def flats_heels_rows() -> list[dict]:
    """The 22 labelled indices: [{'split', 'fmnist_split', 'fmnist_index', 'label'}] (see flats_heels.csv)."""
    return _csv_rows(FLATS_HEELS_CSV)


def flats_heels_val_rows(labelled_only: bool = True) -> list[dict]:
    """The validation set's rows [{'position', 'fmnist_split', 'fmnist_index', 'label'}] (flats_heels_val.csv):
    216 labelled training-split ankle boots (labelled_only) or all 240 viewed, 24 of them 'ambiguous'."""
    rows = _csv_rows(FLATS_HEELS_VAL_CSV)
    return [r for r in rows if r["label"] != "ambiguous"] if labelled_only else rows


def flats_heels() -> FewShotData:
    """Flat-soled vs heeled ankle boots: 1 training image per class, 20 test images."""
    (x_tr, _), (x_te, _) = load_fashion_mnist()
    classes = ("flats", "heels")
    parts = {"train": ([], []), "test": ([], [])}
    for r in flats_heels_rows():
        src = x_tr if r["fmnist_split"] == "train" else x_te
        parts[r["split"]][0].append(src[r["fmnist_index"]])
        parts[r["split"]][1].append(classes.index(r["label"]))
    (xp, yp), (xt, yt) = ([np.stack(parts[s][0]), np.array(parts[s][1], dtype=np.int64)] for s in ("train", "test"))
    return FewShotData(
        "flats-heels",
        classes,
        xp,
        yp,
        xt,
        yt,
        "Flat-soled vs heeled ankle boots. Labels from " + FLATS_HEELS_SOURCE + ".",
        fixed=True,
    )


def flats_heels_val() -> FewShotData:
    """The study's own validation set: the seed's 2 training shots as the pool, the 216 boots of
    flats_heels_val.csv (training split, labelled by eye) as the test set; k-shot draws take
    their shots from those 216 and score the rest (``shots_from_test``)."""
    seed = flats_heels()
    (x_tr, _), _ = load_fashion_mnist()
    rows = flats_heels_val_rows()
    x = x_tr[[r["fmnist_index"] for r in rows]]
    y = np.array([seed.classes.index(r["label"]) for r in rows], dtype=np.int64)
    return FewShotData(
        "flats-heels-val",
        seed.classes,
        seed.x_pool,
        seed.y_pool,
        x,
        y,
        f"Flat-soled vs heeled ankle boots, the study's validation set: {len(y)} training-split "
        f"boots labelled by eye ({int(np.sum(y == 0))} flats, {int(np.sum(y == 1))} heels; see "
        "flats_heels_val_README.md). Default shots: the seed's two; k-shot draws take their "
        "shots from these boots and test on the rest.",
        fixed=True,
        shots_from_test=True,
    )


def shoe_types() -> FewShotData:
    """Sandal vs Sneaker vs Ankle boot: shots drawn from the 18,000 training images of these
    classes, tested on all 3,000 test images of them."""
    (x_tr, y_tr), (x_te, y_te) = load_fashion_mnist()
    remap = np.full(10, -1, dtype=np.int64)
    remap[list(SHOE_TYPES)] = np.arange(len(SHOE_TYPES))
    tr, te = np.isin(y_tr, SHOE_TYPES), np.isin(y_te, SHOE_TYPES)
    return FewShotData(
        "shoe-types",
        tuple(CLASS_NAMES[c] for c in SHOE_TYPES),
        x_tr[tr],
        remap[y_tr[tr]],
        x_te[te],
        remap[y_te[te]],
        "Shoe sub-types from Fashion-MNIST: k shots per class from the training split, "
        "tested on the whole test split of these three classes.",
    )


def builtin(name: str) -> FewShotData:
    if name == "flats-heels":
        return flats_heels()
    if name == "flats-heels-val":
        return flats_heels_val()
    if name == "shoe-types":
        return shoe_types()
    raise ValueError(
        f"unknown few-shot task {name!r}; choose from {', '.join(BUILTIN)}, or give --train-dir/--test-dir"
    )


# ---------------------------------------------------------------- the user's images


def image_to_fmnist(data) -> np.ndarray:
    """One picture (encoded bytes, PIL image or array) -> uint8 (28, 28), as the Classify page does it.

    A 28x28 grayscale image on a dark background (Fashion-MNIST form) comes back exactly as it
    is; anything else goes through ``imaging.to_fashion_mnist`` (grayscale, invert a light
    background, crop, pad, resize). Raises ``imaging.ImageInputError`` (a ValueError) for bad files.
    """
    from fmnist_core.data import imaging

    if isinstance(data, (bytes, bytearray, memoryview)):
        data = imaging.load_upload(bytes(data))
    return imaging.to_fashion_mnist(data)[0]


def load_folder(folder, classes: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Images from ``folder/<class name>/<image file>`` -> (uint8 (n, 28, 28), int64 (n,), class names).

    Class names are the sub-folder names, sorted; with ``classes`` given, the folder must hold
    exactly those sub-folders. Files are read in name order; hidden files are skipped.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder; it should hold one sub-folder per class, with images inside")
    found = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")))
    if classes is None:
        if len(found) < 2:
            raise ValueError(f"{folder} needs at least 2 class sub-folders (one per class), found {len(found)}")
        classes = found
    elif set(found) != set(classes):
        raise ValueError(
            f"{folder} has class folders {list(found)}, but the training folder has {list(classes)}; "
            "use the same class names in both"
        )
    images, labels = [], []
    for c, name in enumerate(classes):
        files = sorted(
            p
            for p in (folder / name).iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise ValueError(f"{folder / name} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        for path in files:
            try:
                images.append(image_to_fmnist(path.read_bytes()))
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
            labels.append(c)
    return np.stack(images).astype(np.uint8), np.array(labels, dtype=np.int64), tuple(classes)


def from_folders(train_dir, test_dir) -> FewShotData:
    """A task from two folders of ``<class>/<image>`` files: train_dir is the pool, test_dir the test set."""
    xp, yp, classes = load_folder(train_dir)
    xt, yt, _ = load_folder(test_dir, classes)
    return FewShotData(
        Path(train_dir).name or "custom",
        classes,
        xp,
        yp,
        xt,
        yt,
        f"Your images: {len(xp)} training images from {train_dir}, {len(xt)} test images from {test_dir}.",
        fixed=True,
    )


def from_arrays(name: str, classes, x_train, y_train, x_test, y_test, description: str = "") -> FewShotData:
    """A task from in-memory images (uploads, images picked in the dataset browser)."""
    return FewShotData(
        name,
        tuple(classes),
        np.asarray(x_train, dtype=np.uint8),
        np.asarray(y_train, dtype=np.int64),
        np.asarray(x_test, dtype=np.uint8),
        np.asarray(y_test, dtype=np.int64),
        description,
        fixed=True,
    )


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 (28, 28) -> PNG bytes (lossless, mode L): how the tests and downloads write images."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
