"""CLI over jobs: ``train [--detach]``, ``runs [--json]``, ``stop``."""

import json
import os
import subprocess
import sys

import pytest

from fmnist_core import cli
from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.saving import REPO_ROOT
from fmnist_core.modeling.training import HParams
from fmnist_core.runs import jobs
from fmnist_core.runs.store import RunStore

GOOD = ["--preset", "linear", "--subset", "1500", "--epochs", "2", "--batch-size", "64"]
DIVERGES = [
    "--preset",
    "mlp",
    "--subset",
    "1000",
    "--epochs",
    "2",
    "--lr",
    "10",
    "--optimizer",
    "sgd",
    "--no-normalize",
]


@pytest.fixture
def store(fmnist_home):
    yield RunStore()
    jobs.get_executor().terminate_started()


@pytest.mark.slow
def test_train_detach_follow_and_runs_json(store, capsys):
    assert cli.main(["train", *GOOD, "-mn", "cli_good", "--detach"]) == 0
    good = int(capsys.readouterr().out.strip())  # stdout is just the run id
    assert store.get_status(good) in ("queued", "running")  # returned without waiting for the run

    # Without --detach: follows the run (queued behind the first) and exits non-zero when it fails.
    assert cli.main(["train", *DIVERGES, "-mn", "cli_nan"]) == 1
    out = capsys.readouterr().out
    assert "queued behind 1 other run(s)" in out
    assert "failed: loss became NaN at epoch 1 batch" in out and "try a lower learning rate" in out

    assert cli.main(["runs", "--json"]) == 0
    runs = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(runs) == {"cli_good", "cli_nan"}
    ok, bad = runs["cli_good"], runs["cli_nan"]
    assert (ok["id"], ok["status"], ok["task"]) == (good, "completed", "multiclass")
    assert ok["val_accuracy"] > 0.45 and ok["test_accuracy"] > 0.45  # 10 classes: chance is 0.10
    assert bad["status"] == "failed" and bad["val_accuracy"] is None and "NaN" in bad["message"]

    assert cli.main(["runs"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:6] == ["id", "name", "status", "task", "epochs", "val"]
    assert table[1].split()[:3] == [str(bad["id"]), "cli_nan", "failed"]
    assert table[2].split()[:5] == [str(good), "cli_good", "completed", "multiclass", "2/2"]
    assert f"{100 * ok['val_accuracy']:.2f}%" in table[2]

    assert cli.main(["runs", "--status", "failed", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [bad["id"]]


def exit_code(argv) -> int:
    """The CLI's exit code, whether argparse refused the arguments (SystemExit) or a command did."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return exc.code


def test_bad_arguments_are_one_line_errors_with_exit_2(store, capsys):
    cases = [
        (["train", "--preset", "linear", "-mn", "x", "--epochs", "0", "--detach"], "epochs must be"),
        (
            ["train", "--preset", "linear", "-mn", "x", "--init-from", "ghost", "--detach"],
            "no saved model named 'ghost'",
        ),
        (["train", "--preset", "linear", "-mn", "a/b", "--detach"], "invalid model name"),
        (["stop", "42"], "no run with id 42"),
    ]
    for argv, message in cases:
        assert exit_code(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--preset", "resnet", "-mn", "x"])
    assert exc.value.code == 2
    assert store.list_runs() == []  # nothing was queued

    rid = store.create_run("finished", get_task("multiclass"), [{"type": "Flatten"}], HParams())
    store.mark_running(rid, os.getpid())
    store.finish(rid, "completed", val={"accuracy": 0.8, "loss": 0.6})
    assert cli.main(["stop", str(rid)]) == 2
    assert "already completed" in capsys.readouterr().err


def test_runs_json_from_the_real_entry_point(store, fmnist_home):
    assert (
        subprocess.run(
            [sys.executable, "-m", "fmnist_core", "runs", "--json"],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
        ).stdout.strip()
        == "[]"
    )
    rid = store.create_run("queued one", get_task("shoes"), [{"type": "Flatten"}], HParams(epochs=3))
    store.request_stop(rid)  # keep it from training: this test starts no worker
    res = subprocess.run(
        [sys.executable, "-m", "fmnist_core", "runs", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    [run] = json.loads(res.stdout)
    assert (run["id"], run["name"], run["status"], run["task"], run["epochs"]) == (
        rid,
        "queued one",
        "stopped",
        "shoes",
        3,
    )
    assert run["val_accuracy"] is None and run["test_accuracy"] is None and run["history"] == []
