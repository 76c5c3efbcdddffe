"""Taking a model away: the ``.keras`` file, a checked TFLite conversion, and a standalone
training script.

* ``keras_file(name)`` : the saved model's bytes, as written by ``saving.save_model``.
* ``tflite_export(name)`` : TensorFlow's own ``tf.lite.TFLiteConverter`` applied to the Keras
  model, then both run on the first 1,000 official test images; the export passes when the
  two agree on the top-1 class for at least 99.5% of them (the figure is returned).
* ``training_script(meta)`` : Python source that rebuilds the exact model from its spec
  (same layers, names and settings), loads Fashion-MNIST and trains it with the run's
  hyperparameters, in plain Keras with no ``fmnist_core`` import (see ``export_script.py.tmpl``).

TensorFlow is imported only inside ``tflite_export``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import io
import json
import pprint
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.models import BN_MOMENTUM, normalize_spec
from fmnist_core.modeling.precision import float32_twin
from fmnist_core.modeling.saving import check_name, find_model, load_metadata

FORMATS = ("keras", "tflite", "script")
TFLITE_CHECK_N = 1000
TFLITE_MIN_AGREEMENT = 0.995
TEMPLATE = Path(__file__).with_name("export_script.py.tmpl")


def file_name(name: str, fmt: str) -> str:
    """Default download/output file name: ``fmnist_cnn.keras``, ``fmnist_cnn.tflite``, ``fmnist_cnn_train.py``."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return {"keras": f"{name}.keras", "tflite": f"{name}.tflite", "script": f"{name}_train.py"}[fmt]


def keras_file(name: str) -> bytes:
    """The saved ``.keras`` file (weights and architecture, no optimizer state)."""
    return find_model(name).read_bytes()


# ---------------------------------------------------------------- TFLite


@dataclass(frozen=True)
class TFLiteExport:
    """A converted model and how it compares with the Keras model.

    data : the ``.tflite`` flatbuffer.
    n : test images compared (the first ``n`` of the official test split).
    agree : how many of them get the same top-1 class from both models.
    max_abs_diff : largest absolute difference between the two output probabilities.
    input_note : what the TFLite model expects as input.
    """

    data: bytes
    n: int
    agree: int
    max_abs_diff: float
    input_note: str

    @property
    def agreement(self) -> float:
        return self.agree / self.n

    @property
    def passed(self) -> bool:
        return self.agreement >= TFLITE_MIN_AGREEMENT

    def summary(self) -> str:
        return (
            f"TFLite vs Keras on the first {self.n:,} test images: same top-1 class on {self.agree:,}/{self.n:,} "
            f"({self.agreement:.2%}; needed {TFLITE_MIN_AGREEMENT:.1%}), largest probability difference "
            f"{self.max_abs_diff:.1e}"
        )


def top1(probs: np.ndarray) -> np.ndarray:
    """Top-1 class of softmax rows (n, k), or of a sigmoid column (n, 1): 1 when p >= 0.5."""
    probs = np.asarray(probs)
    return (probs[:, 0] >= 0.5).astype(int) if probs.shape[1] == 1 else probs.argmax(axis=1)


def run_tflite(data: bytes, x: np.ndarray) -> np.ndarray:
    """Run a ``.tflite`` model on float inputs (n, 28, 28, 1) with ``tf.lite.Interpreter``; (n, k) outputs."""
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated": it is still TF's own runtime
        warnings.simplefilter("ignore")
        interp = tf.lite.Interpreter(model_content=data)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], list(x.shape))
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], np.asarray(x, dtype=np.float32))
    interp.invoke()
    return np.array(interp.get_tensor(out["index"]))


@functools.lru_cache(maxsize=4)
def _tflite_cached(name: str, mtime: float) -> TFLiteExport:
    import tensorflow as tf

    from fmnist_core.data import fashion_mnist as fdata
    from fmnist_core.modeling.inference import get_model, prepare

    model, meta = get_model(name)
    # The converter prints the intermediate SavedModel's signature on stdout: keep stdout for results.
    with contextlib.redirect_stdout(io.StringIO()):
        data = tf.lite.TFLiteConverter.from_keras_model(float32_twin(model)).convert()
    _, (x_test, _) = fdata.load_fashion_mnist()
    x = prepare(x_test[:TFLITE_CHECK_N], meta)
    lite = run_tflite(data, x)
    keras_out = np.asarray(model(x, training=False))
    normalize = (meta.get("hparams") or {}).get("normalize", True)
    note = (
        "float32 (n, 28, 28, 1), pixels divided by 255 (0 = black background, 1 = white)"
        if normalize
        else "float32 (n, 28, 28, 1), raw pixels 0-255 (this model was trained without scaling)"
    )
    return TFLiteExport(
        bytes(data), len(x), int((top1(lite) == top1(keras_out)).sum()), float(np.abs(lite - keras_out).max()), note
    )


def tflite_export(name: str) -> TFLiteExport:
    """Convert with ``tf.lite.TFLiteConverter.from_keras_model`` and check it (cached per file version)."""
    return _tflite_cached(name, find_model(name).stat().st_mtime)


# ---------------------------------------------------------------- standalone script

