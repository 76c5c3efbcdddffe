"""Precision ``auto``: the rule, the per-machine cache, and the two simulated laptops.

The rule and the cache are checked with injected step times (no timing in a test). The
simulations run real TensorFlow in a subprocess: ``TF_ENABLE_ONEDNN_OPTS=0`` (bfloat16 emulated,
~7x slower here) and ``ONEDNN_MAX_CPU_ISA=AVX2`` (bfloat16 convolutions fail at the first step).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fmnist_core.modeling import precision as P

ROOT = Path(__file__).resolve().parent.parent
KEY = {"cpu": "Test CPU", "arch": "x86_64", "os": "Linux", "tensorflow": "2.21.0", "gpus": ""}


@pytest.mark.parametrize(
    "f32, bf16, err, expect, words",
    [
        (0.1, 0.78, None, "float32", "no fast bfloat16 (measured 7.8x slower)"),
        (0.1, 0.095, None, "float32", "only 1.05x faster"),
        (0.1, 0.07, None, "mixed_bfloat16", "fast bfloat16 (measured 1.4x faster than float32)"),
        (0.1, None, "oneDNN has no bfloat16 convolution for this CPU", "float32", "does not run on this CPU"),
    ],
)
def test_rule_keeps_bfloat16_only_where_it_runs_and_is_clearly_faster(f32, bf16, err, expect, words):
    choice = P.decide(KEY, f32, bf16, err)
    assert choice.precision == expect
    assert choice.reason.startswith(expect + ": ") and words in choice.reason


def test_a_visible_gpu_gets_mixed_float16():
    choice = P.decide({**KEY, "gpus": "/physical_device:GPU:0"}, 0.1, 0.2, None)
    assert choice.precision == "mixed_float16" and "GPU" in choice.reason


def _counting(result):
    calls = []

    def measure():
        calls.append(1)
        return result

    return measure, calls


def test_the_choice_is_measured_once_per_machine_and_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "machine_key", lambda: dict(KEY))
    measure, calls = _counting((0.1, 0.06, None))
    first = P.choose_precision(tmp_path, measure=measure)
    again = P.choose_precision(tmp_path, measure=measure)
    assert first.precision == again.precision == "mixed_bfloat16" and len(calls) == 1
    assert P.resolve("auto", tmp_path) == ("mixed_bfloat16", first.reason)
    assert P.resolve("float32", tmp_path) == ("float32", None)  # an explicit choice is never overridden

    # Another CPU (or the same CPU with oneDNN capped) is another machine: measured anew, both kept.
    monkeypatch.setattr(P, "machine_key", lambda: {**KEY, "ONEDNN_MAX_CPU_ISA": "AVX2"})
    measure2, calls2 = _counting((0.1, None, "oneDNN has no bfloat16 convolution for this CPU"))
    assert P.choose_precision(tmp_path, measure=measure2).precision == "float32" and len(calls2) == 1
    assert len(json.loads(P.cache_path(tmp_path).read_text())["entries"]) == 2


@pytest.mark.parametrize(
    "damage",
    ["", "{not json", '{"version": 1, "entries": []}', '{"version": 1, "entries": {"%s": {"precision": "float64"}}}'],
)
def test_a_damaged_cache_is_measured_again_never_trusted(tmp_path, monkeypatch, damage):
    monkeypatch.setattr(P, "machine_key", lambda: dict(KEY))
    path = P.cache_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(damage.replace("%s", P._key_id(KEY)))
    measure, calls = _counting((0.1, 0.5, None))
    assert P.choose_precision(tmp_path, measure=measure).precision == "float32" and len(calls) == 1
    assert P.cached_choice(tmp_path, KEY).precision == "float32"  # and the repaired cache is read back


def test_resolve_rejects_an_unknown_precision(tmp_path):
    with pytest.raises(ValueError, match="precision must be"):
        P.resolve("float64", tmp_path)


def test_mixed_float16_trains_with_loss_scaling():
    import keras
    import numpy as np

    from fmnist_core.modeling.models import build_model
    from fmnist_core.modeling.training import HParams, compile_model

    model = build_model("linear", "multiclass", precision="mixed_float16")
    compile_model(model, HParams(precision="mixed_float16", batch_size=8), "multiclass", 1)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    loss = model.train_on_batch(x, np.arange(8, dtype=np.float32))
    assert np.all(np.isfinite(loss))


def _gpus() -> list:
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


@pytest.mark.skipif(not _gpus(), reason="no GPU visible to TensorFlow on this machine (tensorflow-cpu)")
def test_auto_uses_a_visible_gpu_with_mixed_float16(tmp_path):
    assert P.choose_precision(tmp_path, refresh=True).precision == "mixed_float16"


# ---------------------------------------------------------------- the simulated laptops, for real


def _run(env_extra: dict, *args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra, "HOME": str(home), "FMNIST_HOME": str(home / "lab"), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=280)


MEASURE = (
    "from fmnist_core.modeling import precision as P; c = P.choose_precision(); print(c.precision); print(c.reason)"
)


@pytest.mark.slow
def test_emulated_bfloat16_makes_auto_choose_float32(tmp_path):
    """TensorFlow's non-oneDNN path emulates bfloat16, as on CPUs without it: auto must see that."""
    out = _run({"TF_ENABLE_ONEDNN_OPTS": "0"}, "-c", MEASURE, home=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    precision, reason = out.stdout.strip().splitlines()[-2:]
    assert precision == "float32" and "no fast bfloat16" in reason and "slower" in reason


@pytest.mark.slow
def test_bfloat16_without_its_kernels_is_one_line_and_auto_trains_float32(tmp_path):
    """oneDNN capped at AVX2 cannot run bfloat16 convolutions: an explicit bfloat16 run ends in one
    line that says what to choose (exit 1, no traceback); the same command with auto trains float32."""
    env = {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    small = ["-m", "fmnist_core", "train-here", "--preset", "quick", "--subset", "1200", "--epochs", "1"]
    bad = _run(env, *small, "--precision", "mixed_bfloat16", "-mn", "bf", home=tmp_path)
    assert bad.returncode == 1, bad.stdout + bad.stderr[-2000:]
    assert "Traceback" not in bad.stderr
    errors = [ln for ln in bad.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "mixed_bfloat16 does not run on this machine" in errors[0]
    assert "choose precision auto or float32" in errors[0]

    good = _run(env, *small, "--precision", "auto", "-mn", "auto", home=tmp_path)
    assert good.returncode == 0, good.stderr[-2000:]
    assert "precision: float32: bfloat16 does not run on this CPU" in good.stdout
    meta = json.loads(_run(env, "-m", "fmnist_core", "models", "--json", home=tmp_path).stdout)
    ours = next(m for m in meta if m["name"] == "auto")
    assert ours["hparams"]["precision"] == "float32"


@pytest.mark.slow
def test_the_shipped_bfloat16_models_predict_where_bfloat16_cannot_run(tmp_path):
    """With oneDNN capped at AVX2 every bfloat16 convolution fails: Classify, Evaluate and the studies
    must still predict with the shipped (bfloat16-trained) models, in float32 with the same weights."""
    code = (
        "import numpy as np; from fmnist_core.data import fashion_mnist as f; "
        "from fmnist_core.modeling.inference import get_model, predict_images; "
        "_, (x, y) = f.load_fashion_mnist(); p = predict_images('fmnist_cnn', x[:500]); "
        "m, _ = get_model('fmnist_cnn'); "
        "print({l.compute_dtype for l in m.layers}, float((p.argmax(1) == y[:500]).mean()))"
    )
    out = _run({"ONEDNN_MAX_CPU_ISA": "AVX2"}, "-c", code, home=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    dtypes, accuracy = out.stdout.strip().splitlines()[-1].rsplit(" ", 1)
    assert dtypes == "{'float32'}" and float(accuracy) > 0.9


def test_a_marginal_answer_is_measured_again_keeping_each_fastest_step(tmp_path, monkeypatch):
    """On a busy machine one measurement called a 2x faster bfloat16 "only 1.14x faster" and cached
    float32 for good. A marginal answer is measured again at the next use (up to MAX_MEASUREMENTS), each
    step time the fastest seen: load only ever slows a step down."""
    monkeypatch.setattr(P, "machine_key", lambda: dict(KEY))
    answers = iter([(0.146, 0.128, None), (0.175, 0.080, None), (0.5, 0.5, None)])
    calls = []

    def measure():
        calls.append(1)
        return next(answers)

    first = P.choose_precision(tmp_path, measure=measure)
    assert first.precision == "float32" and "only 1.14x faster" in first.reason and not first.settled
    second = P.choose_precision(tmp_path, measure=measure)
    assert second.precision == "mixed_bfloat16" and second.measurements == 2 and second.settled
    assert (second.float32_step_s, second.bfloat16_step_s) == (0.146, 0.080)
    assert P.choose_precision(tmp_path, measure=measure) == second and len(calls) == 2  # settled: cached


def test_a_marginal_answer_settles_after_the_last_measurement(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "machine_key", lambda: dict(KEY))
    measure, calls = _counting((0.1, 0.095, None))
    for _ in range(P.MAX_MEASUREMENTS + 2):
        choice = P.choose_precision(tmp_path, measure=measure)
    assert choice.precision == "float32" and choice.settled and len(calls) == P.MAX_MEASUREMENTS
