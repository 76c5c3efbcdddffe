"""Helpers shared by tests: the shipped-model guard and tiny trained models in a temp home."""
import os

import pytest

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling import saving
from fmnist_core.modeling.models import preset
from fmnist_core.modeling.training import HParams, train


def require_shipped(*names):
    """Skip when a shipped model is not trained yet, except on CI, where that is a failure."""
    missing = [n for n in names if not (saving.SHIPPED_DIR / f"{n}.keras").exists()]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"shipped model(s) {missing} missing: run `make models`")
        pytest.skip(f"shipped model(s) {missing} not trained yet: run `make models`")


def train_and_save_unscored(preset_name, task, hp, name):
    """Train and save without scoring on the test set (the studies never read stored scores)."""
    hp = HParams(**hp)
    spec = preset(preset_name)
    saving.save_model(train(spec, task, hp).model, name,
                      {"task": get_task(task).to_dict(), "spec": spec, "hparams": hp.to_dict(), "seed": hp.seed})


def tiny_footwear_home(tmp_path_factory, prefix="cnn", save=train_and_save_unscored):
    """Generator for a module fixture: a temp $FMNIST_HOME with a tiny CNN (``shoe_cnn``, 15k
    parameters) 10-class model ``<prefix>_mc`` and two footwear_luggage ones, ``<prefix>_fl``
    (scratch) and ``<prefix>_fl_tr`` (transfer from ``<prefix>_mc``). A CNN because transfer
    copies convolutional layers: a linear model has none, and the job queue rightly refuses it."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FMNIST_HOME", str(home))
        hp = {"epochs": 1, "subset": 2000, "lr": 3e-3, "seed": 0}
        save("shoe_cnn", "multiclass", hp, f"{prefix}_mc")
        save("shoe_cnn", "footwear_luggage", hp, f"{prefix}_fl")
        save("shoe_cnn", "footwear_luggage", {**hp, "init_from": f"{prefix}_mc"}, f"{prefix}_fl_tr")
        yield home


def shipped_model(name="fmnist_cnn"):
    """A shipped model's name; skipped when absent (a failure under CI=true: CI must have them)."""
    require_shipped(name)
    return name


def shown_test_accuracy(name="fmnist_cnn") -> str:
    """A shipped model's stored test accuracy in the app's one format ("94.26%"); test_shipped_models
    checks the stored figure against a fresh evaluation."""
    return f"{saving.read_metadata(saving.SHIPPED_DIR / f'{name}.keras')['test_metrics']['accuracy']:.2%}"
