"""Inside a conv layer: friendly layer names, shapes between layers, and the multiply-add of one
output pixel recomputed by hand, through BatchNorm, ReLU and pooling; then the Evaluate section."""

import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.insight import conv_inspect as ci
from fmnist_core.modeling.inference import get_model, prepare
from fmnist_core.modeling.models import build_model, preset
from shared_models import shipped_model
from test_app_pages import ROOT, TIMEOUT


@pytest.fixture(scope="module")
def test_images():
    return fdata.load_fashion_mnist()[1][0]


def test_layers_are_named_by_block_and_position():
    names = ci.friendly_names(build_model(preset("fmnist_net")))
    # Each block's second conv is pooled before its BatchNorm and ReLU: those belong to the block.
    assert [
        names[n]
        for n in (
            "conv2d_1",
            "batchnorm_2",
            "activation_3",
            "conv2d_4",
            "maxpool2d_5",
            "batchnorm_6",
            "activation_7",
            "dropout_8",
            "conv2d_9",
            "conv2d_12",
            "dense_18",
            "output",
        )
    ] == [
        "block 1, conv 1",
        "block 1, conv 1, BatchNorm",
        "block 1, conv 1, ReLU",
        "block 1, conv 2",
        "block 1, pool",
        "block 1, BatchNorm",
        "block 1, ReLU",
        "block 1, dropout",
        "block 2, conv 1",
        "block 2, conv 2",
        "dense 1",
        "output",
    ]
    shoe = ci.friendly_names(build_model(preset("shoe_cnn"), "shoes"))  # conv, pool, ReLU per block
    assert [shoe[n] for n in ("conv2d_1", "maxpool2d_2", "activation_3", "conv2d_4")] == [
        "block 1, conv 1",
        "block 1, pool",
        "block 1, ReLU",
        "block 2, conv 1",
    ]


def test_architecture_strip_shapes_follow_the_spec():
    rows = ci.architecture(build_model(preset("tinyvgg")))
    # 28 -> valid 3x3 -> 26 -> pool 13 -> 11 -> pool 5 -> 3; flatten 3*3*32 = 288; softmax 10
    assert [r["shape"] for r in rows] == [
        (28, 28, 1),
        (26, 26, 32),
        (13, 13, 32),
        (11, 11, 32),
        (5, 5, 32),
        (3, 3, 32),
        (288,),
        (10,),
    ]
    assert rows[1]["label"] == "block 1, conv 1" and rows[-1]["label"] == "output"


@pytest.mark.parametrize("row,col", [(0, 0), (7, 9), (13, 13)])  # corners include the zero padding
def test_the_multiply_add_recomputed_by_hand(test_images, row, col):
    model, meta = get_model(shipped_model("fmnist_cnn"))
    ins = ci.inspect(model, meta, test_images[3], "conv2d_9", 6)  # block 2, conv 1: 32 inputs -> 64
    assert ins.label == "block 2, conv 1" and ins.layer_input.shape == (14, 14, 32)
    x, w, b = ins.layer_input.astype(np.float64), ins.kernels.astype(np.float64), float(ins.bias[6])
    by_hand = b
    for i in range(3):
        for j in range(3):
            r, c = row + i - 1, col + j - 1  # 'same' padding of a 3x3 kernel: one pixel each side
            if 0 <= r < 14 and 0 <= c < 14:
                by_hand += float(np.dot(x[r, c], w[i, j, :, 6]))
    px = ins.pixel(row, col)
    assert px.value == pytest.approx(by_hand, abs=1e-9)
    assert px.keras_value == pytest.approx(by_hand, abs=1e-4)
    # What is shown adds up exactly: rounded products -> per-channel sums -> + bias -> total.
    shown = ci.shown_sums(px)
    scaled = np.rint(shown["products"] * 1e4).astype(np.int64)
    assert np.array_equal(np.rint(shown["per_channel"] * 1e4).astype(np.int64), scaled.sum(axis=(0, 1)))
    assert round(shown["total"] * 1e4) == scaled.sum() + round(shown["bias"] * 1e4)
    assert abs(shown["total"] - px.value) <= (9 * 32 + 1) * 0.5e-4


