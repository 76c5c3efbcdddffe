"""Model specs: validation, shapes and parameter counts, and building the Keras model.

A *spec* is a JSON-serializable list of layer dicts, e.g.::

    [{"type": "Conv2D", "filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"},
     {"type": "MaxPool2D", "pool_size": 2},
     {"type": "Flatten"},
     {"type": "Dense", "units": 128, "activation": "relu"}]

It holds the *body* only. ``build_model(spec, task)`` appends the output layer that the
task needs (softmax over N classes, or one sigmoid unit for a binary task), so the same
body serves the 10-class model and its binary siblings, and transfer learning can copy
the body's weights across.

Spec validation and parameter counting are pure Python, so the Build page can show
errors and counts without importing TensorFlow. The named specs (presets) and their training
recipes are ``presets``'s; the names callers use are re-exported here.
"""

from __future__ import annotations

import copy
import math

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling.presets import (  # noqa: F401 - re-exported: callers use models.PRESETS, models.preset...
    DEFAULT_PRESET,
    PRESET_DESCRIPTIONS,
    PRESETS,
    RECIPES,
    preset,
)
from fmnist_core.schema.spec import ACTIVATIONS, LAYER_TYPES, SpecError, normalize_layers  # noqa: F401

INPUT_SHAPE = (28, 28, 1)
DEFAULT_PARAM_CAP = 3_000_000
# BatchNorm's moving statistics: Keras's default momentum 0.99 averages over ~100 steps and still
# carries 24% of the initial (mean 0, variance 1) statistics after the 141 steps of a 2-epoch run
# on 10,000 images, so inference-mode accuracy collapsed (fmnist_net: train 82%, validation 24%).
# Chosen on the validation split (train-here --preset fmnist_net --subset 10000 --epochs 2, seed 42):
# momentum 0.99 -> 23.7%, 0.9 -> 85.6%, 0.8 -> 86.5% validation; 0.9 (PyTorch's default, a ~10-step
# window) converges within an epoch yet stays smooth over long runs, where 0.8 gets noisy.
BN_MOMENTUM = 0.9


def normalize_spec(spec) -> list[dict]:
    """Validate a spec (a preset name or a layer list) and fill in defaults. Raises SpecError naming
    the bad layer; the rules are ``fmnist_core.schema.spec``'s."""
    if isinstance(spec, str):
        return normalize_spec(preset(spec))
    return normalize_layers(spec)


