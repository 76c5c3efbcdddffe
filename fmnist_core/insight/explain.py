"""Looking inside a model: saliency maps (occlusion, gradient) and conv feature maps.

All functions take a loaded Keras model, its metadata (for the input scaling it was
trained with) and one uint8 image (28, 28), and call the model directly, never
``model.predict``. TensorFlow is imported only inside the functions that need it.
"""

from __future__ import annotations

import numpy as np

from fmnist_core.modeling.inference import prepare


def _class_prob(outputs, target: int):
    """Probability of ``target`` from a softmax (n, k) or a sigmoid (n, 1) output; works on tensors."""
    if outputs.shape[-1] == 1:
        return outputs[:, 0] if target == 1 else 1.0 - outputs[:, 0]
    return outputs[:, target]


def _check_image(image) -> np.ndarray:
    image = np.asarray(image)
    if image.shape != (28, 28):
        raise ValueError(f"expected one 28x28 image, got shape {image.shape}")
    return image.astype(np.uint8)


def predicted_class(model, meta: dict, image) -> int:
    """Arg-max class of one image (binary models: 1 when p >= 0.5)."""
    from fmnist_core.modeling.inference import predict_one

    return int(np.argmax(predict_one(model, meta, _check_image(image))))


def occlusion_map(
    model,
    meta: dict,
    image,
    target: int | None = None,
    patch: int = 4,
    stride: int = 2,
    fill: float = 0.0,
    score: str = "probability",
) -> np.ndarray:
    """How much the target class's score drops when each region is hidden.

    A ``patch`` x ``patch`` square of the image is set to ``fill`` (black, the data set's
    background) at every ``stride`` step; all occluded copies go through the model in one
    batch. Each pixel's value is the mean drop over the patches covering it.

    score : 'probability' (drop in p, in [-1, 1]) or 'log-odds' (drop in log(p / (1 - p))).
        A confident model sits at p ~ 1.0, where hiding a part barely moves p; its log-odds
        still move, so 'log-odds' gives a readable map for confident predictions.

    Returns float32 (28, 28): positive = evidence for ``target`` (default: the predicted class),
    negative = hiding it made the class *more* likely.
    """
    if score not in ("probability", "log-odds"):
        raise ValueError(f"score must be 'probability' or 'log-odds', got {score!r}")
    image = _check_image(image)
    if not (1 <= patch <= 28 and 1 <= stride <= 28):
        raise ValueError("patch and stride must be between 1 and 28 pixels")
    starts = list(range(0, 28 - patch + 1, stride))
    if starts[-1] != 28 - patch:  # make sure the right and bottom edges are covered
        starts.append(28 - patch)
    x = prepare(image, meta)[0]  # (28, 28, 1), the model's own scaling
    fill_value = prepare(np.full((28, 28), fill, dtype=np.uint8), meta)[0, 0, 0, 0]
    batch = np.repeat(x[None], len(starts) ** 2 + 1, axis=0)  # index 0 stays unoccluded
    boxes = [(r, c) for r in starts for c in starts]
    for i, (r, c) in enumerate(boxes, start=1):
        batch[i, r : r + patch, c : c + patch, 0] = fill_value
    out = np.asarray(model(batch, training=False), dtype=np.float64)  # the one model call
    if target is None:  # the predicted class, read off the unoccluded copy: no extra call
        target = int(out[0, 0] >= 0.5) if out.shape[-1] == 1 else int(np.argmax(out[0]))
    probs = np.asarray(_class_prob(out, int(target)), dtype=np.float64)
    if score == "log-odds":
        p = np.clip(probs, 1e-12, 1 - 1e-12)  # float64 keeps p = 1 - 1e-9 distinct from 1
        probs = np.log(p) - np.log1p(-p)
    drop = probs[0] - probs[1:]
    total = np.zeros((28, 28))
    count = np.zeros((28, 28))
    for d, (r, c) in zip(drop, boxes):
        total[r : r + patch, c : c + patch] += d
        count[r : r + patch, c : c + patch] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


