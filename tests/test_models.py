import pytest

from fmnist_core.modeling import models, presets


@pytest.mark.parametrize("name", sorted(models.PRESETS))
def test_every_preset_builds_and_counts_match_keras(name):
    for task in ("multiclass", "shoes"):
        model = models.build_model(models.preset(name), task)
        assert model.count_params() == models.count_params(models.preset(name), task)
        assert model.output_shape == ((None, 10) if task == "multiclass" else (None, 1))


def test_known_parameter_counts():
    assert models.count_params("tinyvgg") == 21_706  # as reported for TinyVGG, 10 classes
    assert models.count_params("linear") == 28 * 28 * 10 + 10
    assert models.count_params("linear", "shoes") == 28 * 28 + 1
    # shoe_cnn: conv(16,5x5) 416 + conv(32,5x5) 12,832 + dense from 7*7*32 -> 1: 1,569
    assert models.count_params("shoe_cnn", "shoes") == 416 + 12_832 + 1_569
    assert models.count_params(presets.mlp((4, 4), dropout=0)) == (784 + 1) * 4 + 5 * 4 + 5 * 10


def test_spec_errors_are_clear():
    with pytest.raises(models.SpecError, match="move it before Flatten"):
        models.layer_shapes([{"type": "Flatten"}, {"type": "Conv2D"}])
    with pytest.raises(models.SpecError, match="add a Flatten"):
        models.layer_shapes([{"type": "Conv2D"}, {"type": "Dense"}])
    with pytest.raises(models.SpecError, match="below 1 pixel"):
        models.layer_shapes([{"type": "MaxPool2D", "pool_size": 2}] * 5)
    with pytest.raises(models.SpecError, match="unknown parameter"):
        models.normalize_spec([{"type": "Dense", "unitz": 3}])
    with pytest.raises(models.SpecError, match="activation"):
        presets.mlp(activation="softplusplus")
    with pytest.raises(models.SpecError, match="cap"):
        models.check_param_cap([{"type": "Flatten"}, {"type": "Dense", "units": 5000}])
    with pytest.raises(models.SpecError, match="unknown preset"):
        models.preset("resnet1000")


def test_transfer_copies_conv_layers_only():
    import numpy as np

    src = models.build_model("tinyvgg", "multiclass")
    dst = models.build_model("tinyvgg", "shoes")
    copied = models.transfer_conv_weights(src, dst)
    assert copied == ["conv2d_1", "conv2d_3", "conv2d_5"]
    for name in copied:
        for a, b in zip(src.get_layer(name).get_weights(), dst.get_layer(name).get_weights()):
            assert np.array_equal(a, b)