def layer_shapes(spec, task="multiclass") -> list[tuple[str, tuple, int]]:
    """Walk the spec without TensorFlow: [(layer label, output shape, params)], output layer last.

    Raises SpecError when a layer cannot follow the previous one (e.g. Conv2D after Flatten,
    a pool that shrinks the image below 1 pixel).
    """
    spec = normalize_spec(spec)
    task = get_task(task)
    shape = INPUT_SHAPE
    rows = []
    for i, layer in enumerate(spec):
        t, where = layer["type"], f"layer {i + 1} ({layer['type']})"
        params = 0
        if t in ("Conv2D", "MaxPool2D", "GlobalAvgPool") and len(shape) != 3:
            raise SpecError(
                f"{where} needs an image input, but the previous layers flattened it; move it before Flatten"
            )
        if t == "Conv2D":
            k, s = layer["kernel_size"], layer["strides"]
            h, w, c = shape
            if layer["padding"] == "same":
                h, w = math.ceil(h / s), math.ceil(w / s)
            else:
                h, w = (h - k) // s + 1, (w - k) // s + 1
            if h < 1 or w < 1:
                raise SpecError(
                    f"{where}: a {k}x{k} kernel does not fit a {shape[0]}x{shape[1]} input; use padding 'same' or a smaller kernel"
                )
            params = (k * k * c + 1) * layer["filters"]
            shape = (h, w, layer["filters"])
        elif t == "MaxPool2D":
            p = layer["pool_size"]
            if shape[0] // p < 1:
                raise SpecError(f"{where}: pool {p} shrinks a {shape[0]}x{shape[1]} input below 1 pixel; remove a pool")
            shape = (shape[0] // p, shape[1] // p, shape[2])
        elif t == "Flatten":
            shape = (math.prod(shape),)
        elif t == "GlobalAvgPool":
            shape = (shape[2],)
        elif t == "Dense":
            if len(shape) != 1:
                raise SpecError(f"{where} needs a flat input; add a Flatten (or GlobalAvgPool) before it")
            params = (shape[0] + 1) * layer["units"]
            shape = (layer["units"],)
        elif t == "BatchNorm":
            params = 4 * shape[-1]
        rows.append((f"{i + 1}. {t}", shape, params))
    if len(shape) != 1:
        rows.append(("Flatten (auto)", (math.prod(shape),), 0))
        shape = (math.prod(shape),)
    units = 1 if task.is_binary else task.n_classes
    rows.append(
        (f"Output Dense({units}, {'sigmoid' if task.is_binary else 'softmax'})", (units,), (shape[0] + 1) * units)
    )
    return rows


def count_params(spec, task="multiclass") -> int:
    """Total parameters (trainable and BatchNorm statistics), computed without TensorFlow."""
    return sum(p for _, _, p in layer_shapes(spec, task))


def check_param_cap(spec, task="multiclass", cap: int = DEFAULT_PARAM_CAP) -> int:
    n = count_params(spec, task)
    if n > cap:
        raise SpecError(
            f"this model has {n:,} parameters, above the cap of {cap:,}; "
            "add a MaxPool before Flatten, use fewer filters or smaller Dense layers"
        )
    return n


def build_model(
    spec, task="multiclass", cap: int = DEFAULT_PARAM_CAP, name: str | None = None, precision: str = "float32"
):
    """Build an (uncompiled) Keras model: the spec's body plus the task's output layer.

    Input: float32 (n, 28, 28, 1). Output: (n, n_classes) softmax, or (n, 1) sigmoid, float32.
    precision : "float32", or "mixed_bfloat16" for the body (bfloat16 compute, float32 weights);
        set per layer rather than globally, so other models in the same process are unaffected.
        The output layer stays float32, so the softmax and the loss are computed in full precision.
    """
    import keras
    from keras import layers

    spec = normalize_spec(spec)
    task = get_task(task)
    check_param_cap(spec, task, cap)
    x = inputs = keras.Input(INPUT_SHAPE, name="image")
    for i, layer in enumerate(spec):
        t, kw = layer["type"], {k: v for k, v in layer.items() if k != "type"}
        lname = f"{t.lower()}_{i + 1}"
        kw["dtype"] = precision
        if t == "Conv2D":
            x = layers.Conv2D(name=lname, **kw)(x)
        elif t == "MaxPool2D":
            x = layers.MaxPooling2D(kw["pool_size"], name=lname, dtype=precision)(x)
        elif t == "Dense":
            x = layers.Dense(name=lname, **kw)(x)
        elif t == "Dropout":
            x = layers.Dropout(kw["rate"], name=lname, dtype=precision)(x)
        elif t == "BatchNorm":
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=lname, dtype=precision)(x)
        elif t == "Flatten":
            x = layers.Flatten(name=lname, dtype=precision)(x)
        elif t == "Activation":
            x = layers.Activation(kw["activation"], name=lname, dtype=precision)(x)
        elif t == "GlobalAvgPool":
            x = layers.GlobalAveragePooling2D(name=lname, dtype=precision)(x)
    if len(x.shape) > 2:
        x = layers.Flatten(name="flatten_auto", dtype=precision)(x)
    if task.is_binary:
        outputs = layers.Dense(1, activation="sigmoid", name="output", dtype="float32")(x)
    else:
        outputs = layers.Dense(task.n_classes, activation="softmax", name="output", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name or "fmnist_model")


def transfer_conv_weights(source, target) -> list[str]:
    """Copy the weights of the convolutional feature extractor (Conv2D and BatchNorm layers
    before the first Flatten) from ``source`` into ``target`` where names and shapes match.

    Returns the names of the layers copied. Both models must come from the same spec body.
    """
    copied = []
    for layer in target.layers:
        if layer.name.startswith(("flatten", "dense", "globalavgpool", "output")):
            break
        if not layer.name.startswith(("conv2d", "batchnorm")):
            continue
        src = source.get_layer(layer.name)
        if [w.shape for w in src.get_weights()] != [w.shape for w in layer.get_weights()]:
            raise SpecError(f"layer {layer.name}: shapes differ between the models; transfer needs the same body")
        layer.set_weights(src.get_weights())
        copied.append(layer.name)
    return copied


def spec_copy(spec) -> list[dict]:
    return copy.deepcopy(normalize_spec(spec))
