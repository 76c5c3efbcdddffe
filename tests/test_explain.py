"""fmnist_core.insight.explain: occlusion and gradient saliency, conv feature maps.

A small CNN trained on 3,000 real images (``shared_models.tiny_tinyvgg``, trained once); the checks are
ones that can be derived by hand: occluding black with black changes nothing, the gradient
matches a finite difference, the first feature map equals a hand-computed convolution.
"""

import numpy as np
import pytest

from fmnist_core.data import fashion_mnist as data
from fmnist_core.insight import explain
from fmnist_core.modeling import saving
from fmnist_core.modeling.inference import predict_one, prepare
from fmnist_core.modeling.models import build_model
from shared_models import home_with, tiny_tinyvgg


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FMNIST_HOME", str(home_with(tmp_path_factory, tiny_tinyvgg)))
        model, _ = saving.load_model("tiny")
    meta = {"task": {"name": "multiclass"}, "hparams": {"normalize": True}}
    return model, meta


@pytest.fixture(scope="module")
def images():
    return data.load_fashion_mnist()[1]


def test_occlusion_map_shape_and_black_on_black_is_zero(trained, images):
    model, meta = trained
    x, _ = images
    img = x[0]  # an ankle boot: rows 0-6 are all black
    assert img[:7].max() == 0
    occ = explain.occlusion_map(model, meta, img, patch=4, stride=2)
    assert occ.shape == (28, 28) and occ.dtype == np.float32
    # Every patch covering rows 0-1 lies in the black rows 0-5 and sets black to black: no change.
    np.testing.assert_allclose(occ[:2], 0.0, atol=1e-6)
    assert np.abs(occ[8:22]).max() > 1e-3  # hiding parts of the boot does change the prediction


def test_occlusion_of_single_patch_equals_manual_drop(trained, images):
    model, meta = trained
    x, _ = images
    img = x[3]
    target = explain.predicted_class(model, meta, img)
    occ = explain.occlusion_map(model, meta, img, patch=28, stride=28)  # one patch: the whole image
    hidden = np.zeros_like(img)
    drop = predict_one(model, meta, img)[target] - predict_one(model, meta, hidden)[target]
    np.testing.assert_allclose(occ, drop, atol=1e-5)


def test_occlusion_log_odds_score(trained, images):
    model, meta = trained
    x, _ = images
    img = x[3]
    target = explain.predicted_class(model, meta, img)
    occ = explain.occlusion_map(model, meta, img, patch=28, stride=28, score="log-odds")

    def logit(p):
        return np.log(p) - np.log1p(-p)

    p_img = predict_one(model, meta, img)[target]
    p_black = predict_one(model, meta, np.zeros_like(img))[target]
    np.testing.assert_allclose(occ, logit(p_img) - logit(p_black), rtol=1e-4)
    with pytest.raises(ValueError, match="score"):
        explain.occlusion_map(model, meta, img, score="logit")


def test_gradient_saliency_matches_finite_difference(trained, images):
    model, meta = trained
    x, _ = images
    img = x[1]
    target = explain.predicted_class(model, meta, img)
    grad = explain.gradient_saliency(model, meta, img, target=target, normalize=False)
    assert grad.shape == (28, 28) and (grad >= 0).all()
    r, c = np.unravel_index(np.argmax(grad), grad.shape)
    base = prepare(img, meta).astype(np.float64)
    eps = 1e-3
    plus, minus = base.copy(), base.copy()
    plus[0, r, c, 0] += eps
    minus[0, r, c, 0] -= eps

    def p(inp):
        return float(np.asarray(model(inp.astype(np.float32), training=False))[0, target])

    fd = abs(p(plus) - p(minus)) / (2 * eps)
    assert fd == pytest.approx(float(grad[r, c]), rel=0.1)
    norm = explain.gradient_saliency(model, meta, img, target=target)
    assert norm.max() == pytest.approx(1.0)
    smooth = explain.gradient_saliency(model, meta, img, target=target, smooth=8)
    assert smooth.shape == (28, 28) and smooth.max() == pytest.approx(1.0)


def test_feature_maps_one_per_conv_layer_and_first_matches_hand_convolution(trained, images):
    model, meta = trained
    x, _ = images
    maps = explain.feature_maps(model, meta, x[2])
    convs = explain.conv_layers(model)
    assert [name for name, _ in maps] == [layer.name for layer in convs] and len(maps) == 3
    assert [m.shape for _, m in maps] == [(26, 26, 32), (11, 11, 32), (3, 3, 32)]  # TinyVGG, 'valid' convs
    kernel, bias = convs[0].get_weights()  # (3, 3, 1, 32), (32,)
    inp = prepare(x[2], meta)[0, :, :, 0]
    k = 5
    manual = np.zeros((26, 26))
    for i in range(26):
        for j in range(26):
            manual[i, j] = (inp[i : i + 3, j : j + 3] * kernel[:, :, 0, k]).sum() + bias[k]
    np.testing.assert_allclose(maps[0][1][..., k], np.maximum(manual, 0), atol=1e-4)


