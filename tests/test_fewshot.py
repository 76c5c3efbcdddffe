"""Study B: few-shot fine-tuning (fmnist_core.studies.fewshot, fewshot_eval and fewshot_data)."""

import io

import numpy as np
import pytest
from PIL import Image

from fmnist_core.data import imaging
from fmnist_core.data.fashion_mnist import load_fashion_mnist
from fmnist_core.modeling import saving
from fmnist_core.modeling.inference import get_model
from fmnist_core.studies import fewshot as fs
from fmnist_core.studies import fewshot_data as fd
from fmnist_core.studies import fewshot_eval as fe
from shared_models import home_with
from shared_models import train_and_save_unscored as _train_and_save


def tiny_backbones():
    _train_and_save("shoe_cnn", "shoes", {"epochs": 1, "subset": 3000, "lr": 3e-3, "seed": 0}, "tiny_shoes")
    _train_and_save("fmnist_net", "shoes", {"epochs": 1, "subset": 1000, "lr": 3e-3, "seed": 0}, "tiny_bn")


@pytest.fixture(scope="module")
def backbones(tmp_path_factory):
    """Tiny backbones in a temporary $FMNIST_HOME: 'tiny_shoes' (shoe_cnn) and 'tiny_bn' (fmnist_net,
    with BatchNorm), trained once (see ``shared_models.cached_models``)."""
    home = home_with(tmp_path_factory, tiny_backbones)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FMNIST_HOME", str(home))
        yield home


# ---------------------------------------------------------------- data


def test_flats_heels_set_is_the_22_labelled_ankle_boots():
    rows = fd.flats_heels_rows()
    assert len(rows) == 22 and sum(r["split"] == "train" for r in rows) == 2
    (x_tr, y_tr), (x_te, y_te) = load_fashion_mnist()
    for r in rows:  # every image is a Fashion-MNIST ankle boot (label 9), as the shared README says
        assert (y_tr if r["fmnist_split"] == "train" else y_te)[r["fmnist_index"]] == 9
    data = fd.flats_heels()
    assert data.classes == ("flats", "heels")
    assert data.y_pool.tolist() == [0, 1] and np.bincount(data.y_test).tolist() == [10, 10]
    np.testing.assert_array_equal(data.x_pool[0], x_tr[646])
    np.testing.assert_array_equal(data.x_test[-1], x_te[6040])
    assert "FashionMNIST_Classification" in fd.FLATS_HEELS_CSV.read_text()  # the source is credited
    with pytest.raises(ValueError, match="at most 1"):
        data.draw(2, 0)


def test_shoe_types_draws_k_per_class_reproducibly():
    data = fd.shoe_types()
    assert data.classes == ("Sandal", "Sneaker", "Ankle boot") and len(data.y_test) == 3000
    x1, y1 = data.draw(5, seed=3)
    x2, y2 = data.draw(5, seed=3)
    np.testing.assert_array_equal(x1, x2)
    assert np.bincount(y1).tolist() == [5, 5, 5]
    assert not np.array_equal(x1, data.draw(5, seed=4)[0])


def test_folder_images_in_fashion_mnist_form_are_used_exactly_and_photos_are_preprocessed(tmp_path):
    data = fd.flats_heels()
    for cls in ("flats", "heels"):
        (tmp_path / cls).mkdir()
    (tmp_path / "flats" / "a.png").write_bytes(fd.png_bytes(data.x_test[0]))
    # A "photo": the heel exemplar enlarged, dark on a white background, in colour, saved as JPEG.
    photo = Image.fromarray(255 - data.x_pool[1]).resize((112, 112)).convert("RGB")
    buf = io.BytesIO()
    photo.save(buf, format="JPEG")
    (tmp_path / "heels" / "b.jpg").write_bytes(buf.getvalue())
    (tmp_path / "heels" / "notes.txt").write_text("not an image: skipped")
    x, y, classes = fd.load_folder(tmp_path)
    assert classes == ("flats", "heels") and y.tolist() == [0, 1]
    np.testing.assert_array_equal(x[0], data.x_test[0])  # used exactly as it is
    np.testing.assert_array_equal(x[1], imaging.to_fashion_mnist(Image.open(io.BytesIO(buf.getvalue())))[0])
    assert np.corrcoef(x[1].ravel().astype(float), data.x_pool[1].ravel().astype(float))[0, 1] > 0.9
    (tmp_path / "heels" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png"):
        fd.load_folder(tmp_path)


def _write_pngs(root, images, labels, classes, names):
    for img, lab, name in zip(images, labels, names):
        d = root / classes[lab]
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name:05d}.png").write_bytes(fd.png_bytes(img))


