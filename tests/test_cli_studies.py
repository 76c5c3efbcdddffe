"""CLI of the studies: ``compare-binary`` and ``fewshot`` (JSON on stdout, errors exit 2)."""

import json
import os
import subprocess
import sys

import pytest

from fmnist_core import cli
from fmnist_core.studies import fewshot_data as fd
from shared_models import require_shipped, tiny_footwear_home

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = ("fmnist_cnn", "footwear_luggage_cnn", "footwear_luggage_transfer")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Tiny CNNs: a 10-class one (also a few-shot backbone) and two footwear_luggage ones."""
    yield from tiny_footwear_home(tmp_path_factory)


def run_cli(*args, home=None):
    env = {**os.environ}
    if home is not None:
        env["FMNIST_HOME"] = str(home)
    else:
        env.pop("FMNIST_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "fmnist_core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def one_json_object(stdout: str) -> dict:
    obj = json.loads(stdout)  # raises if anything but one JSON document is on stdout
    assert isinstance(obj, dict)
    return obj


# ---------------------------------------------------------------- compare-binary


@pytest.mark.slow
def test_compare_binary_json_on_the_shipped_models():
    require_shipped(*SHIPPED)
    r = run_cli("compare-binary", "--task", "footwear_luggage", "--json")
    assert r.returncode == 0, r.stderr
    out = one_json_object(r.stdout)
    assert set(out["approaches"]) == {"binarized", "direct", "transfer"}
    for a in out["approaches"].values():
        assert 0.9 < a["accuracy"] <= 1 and 0 < a["f1"] <= 1
        assert sum(map(sum, a["confusion_matrix"])) == 10000
    assert len(out["mcnemar"]) >= 3
    for t in out["mcnemar"].values():
        assert 0 <= t["p_value"] <= 1
    assert out["verdict"]


@pytest.mark.slow
def test_compare_binary_json_and_text_on_tiny_models(home):
    r = run_cli(
        "compare-binary",
        "--task",
        "footwear_luggage",
        "--multiclass",
        "cnn_mc",
        "--binary",
        "cnn_fl",
        "--transfer",
        "cnn_fl_tr",
        "--json",
        home=home,
    )
    assert r.returncode == 0, r.stderr
    out = one_json_object(r.stdout)
    assert [out["approaches"][a]["models"] for a in ("binarized", "direct", "transfer")] == [
        ["cnn_mc"],
        ["cnn_fl"],
        ["cnn_fl_tr"],
    ]
    assert out["approaches"]["binarized"]["accuracy_sd"] is None  # one seed: no sd, and valid JSON
    t = out["mcnemar"]["binarized vs direct"]
    gap = out["approaches"]["binarized"]["accuracy"] - out["approaches"]["direct"]["accuracy"]
    assert gap == pytest.approx((t["b"] - t["c"]) / 10000)
    text = run_cli(
        "compare-binary", "--multiclass", "cnn_mc", "--binary", "cnn_fl", "--transfer", "cnn_fl_tr", home=home
    )
    assert text.returncode == 0 and "McNemar" in text.stdout and "Direct binary with transfer" in text.stdout


@pytest.mark.slow
def test_compare_binary_trains_missing_seed_replicates_through_jobs(home):
    r = run_cli(
        "compare-binary",
        "--multiclass",
        "cnn_mc",
        "--binary",
        "cnn_fl",
        "--transfer",
        "cnn_fl_tr",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--subset",
        "1000",
        "--json",
        home=home,
    )
    assert r.returncode == 0, r.stderr
    out = one_json_object(r.stdout)
    assert out["approaches"]["direct"]["models"] == ["cnn_fl_e1_n1000_seed0", "cnn_fl_e1_n1000_seed1"]
    assert out["approaches"]["transfer"]["n_seeds"] == 2 and out["approaches"]["direct"]["accuracy_sd"] is not None
    assert len(out["mcnemar"]["direct vs transfer"]["p_values_per_seed"]) == 1
    assert (home / "cnn_fl_e1_n1000_seed1.keras").exists()
    assert "training 4 replicate model(s)" in r.stderr
    from fmnist_core.runs.store import RunStore

    runs = RunStore(home / "runs.sqlite").list_runs(with_history=False)
    assert sorted(r["model_name"] for r in runs)[0] == "cnn_fl_e1_n1000_seed0"
    assert all(r["status"] == "completed" for r in runs)


def test_compare_binary_errors_exit_2(home, monkeypatch, capsys):
    monkeypatch.setenv("FMNIST_HOME", str(home))
    assert cli.main(["compare-binary", "--task", "multiclass"]) == 2
    assert "not binary" in capsys.readouterr().err
    assert cli.main(["compare-binary", "--multiclass", "cnn_fl", "--binary", "cnn_fl", "--transfer", "cnn_fl_tr"]) == 2
    assert "10-class model" in capsys.readouterr().err


# ---------------------------------------------------------------- fewshot


@pytest.mark.slow
def test_fewshot_folders_match_the_built_in_task_through_the_cli(home, tmp_path):
    data = fd.flats_heels()
    for split, x, y in (("train", data.x_pool, data.y_pool), ("test", data.x_test, data.y_test)):
        for i, (img, lab) in enumerate(zip(x, y)):
            folder = tmp_path / split / data.classes[lab]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i:03d}.png").write_bytes(fd.png_bytes(img))
    common = ("--backbone", "cnn_mc", "--seeds", "2", "--json")
    built_in = run_cli("fewshot", "--task", "flats-heels", *common, home=home)
    folders = run_cli(
        "fewshot", "--train-dir", str(tmp_path / "train"), "--test-dir", str(tmp_path / "test"), *common, home=home
    )
    assert built_in.returncode == 0 and folders.returncode == 0, built_in.stderr + folders.stderr
    a, b = one_json_object(built_in.stdout), one_json_object(folders.stdout)
    assert a["classes"] == b["classes"] == ["flats", "heels"] and a["n_test"] == b["n_test"] == 20
    assert a["accuracies"] == b["accuracies"] and len(a["accuracies"]) == 2
    assert a["accuracy"] == pytest.approx(sum(a["accuracies"]) / 2)
    assert a["method"] == "spread"  # the default: label spreading


def test_fewshot_curve_json(home, monkeypatch, capsys):
    monkeypatch.setenv("FMNIST_HOME", str(home))
    assert (
        cli.main(
            [
                "fewshot",
                "--task",
                "shoe-types",
                "--curve",
                "--ks",
                "1,3",
                "--draws",
                "2",
                "--methods",
                "prototype,frozen",
                "--backbone",
                "cnn_mc",
                "--quiet",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert [(r["k"], r["method"]) for r in out["curve"]] == [
        (1, "prototype"),
        (1, "frozen"),
        (3, "prototype"),
        (3, "frozen"),
    ]
    assert all(0 <= r["mean"] <= 1 and r["sd"] is not None for r in out["curve"])
    assert out["n_test"] == 3000


def test_fewshot_shots_and_text_report(home, monkeypatch, capsys):
    monkeypatch.setenv("FMNIST_HOME", str(home))
    assert (
        cli.main(
            [
                "fewshot",
                "--task",
                "shoe-types",
                "--shots",
                "10",
                "--method",
                "prototype",
                "--seeds",
                "2",
                "--backbone",
                "cnn_mc",
                "--quiet",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "30 training images, 3000 test images" in text and "over 2 seed(s)" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fewshot"], "choose a task"),
        (["fewshot", "--task", "flats-heels", "--train-dir", "x", "--test-dir", "y"], "not both"),
        (["fewshot", "--train-dir", "x"], "go together"),
        (["fewshot", "--task", "flats-heels", "--shots", "3"], "at most 1"),
        (["fewshot", "--task", "flats-heels", "--backbone", "no_such_model"], "no saved model"),
    ],
)
def test_fewshot_errors(home, monkeypatch, capsys, argv, message):
    monkeypatch.setenv("FMNIST_HOME", str(home))
    assert cli.main(argv + ["--quiet"]) in (1, 2)
    assert message in capsys.readouterr().err