def test_feature_maps_are_taken_after_batchnorm_and_relu(images):
    x, _ = images
    meta = {"task": {"name": "multiclass"}, "hparams": {"normalize": True}}
    spec = [
        {"type": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same", "activation": "linear"},
        {"type": "BatchNorm"},
        {"type": "Activation", "activation": "relu"},
        {"type": "MaxPool2D", "pool_size": 2},
        {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "valid", "activation": "linear"},
        {"type": "Flatten"},
    ]
    model = build_model(spec, "multiclass")
    blocks = explain.conv_blocks(model)
    assert [(c.name, [a.name for a in after]) for c, after in blocks] == [
        ("conv2d_1", ["batchnorm_2", "activation_3"]),
        ("conv2d_5", []),
    ]
    after = explain.feature_maps(model, meta, x[4])
    raw = explain.feature_maps(model, meta, x[4], after_activation=False)
    assert [m.shape for _, m in after] == [(28, 28, 8), (12, 12, 4)]
    assert after[0][1].min() >= 0 and raw[0][1].min() < 0  # ReLU applied / raw linear conv output
    np.testing.assert_allclose(after[1][1], raw[1][1])  # nothing follows the second conv


def test_a_pool_first_block_shows_the_pooled_map_after_its_batchnorm_and_relu(images):
    """quick/fast_cnn/shoe_cnn pool before BatchNorm and ReLU: the map shown is the one the network
    computes (pooled, normalized, rectified), not the raw linear conv output."""
    x, _ = images
    meta = {"task": {"name": "multiclass"}, "hparams": {"normalize": True}}
    spec = [
        {"type": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same", "activation": "linear"},
        {"type": "MaxPool2D", "pool_size": 2},
        {"type": "BatchNorm"},
        {"type": "Activation", "activation": "relu"},
        {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "linear"},
        {"type": "MaxPool2D", "pool_size": 2},
        {"type": "Flatten"},
    ]
    model = build_model(spec, "multiclass")
    assert [(c.name, [a.name for a in after]) for c, after in explain.conv_blocks(model)] == [
        ("conv2d_1", ["maxpool2d_2", "batchnorm_3", "activation_4"]),
        ("conv2d_5", []),
    ]  # a bare pool is not
    after = explain.feature_maps(model, meta, x[4])
    assert [m.shape for _, m in after] == [(14, 14, 8), (14, 14, 4)]
    assert after[0][1].min() >= 0


def test_binary_sigmoid_model_and_models_without_convs(images):
    x, _ = images
    meta = {"task": {"name": "shoes", "positive": [5, 7, 9]}, "hparams": {"normalize": True}}
    binary = build_model("tinyvgg", "shoes")
    occ = explain.occlusion_map(binary, meta, x[0], target=1)
    # For a sigmoid output, the drop for class 0 is exactly minus the drop for class 1.
    np.testing.assert_allclose(explain.occlusion_map(binary, meta, x[0], target=0), -occ, atol=1e-6)
    assert explain.gradient_saliency(binary, meta, x[0], target=1).shape == (28, 28)
    linear = build_model("linear", "multiclass")
    assert explain.feature_maps(linear, meta, x[0]) == []


def test_tile_maps_layout_and_bad_input():
    maps = np.zeros((5, 4, 10), np.float32)
    maps[..., 1] = np.arange(20).reshape(5, 4)  # a ramp: scaled to 0..255 on its own
    mosaic = explain.tile_maps(maps, ncols=4, pad=1)
    assert mosaic.shape == (3 * 6 - 1, 4 * 5 - 1) and mosaic.dtype == np.uint8
    tile1 = mosaic[0:5, 5:9]
    assert tile1.min() == 0 and tile1.max() == 255
    assert mosaic[0:5, 0:4].max() == 0  # a constant channel shows black
    with pytest.raises(ValueError):
        explain.tile_maps(np.zeros((4, 4)))
    with pytest.raises(ValueError):
        explain.occlusion_map(None, {}, np.zeros((20, 20), np.uint8))


class CountingModel:
    """Wraps a Keras model and counts its calls and the images it saw (issue 9: saliency costs one call)."""

    def __init__(self, model):
        self.model, self.calls, self.batch_sizes = model, 0, []

    def __call__(self, x, training=False):
        self.calls += 1
        self.batch_sizes.append(int(x.shape[0]))
        return self.model(x, training=training)


@pytest.mark.parametrize("target", [None, 3])
def test_each_saliency_map_costs_exactly_one_batched_model_call(trained, images, target):
    model, meta = trained
    x, _ = images
    counting = CountingModel(model)
    occ = explain.occlusion_map(counting, meta, x[5], target=target, patch=4, stride=2)
    assert counting.calls == 1 and counting.batch_sizes == [13 * 13 + 1]  # every patch and the original
    counting = CountingModel(model)
    grad = explain.gradient_saliency(counting, meta, x[5], target=target, smooth=16)
    assert counting.calls == 1 and counting.batch_sizes[0] >= 16
    # Without a target both explain the predicted class, as if it had been passed.
    if target is None:
        best = explain.predicted_class(model, meta, x[5])
        np.testing.assert_allclose(occ, explain.occlusion_map(model, meta, x[5], target=best), atol=1e-6)
        np.testing.assert_allclose(
            grad, explain.gradient_saliency(model, meta, x[5], target=best, smooth=16), atol=1e-5
        )
