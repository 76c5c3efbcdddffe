"""Model specs and presets.

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
errors and counts without importing TensorFlow.
"""
from __future__ import annotations

import copy
import math

from fmnist_core.data.tasks import get_task
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


def _conv(filters, k=3, padding="same", activation="relu"):
    return {"type": "Conv2D", "filters": filters, "kernel_size": k, "strides": 1, "padding": padding,
            "activation": activation}


def _pool(p=2):
    return {"type": "MaxPool2D", "pool_size": p}


def _dense(units, activation="relu"):
    return {"type": "Dense", "units": units, "activation": activation}


def linear():
    """Flatten, then the output layer: multinomial logistic regression."""
    return [{"type": "Flatten"}]


def mlp(hidden=(256, 128), activation="relu", dropout=0.2):
    """Dense layers of the given sizes, each optionally followed by Dropout."""
    if activation not in ACTIVATIONS:
        raise SpecError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    spec = [{"type": "Flatten"}]
    for units in hidden:
        spec.append(_dense(int(units), activation))
        if dropout:
            spec.append({"type": "Dropout", "rate": float(dropout)})
    return spec


def tinyvgg():
    """CNN Explainer's TinyVGG as used before: 21,706 parameters for 10 classes."""
    return [_conv(32, 3, "valid"), _pool(), _conv(32, 3, "valid"), _pool(), _conv(32, 3, "valid"),
            {"type": "Flatten"}]


def shoe_cnn():
    """The original project's shoe network: conv(16,5) pool relu conv(32,5) pool relu dense."""
    return [_conv(16, 5, "same", "linear"), _pool(), {"type": "Activation", "activation": "relu"},
            _conv(32, 5, "same", "linear"), _pool(), {"type": "Activation", "activation": "relu"},
            {"type": "Flatten"}]


def exercise_cnn():
    """Conv(32) pool Conv(64) pool Dense(128): the course exercise network."""
    return [_conv(32), _pool(), _conv(64), _pool(), {"type": "Flatten"}, _dense(128)]


def fmnist_net():
    """The shipped 10-class model's network: two VGG-style double-conv blocks with BatchNorm and
    dropout, Dense(128). Trained with ``RECIPES["fmnist_net"]`` (BENCHMARKS.md, "Shipping recipe,
    second trial").

    Each block's second conv is pooled *before* its BatchNorm and ReLU, as in ``quick``: BatchNorm
    is memory-bound on this CPU, so normalizing the pooled map (a quarter of the activations) is
    cheaper, and max-pooling commutes with the ReLU. With its recipe (bfloat16, batch 256) an epoch
    takes 29-41 s on 2 cores where the first version (BatchNorm at full resolution, float32, batch
    128) took 55-85 s: 94% validation 1.76x sooner, and 94.26% test after 20 epochs in ~12 minutes
    (``OLD_FMNIST_NET`` in ``benchmarks/bench_time_to_accuracy.py`` keeps the old layout).
    """
    def block(filters, drop):
        return [_conv(filters, 3, "same", "linear"), {"type": "BatchNorm"}, {"type": "Activation", "activation": "relu"},
                _conv(filters, 3, "same", "linear"), _pool(), {"type": "BatchNorm"},
                {"type": "Activation", "activation": "relu"}, {"type": "Dropout", "rate": drop}]
    return block(32, 0.2) + block(64, 0.3) + [
        {"type": "Flatten"}, _dense(128, "linear"), {"type": "BatchNorm"},
        {"type": "Activation", "activation": "relu"}, {"type": "Dropout", "rate": 0.4}]


def quick():
    """The fast default: Conv(16)-pool-BN, Conv(32)-pool-BN, Dense(128)-BN; 1.2 M multiply-adds per
    image. Trained with ``RECIPES["quick"]`` (3 epochs, one-cycle 5e-3, batch 256).

    Sized for the laptops students bring, which train in float32: its recipe reaches >= 92%
    validation on the full training split in 3 epochs, and a step costs a third of the former
    Conv(32)/Conv(64) version's (BENCHMARKS.md, "Laptop profiles"), which needed 4 epochs and ~200 s
    on a CPU without fast bfloat16.

    Each block pools *before* its BatchNorm and ReLU: on this CPU BatchNorm is memory-bound, and
    normalizing the pooled map (a quarter of the activations) halves the time of an epoch at the same
    validation accuracy (BENCHMARKS.md, "Recipe study"). Max-pooling commutes with ReLU, so this is
    nearly the same function.
    """
    def conv_pool_bn(filters):
        return [_conv(filters, 3, "same", "linear"), _pool(), {"type": "BatchNorm"},
                {"type": "Activation", "activation": "relu"}]
    return conv_pool_bn(16) + conv_pool_bn(32) + [{"type": "Flatten"}, _dense(128, "linear"), {"type": "BatchNorm"},
                                                  {"type": "Activation", "activation": "relu"}]


