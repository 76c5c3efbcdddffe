"""Named model specs (presets) and the training recipes that go with them.

Each preset is a function returning a spec body (see ``models``): the output layer is added by
``models.build_model`` for the task. ``PRESETS`` names them, ``RECIPES`` holds the HParams that
train a preset well, ``PRESET_DESCRIPTIONS`` says in one line what each is. Pure Python.
"""

from __future__ import annotations

from fmnist_core.schema.spec import ACTIVATIONS, SpecError


def _conv(filters, k=3, padding="same", activation="relu"):
    return {
        "type": "Conv2D",
        "filters": filters,
        "kernel_size": k,
        "strides": 1,
        "padding": padding,
        "activation": activation,
    }


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
    return [_conv(32, 3, "valid"), _pool(), _conv(32, 3, "valid"), _pool(), _conv(32, 3, "valid"), {"type": "Flatten"}]


def shoe_cnn():
    """The original project's shoe network: conv(16,5) pool relu conv(32,5) pool relu dense."""
    return [
        _conv(16, 5, "same", "linear"),
        _pool(),
        {"type": "Activation", "activation": "relu"},
        _conv(32, 5, "same", "linear"),
        _pool(),
        {"type": "Activation", "activation": "relu"},
        {"type": "Flatten"},
    ]


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
        return [
            _conv(filters, 3, "same", "linear"),
            {"type": "BatchNorm"},
            {"type": "Activation", "activation": "relu"},
            _conv(filters, 3, "same", "linear"),
            _pool(),
            {"type": "BatchNorm"},
            {"type": "Activation", "activation": "relu"},
            {"type": "Dropout", "rate": drop},
        ]

    return (
        block(32, 0.2)
        + block(64, 0.3)
        + [
            {"type": "Flatten"},
            _dense(128, "linear"),
            {"type": "BatchNorm"},
            {"type": "Activation", "activation": "relu"},
            {"type": "Dropout", "rate": 0.4},
        ]
    )


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
        return [
            _conv(filters, 3, "same", "linear"),
            _pool(),
            {"type": "BatchNorm"},
            {"type": "Activation", "activation": "relu"},
        ]

    return (
        conv_pool_bn(16)
        + conv_pool_bn(32)
        + [
            {"type": "Flatten"},
            _dense(128, "linear"),
            {"type": "BatchNorm"},
            {"type": "Activation", "activation": "relu"},
        ]
    )


def fast_cnn():
    """The time-to-accuracy recipe's network: >= 94% validation in about 5 minutes on 2 CPU cores
    with ``RECIPES["fast_cnn"]`` (BENCHMARKS.md, "Recipe study"); fmnist_net needs ~12 minutes.

    Conv(32)-pool-BN, Conv(64)-BN, Conv(64)-pool-BN, Conv(128)-BN at 7x7, Dense(256)-BN, dropout.
    It pools before normalizing wherever a block ends in a pool (BatchNorm is memory-bound on this
    CPU, see ``quick``), and keeps full-resolution work to one 32-filter conv.
    """

    def conv_bn(filters, pool):
        return [
            _conv(filters, 3, "same", "linear"),
            *([_pool()] if pool else []),
            {"type": "BatchNorm"},
            {"type": "Activation", "activation": "relu"},
        ]

    return (
        conv_bn(32, True)
        + conv_bn(64, False)
        + conv_bn(64, True)
        + conv_bn(128, False)
        + [
            {"type": "Flatten"},
            _dense(256, "linear"),
            {"type": "BatchNorm"},
            {"type": "Activation", "activation": "relu"},
            {"type": "Dropout", "rate": 0.3},
        ]
    )


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
DEFAULT_PRESET = "quick"  # the model Build & Train starts from (the LR Finder defaults to it too)
# Training recipes (HParams fields) that go with a preset; see BENCHMARKS.md, "Recipe study".
RECIPES = {
    "quick": {"precision": "auto", "batch_size": 256, "schedule": "onecycle", "lr": 5e-3, "epochs": 3},
    "fast_cnn": {
        "precision": "auto",
        "batch_size": 256,
        "schedule": "onecycle",
        "lr": 4e-3,
        "epochs": 12,
        "augment_flip": True,
    },
    "fmnist_net": {
        "precision": "auto",
        "batch_size": 256,
        "schedule": "onecycle",
        "lr": 4e-3,
        "epochs": 20,
        "augment_flip": True,
    },
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
