"""Time-per-epoch estimate: epoch sizes derivable by hand, and the estimate's arithmetic."""

import math

import pytest

from fmnist_core.data import fashion_mnist as data
from fmnist_core.modeling import timing


def test_train_set_size_matches_the_real_split():
    for hp in ({"subset": 3000}, {"subset": 1001, "val_fraction": 0.2}, {}):
        (xtr, _), (xva, _) = data.train_val_split(hp.get("val_fraction", 0.1), 42, hp.get("subset"))
        assert timing.train_set_size(hp) == (len(xtr), len(xva))
    assert timing.train_set_size({}) == (54_000, 6_000)
    assert timing.train_set_size({"subset": 1001, "val_fraction": 0.2}) == (800, 201)  # validation rounds up


def test_estimate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="steps"):
        timing.estimate_epoch_seconds("linear", hparams={"subset": 1000}, steps=0)
    with pytest.raises(ValueError, match="batch size"):
        timing.estimate_epoch_seconds("linear", hparams={"batch_size": 0})


def test_estimate_counts_the_epochs_batches_and_adds_validation():
    """The arithmetic of the estimate. How close it comes to a real epoch is a speed figure, so it
    lives in benchmarks/bench_core.py ("estimate vs real epoch"), not in a test on a shared machine."""
    hp = {"subset": 3000, "batch_size": 64, "epochs": 3}
    est = timing.estimate_epoch_seconds("tinyvgg", "multiclass", hp, steps=2, warmup=1)
    assert est["n_train"] == 2700 and est["n_val"] == 300 and est["batch_size"] == 64
    assert est["batches_per_epoch"] == math.ceil(2700 / 64) == 43 and est["measured_steps"] == 2
    assert math.isclose(est["seconds_per_epoch"], est["train_seconds"] + est["val_seconds"])
    assert math.isclose(est["train_seconds"], est["seconds_per_batch"] * 43)
    assert est["val_seconds"] > 0 and est["seconds_per_batch"] > 0


def test_estimate_says_which_precision_it_measured():
    hp = {"subset": 1000, "batch_size": 64, "precision": "mixed_bfloat16", "label_smoothing": 0.1}
    est = timing.estimate_epoch_seconds("quick", "multiclass", hp, steps=2, warmup=1)
    assert est["precision"] == "mixed_bfloat16" and est["n_train"] == 900 and est["batches_per_epoch"] == 15
    assert est["seconds_per_epoch"] > 0
    # the default, auto, is measured: the estimate names what this machine will really train in
    from fmnist_core.modeling.precision import choose_precision

    assert (
        timing.estimate_epoch_seconds("linear", "multiclass", {"subset": 1000}, steps=1, warmup=1)["precision"]
        == choose_precision().precision
    )