# The Keras constructor call that ``models.build_model`` makes for each spec layer type.
LAYER_CODE = {  # every body layer computes in PRECISION (the run's hyperparameter), as build_model does
    # Each value goes in as a repr (``!r``): a spec is data, never source text.
    "Conv2D": "layers.Conv2D({filters!r}, {kernel_size!r}, strides={strides!r}, padding={padding!r}, "
    "activation={activation!r}, name={name!r}, dtype=PRECISION)",
    "MaxPool2D": "layers.MaxPooling2D({pool_size!r}, name={name!r}, dtype=PRECISION)",
    "Dense": "layers.Dense({units!r}, activation={activation!r}, name={name!r}, dtype=PRECISION)",
    "Dropout": "layers.Dropout({rate!r}, name={name!r}, dtype=PRECISION)",
    "BatchNorm": "layers.BatchNormalization(momentum=BN_MOMENTUM, name={name!r}, dtype=PRECISION)",
    "Flatten": "layers.Flatten(name={name!r}, dtype=PRECISION)",
    "Activation": "layers.Activation({activation!r}, name={name!r}, dtype=PRECISION)",
    "GlobalAvgPool": "layers.GlobalAveragePooling2D(name={name!r}, dtype=PRECISION)",
}
PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def model_code(spec, task, model_name: str = "fmnist_model") -> str:
    """The body of the script's ``build_model()``: the same layers, names and output as ``models.build_model``."""
    spec, task = normalize_spec(spec), get_task(task)
    lines = ['x = inputs = keras.Input((28, 28, 1), name="image")']
    flat = False
    for i, layer in enumerate(spec):
        lname = f"{layer['type'].lower()}_{i + 1}"  # the names build_model gives, so weights line up
        lines.append(f"x = {LAYER_CODE[layer['type']].format(name=lname, **layer)}(x)")
        if layer["type"] in ("Flatten", "GlobalAvgPool"):
            flat = True
    if not flat:  # build_model flattens a spatial output before the head
        lines.append('x = layers.Flatten(name="flatten_auto", dtype=PRECISION)(x)')
    if task.is_binary:
        lines.append('outputs = layers.Dense(1, activation="sigmoid", name="output", dtype="float32")(x)')
    else:
        lines.append(
            f'outputs = layers.Dense({int(task.n_classes)!r}, activation="softmax", name="output", dtype="float32")(x)'
        )
    lines.append(f"return keras.Model(inputs, outputs, name={check_name(model_name)!r})")
    return "\n".join("    " + line for line in lines)


def training_script(meta: dict, bn_momentum: float | None = None) -> str:
    """Python source of a standalone training script for a saved model's metadata.

    meta needs ``name``, ``spec``, ``task`` and ``hparams`` (every model saved by the lab has them).
    Every recorded value enters the script as a Python literal (``repr``/``pprint`` of plain data),
    and the template is filled in one pass, so no value is ever read as code or as a placeholder:
    metadata can be edited by anyone who shares a model file.
    """
    if not meta.get("spec"):
        raise ValueError(f"model {meta.get('name')!r} has no recorded spec, so its training cannot be exported")
    from fmnist_core.modeling.training import HParams

    task = get_task(meta.get("task") or "multiclass")
    hp = HParams.from_dict(meta.get("hparams") or {}).to_dict()
    spec = normalize_spec(meta["spec"])
    about = {
        "name": check_name(meta["name"]),
        "exported": _dt.date.today().isoformat(),
        "task": str(task.description or task.name),
        "validation": _fmt_acc(meta.get("val_metrics")),
        "test": _fmt_acc(meta.get("test_metrics")),
        "versions": {str(k): str(v) for k, v in (meta.get("versions") or {}).items()},
    }
    fields = {
        "ABOUT": pprint.pformat(about, width=110, sort_dicts=False),
        "MODEL_CODE": model_code(spec, task, meta["name"]),
        "BN_MOMENTUM": repr(float(BN_MOMENTUM if bn_momentum is None else bn_momentum)),
        "SPEC": pprint.pformat(spec, width=110, sort_dicts=False),
        "HPARAMS": pprint.pformat(hp, width=110, sort_dicts=True),
        "TASK_NAME": repr(str(task.name)),
        "CLASS_NAMES": repr([str(c) for c in task.class_names]),
        "POSITIVE": repr(sorted(int(c) for c in task.positive) if task.is_binary else None),
    }
    # One pass: a placeholder inside a value is text, never filled later.
    return PLACEHOLDER.sub(lambda m: fields[m.group(1)], TEMPLATE.read_text())


def _fmt_acc(metrics) -> str:
    acc = (metrics or {}).get("accuracy")
    return "not recorded" if acc is None else f"{acc:.2%} (n={(metrics or {}).get('n', '?')})"


def saved_bn_momentum(name: str) -> float | None:
    """The BatchNorm momentum stored in a saved model's config (read from the .keras zip, no TensorFlow),
    or None when it has no BatchNorm: models trained before the lab's default changed keep theirs."""
    with zipfile.ZipFile(find_model(name)) as zf:
        config = json.loads(zf.read("config.json"))
    for layer in config.get("config", {}).get("layers", []):
        if layer.get("class_name") == "BatchNormalization":
            return float(layer["config"]["momentum"])
    return None


def script_for(name: str) -> str:
    """The standalone training script of a saved model."""
    return training_script(load_metadata(name), saved_bn_momentum(name))


def export_bytes(name: str, fmt: str) -> tuple[bytes, str, str]:
    """(file bytes, default file name, one-line note) for ``fmt`` in ``FORMATS``.

    Raises ValueError when a TFLite conversion disagrees with the Keras model beyond the threshold.
    """
    fname = file_name(name, fmt)
    if fmt == "keras":
        data = keras_file(name)
        return data, fname, f"{name}.keras: {len(data):,} bytes; load with keras.saving.load_model"
    if fmt == "tflite":
        res = tflite_export(name)
        if not res.passed:
            raise ValueError(res.summary() + "; the TFLite file was not written")
        return res.data, fname, res.summary() + f". Input: {res.input_note}"
    src = script_for(name)
    return src.encode(), fname, f"standalone script; run `python {fname} -h` (needs tensorflow, numpy, scikit-learn)"