def fast_cnn():
    """The time-to-accuracy recipe's network: >= 94% validation in about 5 minutes on 2 CPU cores
    with ``RECIPES["fast_cnn"]`` (BENCHMARKS.md, "Recipe study"); fmnist_net needs ~12 minutes.

    Conv(32)-pool-BN, Conv(64)-BN, Conv(64)-pool-BN, Conv(128)-BN at 7x7, Dense(256)-BN, dropout.
    It pools before normalizing wherever a block ends in a pool (BatchNorm is memory-bound on this
    CPU, see ``quick``), and keeps full-resolution work to one 32-filter conv.
    """
    def conv_bn(filters, pool):
        return [_conv(filters, 3, "same", "linear"), *([_pool()] if pool else []), {"type": "BatchNorm"},
                {"type": "Activation", "activation": "relu"}]
    return conv_bn(32, True) + conv_bn(64, False) + conv_bn(64, True) + conv_bn(128, False) + [
        {"type": "Flatten"}, _dense(256, "linear"), {"type": "BatchNorm"}, {"type": "Activation", "activation": "relu"},
        {"type": "Dropout", "rate": 0.3}]


PRESETS = {
    "quick": quick,
    "linear": linear,
    "mlp": mlp,
    "dense_4_4": lambda: mlp((4, 4), "relu", 0),
    "dense_20x3": lambda: mlp((20, 20, 20), "relu", 0),
    "dense_20x4": lambda: mlp((20, 20, 20, 20), "relu", 0),
    "tinyvgg": tinyvgg,
    "shoe_cnn": shoe_cnn,
    "exercise_cnn": exercise_cnn,
    "fmnist_net": fmnist_net,
    "fast_cnn": fast_cnn,
}
DEFAULT_PRESET = "quick"   # the model Build & Train starts from (the LR Finder defaults to it too)
# Training recipes (HParams fields) that go with a preset; see BENCHMARKS.md, "Recipe study".
RECIPES = {
    "quick": {"precision": "auto", "batch_size": 256, "schedule": "onecycle", "lr": 5e-3, "epochs": 3},
    "fast_cnn": {"precision": "auto", "batch_size": 256, "schedule": "onecycle", "lr": 4e-3, "epochs": 12,
                 "augment_flip": True},
    "fmnist_net": {"precision": "auto", "batch_size": 256, "schedule": "onecycle", "lr": 4e-3, "epochs": 20,
                   "augment_flip": True},
}
PRESET_DESCRIPTIONS = {
    "quick": "Fast default: Conv(16) and Conv(32), each pooled then batch-normalized, Dense(128); one-cycle recipe, batch 256, 3 epochs.",
    "linear": "Flatten + Dense softmax: the linear baseline.",
    "mlp": "Multi-layer perceptron; hidden sizes, activation and dropout are parameters.",
    "dense_4_4": "Dense progression, step 1: two hidden layers of 4.",
    "dense_20x3": "Dense progression, step 2: three hidden layers of 20.",
    "dense_20x4": "Dense progression, step 3: four hidden layers of 20.",
    "tinyvgg": "TinyVGG (CNN Explainer): 3 x Conv(32, 3), two max-pools; 21,706 params, reported 90.02%.",
    "shoe_cnn": "The original shoe CNN: Conv(16,5x5) pool ReLU Conv(32,5x5) pool ReLU Dense.",
    "exercise_cnn": "Conv(32) pool Conv(64) pool Dense(128).",
    "fmnist_net": "The shipped 10-class model's network: 2 double-conv blocks with BatchNorm and dropout, Dense(128); "
                  "one-cycle recipe with flips, 20 epochs.",
    "fast_cnn": "Fastest to 94%: four convs, pooled before BatchNorm, Dense(256); one-cycle recipe with flips.",
}


def preset(name: str, **kwargs) -> list[dict]:
    """The spec of a named preset; ``mlp`` takes hidden/activation/dropout keywords."""
    if name not in PRESETS:
        raise SpecError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name](**kwargs) if kwargs else PRESETS[name]()


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
            raise SpecError(f"{where} needs an image input, but the previous layers flattened it; move it before Flatten")
        if t == "Conv2D":
            k, s = layer["kernel_size"], layer["strides"]
            h, w, c = shape
            if layer["padding"] == "same":
                h, w = math.ceil(h / s), math.ceil(w / s)
            else:
                h, w = (h - k) // s + 1, (w - k) // s + 1
            if h < 1 or w < 1:
                raise SpecError(f"{where}: a {k}x{k} kernel does not fit a {shape[0]}x{shape[1]} input; use padding 'same' or a smaller kernel")
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
    rows.append((f"Output Dense({units}, {'sigmoid' if task.is_binary else 'softmax'})", (units,), (shape[0] + 1) * units))
    return rows


def count_params(spec, task="multiclass") -> int:
    """Total parameters (trainable and BatchNorm statistics), computed without TensorFlow."""
    return sum(p for _, _, p in layer_shapes(spec, task))


def check_param_cap(spec, task="multiclass", cap: int = DEFAULT_PARAM_CAP) -> int:
    n = count_params(spec, task)
    if n > cap:
        raise SpecError(f"this model has {n:,} parameters, above the cap of {cap:,}; "
                        "add a MaxPool before Flatten, use fewer filters or smaller Dense layers")
    return n


def build_model(spec, task="multiclass", cap: int = DEFAULT_PARAM_CAP, name: str | None = None,
                precision: str = "float32"):
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
