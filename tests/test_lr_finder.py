import numpy as np
import pytest

from fmnist_core.modeling.lr_finder import lr_find
from fmnist_core.modeling.models import build_model
from fmnist_core.modeling.training import HParams, compile_model


def test_restores_weights_and_optimizer_exactly_and_suggests_inside_range():
    model = build_model("tinyvgg")
    compile_model(model, HParams(), "multiclass", 10)
    model.optimizer.build(model.trainable_variables)
    w0 = [w.copy() for w in model.get_weights()]
    o0 = [v.numpy().copy() for v in model.optimizer.variables]
    res = lr_find("tinyvgg", model=model, hparams={"subset": 2000, "batch_size": 64}, num_batches=60)
    for a, b in zip(w0, model.get_weights()):
        assert np.array_equal(a, b)
    for a, v in zip(o0, model.optimizer.variables):
        assert np.array_equal(a, v.numpy())
    lrs = res["lrs"]
    assert len(lrs) == len(res["losses"]) == len(res["smoothed"]) >= 10
    assert all(b > a for a, b in zip(lrs, lrs[1:]))              # exponential, increasing
    for name, lr in res["suggestions"].items():
        assert res["start_lr"] / 10 <= lr <= res["end_lr"], name   # min/10 may sit a decade below the sweep
        if name != "min_div_10":
            assert lrs[0] <= lr <= lrs[-1]
    assert res["seconds"] < 60


def test_stops_when_loss_explodes():
    res = lr_find("mlp", hparams={"subset": 2000, "optimizer": "sgd"}, start_lr=1e-3, end_lr=1e4, num_batches=80)
    assert len(res["lrs"]) < 80
    assert "exceeded" in res["stopped_reason"] or "NaN" in res["stopped_reason"]


def test_rejects_bad_ranges():
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        lr_find("linear", start_lr=1.0, end_lr=0.1)
