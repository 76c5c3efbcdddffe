"""Inside a conv layer, as CNN Explainer shows it: kernels, the input patch under one output pixel,
the multiply-add that gives that pixel's value, and the map before and after BatchNorm, the
activation and pooling.

Layers are named by where they sit, not by Keras's internal names: a *block* is everything up to
and including a MaxPool, so fmnist_net's layers read "block 1, conv 1", "block 1, conv 2",
"block 1, pool", "block 2, conv 1", ... then "dense 1" and "output".

All functions take a loaded functional Keras model (as built by ``models.build_model``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fmnist_core.modeling.inference import prepare


def activation_label(name: str) -> str:
    return {"relu": "ReLU", "elu": "ELU", "selu": "SELU", "gelu": "GELU"}.get(name, name)


def friendly_names(model) -> dict[str, str]:
    """{keras layer name: "block 1, conv 2" style label} for every layer after the input."""
    import keras

    names, block, conv, dense = {}, 1, 0, 0
    last_conv = None
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if layer.name == "output":
            names[layer.name] = "output"
        elif isinstance(layer, keras.layers.Conv2D):
            conv += 1
            last_conv = f"block {block}, conv {conv}"
            names[layer.name] = last_conv
        elif isinstance(layer, keras.layers.MaxPooling2D):
            names[layer.name] = f"block {block}, pool"
            block, conv, last_conv = block + 1, 0, None
        elif isinstance(layer, (keras.layers.BatchNormalization, keras.layers.Activation)):
            what = (
                "BatchNorm"
                if isinstance(layer, keras.layers.BatchNormalization)
                else activation_label(layer.get_config()["activation"])
            )
            owner = last_conv or (f"dense {dense}" if dense else f"block {block - (conv == 0)}")
            names[layer.name] = f"{owner}, {what}"
        elif isinstance(layer, keras.layers.Dense):
            dense += 1
            names[layer.name] = f"dense {dense}"
            last_conv = None
        elif isinstance(layer, keras.layers.Dropout):  # a dropout right after a pool still belongs to its block
            names[layer.name] = f"dense {dense}, dropout" if dense else f"block {block - (conv == 0)}, dropout"
        elif isinstance(layer, keras.layers.Flatten):
            names[layer.name] = "flatten"
            last_conv = None
        elif isinstance(layer, keras.layers.GlobalAveragePooling2D):
            names[layer.name] = "global average pool"
            last_conv = None
        else:
            names[layer.name] = layer.name
    return names


def architecture(model) -> list[dict]:
    """The tensor shape between layers: [{"label", "kind", "shape"}], input first, output last.

    ``shape`` excludes the batch axis, e.g. (28, 28, 32); ``kind`` is the Keras class name.
    """
    names = friendly_names(model)
    rows = [{"label": "input", "kind": "Input", "shape": tuple(model.inputs[0].shape[1:])}]
    for layer in model.layers[1:]:
        rows.append({"label": names[layer.name], "kind": type(layer).__name__, "shape": tuple(layer.output.shape[1:])})
    return rows


def conv_layers(model) -> list[tuple[str, str]]:
    """[(keras name, friendly label)] of the Conv2D layers, in order."""
    import keras

    names = friendly_names(model)
    return [(layer.name, names[layer.name]) for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


@dataclass
class ConvPixel:
    """One output value of a conv layer, taken apart.

    patch : float64 (k, k, c_in), the layer's input under the pixel (zeros where padding falls)
    kernel : float64 (k, k, c_in), the weights of the chosen output channel
    products : patch * kernel, elementwise (k, k, c_in)
    per_channel : products summed over each input channel (c_in,)
    bias : the channel's bias
    value : per_channel.sum() + bias, the conv's output before its activation
    keras_value : the same pixel from TensorFlow's float32 conv, for comparison
    rows, cols : the input rows and columns the patch covers (may reach outside: padding)
    """

    patch: np.ndarray
    kernel: np.ndarray
    products: np.ndarray
    per_channel: np.ndarray
    bias: float
    value: float
    keras_value: float
    rows: range
    cols: range


@dataclass
class ConvInspection:
    """The chosen conv layer's input and the chosen channel's maps along its block.

    layer_input : float32 (h_in, w_in, c_in), what the conv received
    stages : [(label, float32 (h, w))] the channel's map after the conv (before any activation),
             then after each BatchNorm / activation that follows it, then after the pool if one comes next
    kernels : float32 (k, k, c_in, filters), all the layer's kernels
    bias : float32 (filters,)
    strides, padding : the layer's settings
    compute_dtype : what the model computes in ("bfloat16" for a mixed-precision model: its own
                    stages after the conv are rounded to bfloat16's 8 significant bits)
    """

    label: str
    channel: int
    layer_input: np.ndarray
    stages: list
    kernels: np.ndarray
    bias: np.ndarray
    strides: int
    padding: str
    compute_dtype: str = "float32"

    def pixel(self, row: int, col: int) -> ConvPixel:
        """Take output pixel (row, col) of the pre-activation map apart into its multiply-add."""
        k, s = self.kernels.shape[0], self.strides
        h_in, w_in, c_in = self.layer_input.shape
        h_out, w_out = self.stages[0][1].shape
        if not (0 <= row < h_out and 0 <= col < w_out):
            raise ValueError(f"pixel ({row}, {col}) is outside the {h_out}x{w_out} map")
        pad_top = pad_left = 0
        if self.padding == "same":  # TensorFlow's rule: any odd padding pixel goes to the bottom/right
            pad_top = max((h_out - 1) * s + k - h_in, 0) // 2
            pad_left = max((w_out - 1) * s + k - w_in, 0) // 2
        r0, c0 = row * s - pad_top, col * s - pad_left
        padded = np.zeros((k, k, c_in))
        for i in range(k):
            for j in range(k):
                if 0 <= r0 + i < h_in and 0 <= c0 + j < w_in:
                    padded[i, j] = self.layer_input[r0 + i, c0 + j]
        kernel = self.kernels[..., self.channel].astype(np.float64)
        products = padded * kernel
        per_channel = products.sum(axis=(0, 1))
        bias = float(self.bias[self.channel])
        return ConvPixel(
            padded,
            kernel,
            products,
            per_channel,
            bias,
            float(per_channel.sum() + bias),
            float(self.stages[0][1][row, col]),
            range(r0, r0 + k),
            range(c0, c0 + k),
        )


def inspect(model, meta: dict, image, layer_name: str, channel: int) -> ConvInspection:
    """Run one uint8 (28, 28) image through the model and collect what ``ConvInspection`` holds."""
    import keras
    import tensorflow as tf

    layer = model.get_layer(layer_name)
    if not isinstance(layer, keras.layers.Conv2D):
        raise ValueError(f"{layer_name!r} is not a Conv2D layer")
    cfg = layer.get_config()
    kernels, bias = (np.asarray(w) for w in layer.get_weights())
    if not 0 <= channel < kernels.shape[-1]:
        raise ValueError(f"channel must be in 0-{kernels.shape[-1] - 1}, got {channel}")
    names = friendly_names(model)
    idx = model.layers.index(layer)
    after = []
    pooled = False
    for nxt in model.layers[idx + 1 :]:  # the block's BatchNorm / activation and one pool, in their order
        if isinstance(nxt, keras.layers.MaxPooling2D) and not pooled:
            pooled = True
        elif not isinstance(nxt, (keras.layers.BatchNormalization, keras.layers.Activation, keras.layers.Dropout)):
            break
        after.append(nxt)
    after = [a for a in after if not isinstance(a, keras.layers.Dropout)]  # identity at inference
    probe = keras.Model(model.inputs[0], [layer.input] + [a.output for a in after])
    outs = probe(prepare(np.asarray(image, dtype=np.uint8), meta), training=False)
    outs = [np.asarray(o)[0] for o in (outs if isinstance(outs, (list, tuple)) else [outs])]
    # float32 whatever the model computes in, so that the by-hand multiply-add and TensorFlow's
    # conv agree to float32's rounding (a bfloat16 conv output differs from it by ~0.4%).
    x = outs[0].astype(np.float32)
    # The conv before its own activation (tinyvgg's convs apply ReLU inside the layer).
    z = (
        tf.nn.conv2d(
            x[None],
            kernels[..., channel : channel + 1],
            cfg["strides"][0] if isinstance(cfg["strides"], (list, tuple)) else cfg["strides"],
            cfg["padding"].upper(),
        )[0, ..., 0]
        + bias[channel]
    )
    label = names[layer_name]
    stages = [(f"{label}, channel {channel + 1}: conv output (before activation)", np.asarray(z, np.float32))]
    if cfg["activation"] != "linear":
        own = np.asarray(keras.activations.get(cfg["activation"])(z), np.float32)
        stages.append((f"{label}, channel {channel + 1}: after its {activation_label(cfg['activation'])}", own))
    for a, out in zip(after, outs[1:]):
        stages.append((f"{names[a.name]}, channel {channel + 1}", out[..., channel].astype(np.float32)))
    stride = cfg["strides"][0] if isinstance(cfg["strides"], (list, tuple)) else int(cfg["strides"])
    return ConvInspection(label, channel, x, stages, kernels, bias, stride, cfg["padding"], layer.compute_dtype)


def shown_sums(px: ConvPixel, decimals: int = 4) -> dict:
    """The multiply-add as displayed: every product rounded to ``decimals``, and every sum taken over
    the rounded numbers (in integers of 10**-decimals), so the numbers on screen add up exactly.

    Returns {"products": float (k, k, c_in), "per_channel": float (c_in,), "bias": float,
    "total": float}; ``total`` differs from ``px.value`` only by the rounding of the shown terms.
    """
    scale = 10**decimals
    prod = np.rint(px.products * scale).astype(np.int64)
    per = prod.sum(axis=(0, 1))
    bias = int(round(px.bias * scale))
    return {
        "products": prod / scale,
        "per_channel": per / scale,
        "bias": bias / scale,
        "total": (int(per.sum()) + bias) / scale,
    }
