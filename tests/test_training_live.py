"""Live-training callbacks on real short trainings: a stop reacts within one batch, and an
unfinished epoch (stopped or diverged) is never reported as a finished one."""

import pytest

from fmnist_core.modeling.training import TrainingDivergedError, train

QUICK = {"subset": 1000, "batch_size": 30, "seed": 0}  # 900 training images: 30 batches per epoch


def test_stop_is_polled_every_batch_and_the_unfinished_epoch_is_not_an_epoch():
    events, polls = [], []

    def should_stop():
        polls.append(len(polls))
        return len(polls) >= 30 + 11  # all of epoch 1, then 11 batches of epoch 2

    res = train(
        "linear",
        "multiclass",
        {**QUICK, "epochs": 5},
        on_progress=events.append,
        should_stop=should_stop,
        progress_interval=10.0,
    )
    assert res.stopped
    assert len(polls) == 41  # asked after every batch, not throttled
    assert [h["epoch"] for h in res.history] == [1]  # epoch 2 did not finish
    assert res.best_epoch == 1
    assert [e["epoch"] for e in events if e["kind"] == "epoch"] == [1]
    last = [e for e in events if e["kind"] == "batch"][-1]
    assert (last["epoch"], last["batch"]) == (2, 11)  # where it stopped, reported even when throttled
    assert res.val_metrics["accuracy"] > 0.4  # the weights of epoch 1; chance is 0.1


def test_a_diverged_run_reports_no_finished_epoch_and_no_validation_point():
    events = []
    with pytest.raises(TrainingDivergedError, match="epoch 1 batch"):
        train(
            "mlp",
            "multiclass",
            {**QUICK, "epochs": 2, "lr": 10.0, "optimizer": "sgd", "normalize": False},
            on_progress=events.append,
        )
    assert not [e for e in events if e["kind"] == "epoch"]


def test_augmentation_preview_uses_the_training_pipelines_own_augmentation():
    import numpy as np

    from fmnist_core.insight.augment_preview import augmentation_preview

    none = augmentation_preview({"subset": 1000, "seed": 0})
    assert none["originals"].shape == (8, 28, 28) and none["augmented"].shape == (0, 8, 28, 28)
    assert none["labels"] == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker"]
    flip = augmentation_preview({"subset": 1000, "seed": 0, "augment_flip": True}, variants=6)
    orig, aug = flip["originals"].astype(int), flip["augmented"].astype(int)
    # Each draw of each image is the image itself or its mirror, and both occur.
    same = (aug == orig[None]).all(axis=(2, 3))
    mirrored = (aug == orig[None, :, :, ::-1]).all(axis=(2, 3))
    assert (same | mirrored).all() and mirrored.any() and (same & ~mirrored).any()
    shift = augmentation_preview({"subset": 1000, "seed": 0, "augment_shift": 0.2}, variants=3)["augmented"]
    assert shift.shape == (3, 8, 28, 28) and not (shift == np.asarray(flip["originals"])[None]).all()


def test_weight_and_gradient_histograms_per_kernel_per_finished_epoch():
    events = []
    train("tinyvgg", "multiclass", {**QUICK, "epochs": 2}, on_progress=events.append)
    hists = [e for e in events if e["kind"] == "histograms"]
    assert [h["epoch"] for h in hists] == [0, 1, 2]  # before training, then each finished epoch
    from fmnist_core.modeling.models import preset

    spec = preset("tinyvgg")
    layers = hists[0]["layers"]
    assert len(layers) == sum(layer["type"] in ("Conv2D", "Dense") for layer in spec) + 1  # + the output layer
    conv, filters = layers[0], spec[0]["filters"]
    assert conv["shape"] == [3, 3, 1, filters]
    assert sum(conv["weights"]["counts"]) == 9 * filters == sum(conv["gradients"]["counts"])  # each weight once
    assert len(conv["weights"]["edges"]) == 31
    # Training moves the weights: the first conv kernel's histogram changes from epoch 0 to epoch 2.
    assert hists[0]["layers"][0]["weights"] != hists[2]["layers"][0]["weights"]


def test_histograms_of_a_binary_task():
    events = []
    train("linear", "shoes", {**QUICK, "epochs": 1}, on_progress=events.append)
    hists = [e for e in events if e["kind"] == "histograms"]
    assert [h["epoch"] for h in hists] == [0, 1] and not [e for e in events if e["kind"] == "histograms_off"]
    assert sum(hists[1]["layers"][0]["gradients"]["counts"]) == 784  # one sigmoid unit: 784 weights
