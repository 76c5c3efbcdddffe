"""Quiet TensorFlow: no absl/oneDNN start-up lines before a command's own output, and a bad argument
that needs TensorFlow is still exactly one line. TF_CPP_MIN_LOG_LEVEL=0 (the user's choice) shows them."""

import os
import re
import subprocess
import sys

import pytest

from fmnist_core.modeling.saving import REPO_ROOT

NOISE = re.compile(r"absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|^[IWE]\d{4} ", re.M)


def _run(*args, **env):
    base = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env={**base, "FMNIST_PREWARM_S": "0", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_train_here_prints_no_tensorflow_start_up_lines(fmnist_home):
    out = _run(
        "-m", "fmnist_core", "train-here", "--preset", "linear", "--subset", "600", "--epochs", "1", "-mn", "quiet"
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert not NOISE.search(out.stderr), out.stderr[-2000:]
    assert "saved" in out.stdout


def test_a_bad_argument_that_needs_tensorflow_is_one_line(fmnist_home):
    """Five batches of 512 from 100 images: found only once TensorFlow has run the sweep."""
    out = _run(
        "-m",
        "fmnist_core",
        "lr-find",
        "--preset",
        "linear",
        "--subset",
        "100",
        "--num-batches",
        "5",
        "--batch-size",
        "512",
    )
    lines = out.stderr.strip().splitlines()
    assert out.returncode != 0 and len(lines) == 1 and lines[0].startswith("error:"), out.stderr[-2000:]


def test_the_user_can_still_ask_for_tensorflow_logs():
    code = "from fmnist_core import quiet_tf; quiet_tf.install(); import tensorflow"
    assert NOISE.search(_run("-c", code, TF_CPP_MIN_LOG_LEVEL="0").stderr)
    assert not NOISE.search(_run("-c", code).stderr)