def gradient_saliency(
    model,
    meta: dict,
    image,
    target: int | None = None,
    smooth: int = 0,
    noise: float = 0.1,
    seed: int = 0,
    normalize: bool = True,
) -> np.ndarray:
    """|d p(target) / d input|: which pixels the target probability is most sensitive to.

    The derivative is taken with respect to the model's own input (after its scaling).
    With ``smooth`` > 0, averages the gradient over that many noisy copies (SmoothGrad,
    noise = std as a share of the input range), which gives less speckled maps.
    Returns float32 (28, 28), >= 0; with ``normalize`` divided by its maximum (all zeros if
    the gradient vanishes).
    """
    import tensorflow as tf

    image = _check_image(image)
    x = prepare(image, meta)  # (1, 28, 28, 1)
    if smooth:
        rng = np.random.default_rng(seed)
        span = float(x.max() - x.min()) or 1.0
        x = np.concatenate([x, x + rng.normal(0, noise * span, size=(smooth, 28, 28, 1)).astype(np.float32)])
    # One model call on one batch: row 0 is the clean image (it picks the default target); with
    # ``smooth`` the gradient is averaged over the noisy rows 1.. only.
    xt = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = model(xt, training=False)
        if target is None:
            target = int(out[0, 0] >= 0.5) if out.shape[-1] == 1 else int(tf.argmax(out[0]))
        prob = _class_prob(out, int(target))
        total = tf.reduce_sum(prob[1:] if smooth else prob)
    grads = np.abs(tape.gradient(total, xt).numpy())
    grad = (grads[1:] if smooth else grads).mean(axis=0)[..., 0]
    peak = grad.max()
    return (grad / peak if normalize and peak > 0 else grad).astype(np.float32)


def conv_layers(model) -> list:
    """The model's Conv2D layers, in order."""
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def conv_blocks(model) -> list[tuple]:
    """[(Conv2D layer, layers applied right after it)] for every Conv2D layer.

    The layers after it are the BatchNormalization and Activation layers that directly
    follow (as in ``Conv2D(linear) -> BatchNorm -> ReLU``), so a feature map can be shown
    after the non-linearity, as CNN Explainer does, even when the conv itself is linear.
    One MaxPool2D among them counts too when a BatchNorm or Activation comes after it
    (``Conv2D -> MaxPool -> BatchNorm -> ReLU``, the pool-first blocks of ``quick``,
    ``fast_cnn`` and ``shoe_cnn``): the network never applies its non-linearity to the
    unpooled map, so the map shown is the pooled one it does compute.
    """
    import keras

    layers = model.layers
    blocks = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        after = []
        for nxt in layers[i + 1 :]:
            pool_first = isinstance(nxt, keras.layers.MaxPooling2D) and not after
            if not (pool_first or isinstance(nxt, (keras.layers.BatchNormalization, keras.layers.Activation))):
                break
            after.append(nxt)
        if after and isinstance(after[-1], keras.layers.MaxPooling2D):
            after = after[:-1]  # a pool with no non-linearity after it is not part of the map
        blocks.append((layer, after))
    return blocks


def feature_maps(model, meta: dict, image, after_activation: bool = True) -> list[tuple[str, np.ndarray]]:
    """Activations of every Conv2D layer for one image, like CNN Explainer.

    Returns [(conv layer name, float32 array (h, w, filters))], one per Conv2D layer, in order.
    With ``after_activation`` each map is taken after the BatchNorm/Activation layers that
    directly follow the conv (see ``conv_blocks``); otherwise it is the conv's own output
    (after its own activation, if it has one). Empty for models without convolutions.
    """
    import keras

    image = _check_image(image)
    blocks = conv_blocks(model)
    if not blocks:
        return []
    taps = [(after[-1] if after and after_activation else conv).output for conv, after in blocks]
    probe = keras.Model(model.inputs[0], taps)
    outs = probe(prepare(image, meta), training=False)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    return [(conv.name, np.asarray(o)[0].astype(np.float32)) for (conv, _), o in zip(blocks, outs)]


def tile_maps(maps: np.ndarray, ncols: int = 8, pad: int = 1) -> np.ndarray:
    """(h, w, c) activations -> one uint8 mosaic image, each channel scaled to 0-255 on its own.

    A channel that is constant (e.g. a dead ReLU) shows as black. Channels are laid out
    row by row, ``ncols`` per row, separated by ``pad`` grey pixels.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"expected (h, w, channels), got {maps.shape}")
    h, w, c = maps.shape
    ncols = max(1, min(ncols, c))
    nrows = int(np.ceil(c / ncols))
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), 96, dtype=np.uint8)
    lo, hi = maps.min(axis=(0, 1)), maps.max(axis=(0, 1))
    for k in range(c):
        span = hi[k] - lo[k]
        tile = np.zeros((h, w)) if span <= 0 else (maps[..., k] - lo[k]) / span * 255
        r, col = divmod(k, ncols)
        out[r * (h + pad) : r * (h + pad) + h, col * (w + pad) : col * (w + pad) + w] = np.rint(tile).astype(np.uint8)
    return out
