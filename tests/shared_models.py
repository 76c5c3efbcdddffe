"""Helpers shared by tests: the shipped-model guard and tiny trained models in a temp home.

Tiny trained models come from an on-disk cache (``cached_models``): trained once, then copied
into each test's temp home. The cache key is the source of the code that trains and saves them
(``TRAINING_CODE``), the source of the function that builds the set, its arguments and the
Keras/TensorFlow versions, so a change to any of them retrains; ``pytest --cache-clear`` (or
deleting ``.pytest_cache/fmnist-models``) empties it.
"""

import hashlib
import inspect
import os
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

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
    saving.save_model(
        train(spec, task, hp).model,
        name,
        {"task": get_task(task).to_dict(), "spec": spec, "hparams": hp.to_dict(), "seed": hp.seed},
    )


ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = ROOT / ".pytest_cache" / "fmnist-models"
# What decides a trained model's weights and files: training, models, saving, data, and the runner.
TRAINING_CODE = ("fmnist_core/modeling", "fmnist_core/data", "fmnist_core/runs/runner.py", "tests/shared_models.py")


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:  # tensorflow comes as tensorflow or as tensorflow-cpu
        return None


def _source_digest(build, args) -> str:
    named = [f"{a.__module__}.{a.__qualname__}" if callable(a) else a for a in args]  # not a function's address
    h = hashlib.sha256(repr((named, *map(_version, ("keras", "tensorflow", "tensorflow-cpu", "numpy")))).encode())
    for entry in TRAINING_CODE:
        path = ROOT / entry
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes())
    for fn in (build, *(a for a in args if callable(a))):
        h.update(inspect.getsource(fn).encode())
    return h.hexdigest()[:16]


def cached_models(build, *args) -> Path:
    """The folder of models that ``build(*args)`` saves into $FMNIST_HOME, trained once and kept
    in ``.pytest_cache/fmnist-models`` under a key of the code that trains them (see the module's
    docstring). Treat it as read-only: copy it (``home_with``) before anything writes there."""
    name = "-".join([build.__name__, *(getattr(a, "__name__", str(a)) for a in args)])
    entry = CACHE_DIR / f"{name}-{_source_digest(build, args)}"
    if entry.is_dir():
        return entry
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = CACHE_DIR / f".{entry.name}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("FMNIST_HOME", str(tmp))
            build(*args)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        tmp.rename(entry)  # atomic: a parallel session sees the whole entry or none
    except OSError:  # another session put the same entry there first
        shutil.rmtree(tmp, ignore_errors=True)
    for old in CACHE_DIR.glob(f"{name}-*"):  # the same set trained by older code: never read again
        if old != entry and len(old.name) == len(entry.name):
            shutil.rmtree(old, ignore_errors=True)
    return entry


def home_with(tmp_path_factory, build, *args) -> Path:
    """A fresh temp home holding a copy of ``cached_models(build, *args)``."""
    home = tmp_path_factory.mktemp("home")
    shutil.copytree(cached_models(build, *args), home, dirs_exist_ok=True)
    return home


def tiny_tinyvgg():
    """``tiny``: a tinyvgg 10-class model, 2 epochs on 3,000 real images, scored like a shipped one."""
    from fmnist_core.runs.runner import train_and_save

    # float32, not the default auto: the cache key does not know this machine's precision, and the
    # explain tests compare gradients and convolutions with float32 tolerances
    hp = {"epochs": 2, "subset": 3000, "lr": 3e-3, "seed": 0, "precision": "float32"}
    train_and_save("tinyvgg", "multiclass", hp, "tiny")


def footwear_models():
    """A tiny CNN (``shoe_cnn``, 15k parameters) 10-class model ``cnn_mc`` and two footwear_luggage
    ones, ``cnn_fl`` (scratch) and ``cnn_fl_tr`` (transfer from ``cnn_mc``). A CNN because transfer
    copies convolutional layers: a linear model has none, and the job queue rightly refuses it."""
    hp = {"epochs": 1, "subset": 2000, "lr": 3e-3, "seed": 0, "precision": "float32"}  # same on every machine
    train_and_save_unscored("shoe_cnn", "multiclass", hp, "cnn_mc")
    train_and_save_unscored("shoe_cnn", "footwear_luggage", hp, "cnn_fl")
    train_and_save_unscored("shoe_cnn", "footwear_luggage", {**hp, "init_from": "cnn_mc"}, "cnn_fl_tr")


def tiny_footwear_home(tmp_path_factory):
    """Generator for a module fixture: a temp $FMNIST_HOME (set while it lives) holding a copy of
    ``footwear_models()``, trained once (``cached_models``)."""
    home = home_with(tmp_path_factory, footwear_models)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FMNIST_HOME", str(home))
        yield home


def shipped_model(name="fmnist_cnn"):
    """A shipped model's name; skipped when absent (a failure under CI=true: CI must have them)."""
    require_shipped(name)
    return name


def shown_test_accuracy(name="fmnist_cnn") -> str:
    """A shipped model's stored test accuracy in the app's one format ("94.26%"); test_shipped_models
    checks the stored figure against a fresh evaluation."""
    return f"{saving.read_metadata(saving.SHIPPED_DIR / f'{name}.keras')['test_metrics']['accuracy']:.2%}"
