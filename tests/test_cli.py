"""The CLI: exit codes, one-line errors, JSON output."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fmnist_core import cli
from fmnist_core.modeling.saving import read_metadata
from shared_models import home_with, tiny_tinyvgg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory):
    """A $FMNIST_HOME holding one quickly trained 10-class model, 'tiny' (trained once, see
    ``shared_models.cached_models``), and its metadata."""
    home = home_with(tmp_path_factory, tiny_tinyvgg)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FMNIST_HOME", str(home))
        yield home, read_metadata(home / "tiny.keras")


def run_cli(*args, home):
    env = {**os.environ, "FMNIST_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "fmnist_core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_test_json_matches_stored_metrics_and_hand_count(tiny_home, capsys):
    home, meta = tiny_home
    assert cli.main(["test", "-mn", "tiny", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 10000 and out["task"] == "multiclass"
    cm = np.array(out["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 10000
    assert out["accuracy"] == pytest.approx(np.trace(cm) / 10000)
    assert out["accuracy"] == pytest.approx(meta["test_metrics"]["accuracy"])
    assert out["loss"] == pytest.approx(meta["test_metrics"]["loss"], rel=1e-6)


def test_multiclass_model_scored_on_a_binary_task(tiny_home, capsys):
    assert cli.main(["test", "-mn", "tiny", "--task", "shoes", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    cm = np.array(out["confusion_matrix"])
    assert cm.shape == (2, 2) and cm.sum(axis=1).tolist() == [7000, 3000]
    assert out["accuracy"] > 0.9


def test_text_output_and_models_listing(tiny_home, capsys):
    assert cli.main(["test", "-mn", "tiny"]) == 0
    text = capsys.readouterr().out
    assert "confusion matrix" in text and "Ankle boot" in text and "precision" in text
    assert cli.main(["models", "--json"]) == 0
    names = [m["name"] for m in json.loads(capsys.readouterr().out)]
    assert "tiny" in names


def test_lr_find_json(capsys):
    assert cli.main(["lr-find", "--preset", "linear", "--subset", "1000", "--num-batches", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["lrs"]) == len(out["losses"]) and set(out["suggestions"]) == {"valley", "steepest", "min_div_10"}


@pytest.mark.slow
def test_real_process_exit_codes_and_one_line_errors(tiny_home):
    home, _ = tiny_home
    for args in (
        ["test", "-mn", "../x"],
        ["test"],
        ["train-here", "--preset", "nope", "-mn", "x"],
        ["lr-find", "--preset", "linear", "--start-lr", "1", "--end-lr", "0.1"],
        ["frobnicate"],
    ):
        r = run_cli(*args, home=home)
        assert r.returncode == 2, (args, r.stderr)
        errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    r = run_cli("test", "-mn", "does_not_exist", home=home)
    assert r.returncode == 1 and "no saved model named" in r.stderr
    r = run_cli("test", "-mn", "tiny", "--json", home=home)
    assert r.returncode == 0 and json.loads(r.stdout)["n"] == 10000
    for cmd in ("test", "lr-find", "models", "train-here"):
        h = run_cli(cmd, "-h", home=home)
        assert h.returncode == 0 and "usage:" in h.stdout


def test_validation_split_of_a_subset_model_is_its_own_held_out_part(tiny_home, capsys):
    """A model trained on a 3,000-image subset is validated on that subset's 300 held-out images,
    never on the full split (which would include images it trained on)."""
    assert cli.main(["test", "-mn", "tiny", "--split", "validation", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    _, meta = tiny_home
    assert out["n"] == 300
    assert out["accuracy"] == pytest.approx(meta["val_metrics"]["accuracy"])