def test_folders_of_pngs_give_the_same_result_as_the_built_in_task(backbones, tmp_path):
    builtin = fd.flats_heels()
    rows = fd.flats_heels_rows()
    idx = {s: [r["fmnist_index"] for r in rows if r["split"] == s] for s in ("train", "test")}
    _write_pngs(tmp_path / "train", builtin.x_pool, builtin.y_pool, builtin.classes, idx["train"])
    _write_pngs(tmp_path / "test", builtin.x_test, builtin.y_test, builtin.classes, idx["test"])
    folders = fd.from_folders(tmp_path / "train", tmp_path / "test")
    assert folders.classes == builtin.classes
    for method in ("frozen", "prototype"):
        a = fe.run_fewshot(builtin, method, "tiny_shoes", seeds=2)
        b = fe.run_fewshot(folders, method, "tiny_shoes", seeds=2)
        assert a["accuracies"] == b["accuracies"] and a["n_test"] == b["n_test"] == 20
        assert a["confusion_matrix"] == b["confusion_matrix"]


# ---------------------------------------------------------------- methods


def test_frozen_leaves_the_backbone_bit_for_bit_unchanged(backbones):
    model, _ = get_model("tiny_bn")
    before = [w.copy() for w in model.get_weights()]
    on_disk = saving.load_model("tiny_bn")[0].get_weights()
    x, y = fd.shoe_types().draw(3, 0)
    fitted = fs.fit("frozen", "tiny_bn", x, y, ("Sandal", "Sneaker", "Ankle boot"), seed=0)
    after = get_model("tiny_bn")[0].get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert all(np.array_equal(a, b) for a, b in zip(on_disk, after))
    # The saveable model carries the same, frozen backbone weights and gives the head's answers.
    full = fitted.keras_model()
    original = {layer.name: layer for layer in model.layers}
    shared = [layer for layer in full.layers if layer.name in original and layer.weights]
    assert len(shared) >= 4  # the conv and BatchNorm layers
    for layer in shared:
        assert not layer.trainable
        for a, b in zip(layer.get_weights(), original[layer.name].get_weights()):
            np.testing.assert_array_equal(a, b)
    probs = fitted.predict_proba(x)
    np.testing.assert_allclose(np.asarray(full(x[..., None] / 255.0, training=False)), probs, atol=1e-5)


def test_finetune_keeps_batchnorm_statistics_and_the_shared_backbone(backbones):
    import keras

    model, _ = get_model("tiny_bn")
    before = [w.copy() for w in model.get_weights()]
    x, y = fd.shoe_types().draw(2, 1)
    fitted = fs.fit("finetune", "tiny_bn", x, y, ("Sandal", "Sneaker", "Ankle boot"), seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, get_model("tiny_bn")[0].get_weights()))
    tuned = {layer.name: layer for layer in fitted.model.layers}
    bns = [
        layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization) and layer.name in tuned
    ]
    assert len(bns) == 4  # the conv blocks' BatchNorms (the dense one is not used)
    for layer in bns:  # moving statistics (and scale/shift) untouched
        for a, b in zip(layer.get_weights(), tuned[layer.name].get_weights()):
            np.testing.assert_array_equal(a, b)
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert not np.array_equal(conv.get_weights()[0], tuned[conv.name].get_weights()[0])  # but the net did train


def test_every_method_beats_chance_on_shoe_types(backbones):
    data = fd.shoe_types()
    for method in [m for m in fs.METHODS if m != "spread"]:  # spread: tests/test_fewshot_spread.py
        res = fe.run_fewshot(data, method, "tiny_shoes", seeds=1, shots=10)
        assert res["n_train"] == 30 and res["n_test"] == 3000
        assert res["accuracy"] > 0.5, (method, res["accuracy"])  # chance is 1/3
        assert np.array(res["confusion_matrix"]).sum() == 3000


def test_kshot_curve_returns_one_mean_and_sd_per_k_and_method(backbones):
    progress = []
    rows = fe.kshot_curve(
        "shoe-types",
        methods=("frozen", "prototype"),
        ks=(1, 2),
        draws=2,
        backbone="tiny_shoes",
        on_progress=lambda f, msg: progress.append(f),
    )
    assert [(r["k"], r["method"]) for r in rows] == [(1, "frozen"), (1, "prototype"), (2, "frozen"), (2, "prototype")]
    for r in rows:
        assert len(r["accuracies"]) == 2 and r["mean"] == pytest.approx(np.mean(r["accuracies"]))
        assert r["sd"] == pytest.approx(np.std(r["accuracies"], ddof=1)) and 0 <= r["sd"] < 0.5
    assert progress[-1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at most 1"):
        fe.kshot_curve("flats-heels", ks=(1, 2), draws=1, backbone="tiny_shoes")
    with pytest.raises(ValueError, match="unknown method"):
        fe.kshot_curve("shoe-types", methods=("magic",), ks=(1,), draws=1, backbone="tiny_shoes")
