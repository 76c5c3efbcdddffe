"""Live-training callbacks on real short trainings: a stop reacts within one batch, and an
unfinished epoch (stopped or diverged) is never reported as a finished one."""
import pytest

from fmnist_core.modeling.training import TrainingDivergedError, train

QUICK = {"subset": 1000, "batch_size": 30, "seed": 0}   # 900 training images: 30 batches per epoch


def test_stop_is_polled_every_batch_and_the_unfinished_epoch_is_not_an_epoch():
    events, polls = [], []

    def should_stop():
        polls.append(len(polls))
        return len(polls) >= 30 + 11         # all of epoch 1, then 11 batches of epoch 2

    res = train("linear", "multiclass", {**QUICK, "epochs": 5}, on_progress=events.append,
                should_stop=should_stop, progress_interval=10.0)
    assert res.stopped
    assert len(polls) == 41                                  # asked after every batch, not throttled
    assert [h["epoch"] for h in res.history] == [1]          # epoch 2 did not finish
    assert res.best_epoch == 1
    assert [e["epoch"] for e in events if e["kind"] == "epoch"] == [1]
    last = [e for e in events if e["kind"] == "batch"][-1]
    assert (last["epoch"], last["batch"]) == (2, 11)         # where it stopped, reported even when throttled
    assert res.val_metrics["accuracy"] > 0.4                 # the weights of epoch 1; chance is 0.1


def test_a_diverged_run_reports_no_finished_epoch_and_no_validation_point():
    events = []
    with pytest.raises(TrainingDivergedError, match="epoch 1 batch"):
        train("mlp", "multiclass", {**QUICK, "epochs": 2, "lr": 10.0, "optimizer": "sgd", "normalize": False},
              on_progress=events.append)
    assert not [e for e in events if e["kind"] == "epoch"]