def test_pool_batchnorm_and_relu_stages_by_hand(test_images):
    model, meta = get_model(shipped_model("fmnist_cnn"))
    ins = ci.inspect(model, meta, test_images[0], "conv2d_4", 6)  # block 1, conv 2, channel 7
    labels = [s[0] for s in ins.stages]
    assert labels == [
        "block 1, conv 2, channel 7: conv output (before activation)",
        "block 1, pool, channel 7",
        "block 1, BatchNorm, channel 7",
        "block 1, ReLU, channel 7",
    ]
    z, pool, bn, relu = (s[1].astype(np.float64) for s in ins.stages)
    assert z.shape == (28, 28) and pool.shape == bn.shape == relu.shape == (14, 14)
    # The shipped network trained in bfloat16 and computes in it where this machine runs bfloat16 fast,
    # else in float32 with the same weights (precision.keeps_bfloat16): the inspector says which. In
    # bfloat16 (8 significant bits) its conv rounds the inputs and weights of 288 products, so it differs
    # from the float64 sum by up to ~0.01 here (values up to 4.3); each later stage rounds its own result
    # to within 2^-8 = 0.4% (0.8% allowed; float32 is far inside). A mean pool instead of the max would be
    # off by up to 2.9 on this image.
    assert ins.compute_dtype == model.get_layer("conv2d_4").compute_dtype in ("bfloat16", "float32")
    np.testing.assert_allclose(pool, z.reshape(14, 2, 14, 2).max(axis=(1, 3)), rtol=8e-3, atol=1e-2)
    gamma, beta, mean, var = (np.asarray(v)[6] for v in model.get_layer("batchnorm_6").get_weights())
    eps = model.get_layer("batchnorm_6").epsilon
    np.testing.assert_allclose(bn, gamma * (pool - mean) / np.sqrt(var + eps) + beta, rtol=8e-3, atol=1e-3)
    np.testing.assert_allclose(relu, np.maximum(bn, 0), atol=1e-6)
    # The first conv sees the image itself, scaled as in training.
    first = ci.inspect(model, meta, test_images[0], "conv2d_1", 0)
    np.testing.assert_allclose(first.layer_input[..., 0], prepare(test_images[0], meta)[0, ..., 0])


def test_evaluate_feature_maps_tab_opens_a_conv_layer(fmnist_home):
    name = shipped_model("fmnist_cnn")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/evaluate.py")
    at.session_state["eval_tab"] = "Feature maps"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="eval_model").value == name
    md = [m.value for m in at.markdown]
    assert any(m.startswith("**block 1, conv 1** → ") for m in md)  # feature maps by block, not conv2d_1
    assert not any("conv2d_" in m for m in md)
    at.selectbox(key="eval_insp_layer").set_value("conv2d_9")
    at.run()
    at.number_input(key="eval_insp_channel_conv2d_9").set_value(7).run()
    at.number_input(key="eval_insp_row_conv2d_9_6").set_value(5).run()
    at.number_input(key="eval_insp_col_conv2d_9_6").set_value(8).run()
    assert not at.exception, [e.value for e in at.exception]
    eq = next(m.value for m in at.markdown if m.value.startswith("**The multiply-add.**"))
    i = at.number_input(key="eval_fm_index_test").value
    model, meta = get_model(name)
    shown = ci.shown_sums(ci.inspect(model, meta, fdata.load_fashion_mnist()[1][0][i], "conv2d_9", 6).pixel(5, 8))
    assert re.search(rf"= \*\*{shown['total']:.4f}\*\*$", eq), eq
    assert any("block 2, conv 1, channel 7" in m for m in md + [m.value for m in at.markdown])
