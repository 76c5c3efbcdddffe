"""What augmentation does to the training images, produced by the training pipeline's own code
(``training.augmentation``), like fastai's ``show_batch``. No Streamlit."""

from __future__ import annotations

import numpy as np

from fmnist_core.data import fashion_mnist as fdata


def augmentation_preview(hparams, n_images: int = 8, variants: int = 4) -> dict:
    """The first training image of each of ``n_images`` classes, and ``variants`` augmented draws of them.

    hparams : HParams or dict; its seed, subset and validation share pick the same training split
        that a run with these settings trains on, and its augment_shift / augment_flip the augmentation.
    Returns {"originals": uint8 (n, 28, 28), "augmented": uint8 (variants, n, 28, 28) (empty when the
    settings ask for no augmentation), "labels": class names (n,)}.
    """
    from fmnist_core.modeling.training import HParams, augmentation

    hp = hparams if isinstance(hparams, HParams) else HParams.from_dict(hparams)
    (xtr, ytr), _ = fdata.train_val_split(hp.val_fraction, hp.seed, hp.subset)
    idx = [int(np.flatnonzero(ytr == c)[0]) for c in range(min(n_images, 10)) if (ytr == c).any()]
    x = fdata.preprocess(xtr[idx], hp.normalize)
    augment = augmentation(hp)
    scale = 255.0 if hp.normalize else 1.0
    draws = [np.asarray(augment(x)) for _ in range(variants)] if augment else []
    augmented = (
        np.clip(np.stack(draws)[..., 0] * scale, 0, 255).round().astype(np.uint8)
        if draws
        else np.zeros((0, len(idx), 28, 28), np.uint8)
    )
    return {
        "originals": np.asarray(xtr[idx]),
        "augmented": augmented,
        "labels": [fdata.CLASS_NAMES[int(ytr[i])] for i in idx],
    }
