"""Study B: few-shot fine-tuning of a pre-trained backbone, four methods compared.

A *backbone* is a saved model: the 10-class ``fmnist_cnn``, or ``shoes_cnn`` (shoes vs the
rest, as in the earlier project). Its *features* are the output of its convolutional feature
extractor, flattened (``feature_layer``): 1,568 values for ``shoe_cnn``, 3,136 for
``fmnist_net``, whose dense layers are left out because they are specialized to its own
classes (on flats vs heels its 128 dense features give 65-70% by nearest neighbour, its conv
features 85%). Features are always computed in inference mode: BatchNorm uses its moving
statistics and dropout is off.

Methods (every one yields a Keras model on 28x28 images):

* **frozen**: the earlier project's method. The backbone stays fixed and a new softmax Dense
  head is trained on its features (starting from the prototype classifier, see ``fit_frozen``).
  Features are computed once and cached, so this takes about a second; the backbone's
  weights are never touched.
* **finetune**: the frozen method's head first, then the whole network (a copy of the
  backbone) at a low learning rate. BatchNorm layers stay frozen, in inference mode: their
  moving statistics must not be re-estimated from a handful of images.
* **prototype**: nearest class mean of the backbone features by squared **Euclidean**
  distance, as in Prototypical Networks (Snell et al. 2017). No training at all; it is
  exactly a Dense layer (see ``prototype_weights``).
* **scratch**: the backbone's architecture from random weights, trained on the k examples only.

Training sets are tiny, so every method trains full-batch for a fixed number of steps
(``STEPS``): there is no validation set in few-shot learning to stop on.

Scoring the methods on a task's test images, comparing them and the k-shot curve are in
``fewshot_eval``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from fmnist_core.data.tasks import Task
from fmnist_core.modeling.evaluation import predict_proba
from fmnist_core.modeling.inference import get_model, prepare
from fmnist_core.modeling.saving import find_model

METHODS = ("spread", "frozen", "finetune", "prototype", "scratch")
DEFAULT_METHOD = "spread"
QUICK_METHODS = ("spread", "frozen", "prototype")  # the page's default: no network trained per seed
# Methods that also learn from unlabelled images (the pool and the test images, never their labels).
TRANSDUCTIVE = ("spread",)
# Methods with nothing random in them: on a fixed training set every seed gives the same model, so it is fitted once.
DETERMINISTIC = ("spread", "prototype")
BACKBONES = ("fmnist_cnn", "shoes_cnn")
# shoe-types must use a backbone that never saw the sub-type labels: the shoes-vs-rest model.
# Elsewhere the 10-class model is the default: see RESULTS.md for why (flats vs heels).
DEFAULT_BACKBONES = {"shoe-types": "shoes_cnn"}
DEFAULT_BACKBONE = "fmnist_cnn"
KS = (1, 2, 5, 10, 20)
# Full-batch steps, optimizers and learning rates, fixed in advance: few-shot learning has no
# validation set to tune them on. Learning rates were compared on shoe-types draws; the
# flats-heels test images (20) were looked at while designing the head (RESULTS.md says how),
# so that score is not an untouched held-out figure.
# The head uses plain SGD with momentum on normalized features: Adam rescales even vanishing
# gradients to full-size steps, so it walks a head that already separates one image per class
# away from the class-mean solution; SGD leaves it where it is. The fine-tune is Adam at 1e-4,
# the usual "low learning rate" for adapting a pre-trained network.
STEPS = {"head": 100, "finetune": 30, "scratch": 150}
OPTIMIZERS = {"head": ("sgd", 1.0), "finetune": ("adam", 1e-4), "scratch": ("adam", 1e-3)}
_FEATURE_CACHE: OrderedDict = OrderedDict()
_FEATURE_CACHE_BYTES = 512 * 2**20  # the 3,000 shoe test images' conv features are ~40 MB per backbone
_FEATURE_LOCK = threading.Lock()  # the app's sessions run in threads


# ---------------------------------------------------------------- backbone features


def feature_layer(model):
    """The layer whose output is the backbone's features: the end of the convolutional feature
    extractor (its first Flatten or GlobalAveragePooling2D), or, in a model without one, the
    layer before the output layer."""
    import keras

    for layer in model.layers:
        if isinstance(layer, (keras.layers.Flatten, keras.layers.GlobalAveragePooling2D)):
            return layer
    if len(model.layers) < 3:
        raise ValueError(f"{model.name!r} has no hidden layer to take features from")
    return model.layers[-2]


def _backbone(name: str):
    """(model, metadata, feature model): the feature model shares the backbone's layers."""
    import keras

    model, meta = get_model(name)
    return model, meta, keras.Model(model.input, feature_layer(model).output, name=f"{name}_features")


def features(backbone: str, images: np.ndarray) -> np.ndarray:
    """Backbone features of uint8 images (n, 28, 28) -> float32 (n, d), computed in inference mode.

    Cached per (backbone name, its file's mtime, hash of the images): a second call with the
    same images costs a hash, so re-running a method is nearly free.
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    key = (backbone, find_model(backbone).stat().st_mtime, images.shape, hashlib.sha1(images.tobytes()).hexdigest())
    with _FEATURE_LOCK:
        if key in _FEATURE_CACHE:
            _FEATURE_CACHE.move_to_end(key)
            return _FEATURE_CACHE[key]
    _, meta, extractor = _backbone(backbone)
    feats = np.concatenate(
        [
            np.asarray(extractor(prepare(images[i : i + 1024], meta), training=False))
            for i in range(0, len(images), 1024)
        ]
    ).astype(np.float32)
    feats.setflags(write=False)
    with _FEATURE_LOCK:
        _FEATURE_CACHE[key] = feats
        while len(_FEATURE_CACHE) > 1 and sum(f.nbytes for f in _FEATURE_CACHE.values()) > _FEATURE_CACHE_BYTES:
            _FEATURE_CACHE.popitem(last=False)
    return feats


# ---------------------------------------------------------------- fitting


@dataclass
class FewShotModel:
    """A fitted few-shot classifier.

    head : Keras model on backbone features (frozen, prototype; and finetune's first stage), or None.
    model : Keras model on float images (n, 28, 28, 1) -> (n, k) softmax, for finetune and scratch.
    """

    method: str
    backbone: str
    classes: tuple[str, ...]
    head: object = None
    model: object = None
    spread: object = None  # the spread method's fitted fewshot_spread.Spread
    unlabelled: str | None = None  # which unlabelled images the method learned from, in words

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (n, 28, 28) -> probabilities (n, k) float64. Frozen and prototype use cached features;
        spread answers images it was fitted with from its graph, and new ones by their nearest pool images."""
        if self.spread is not None:
            return self._spread_proba(images)
        meta = get_model(self.backbone)[1]
        if self.model is not None:
            return predict_proba(self.model, prepare(images, meta))
        return predict_proba(self.head, features(self.backbone, images))

    def _spread_proba(self, images: np.ndarray) -> np.ndarray:
        return self.spread.predict_proba(images)

    def keras_model(self):
        """One Keras model, uint8-prepared images (n, 28, 28, 1) -> (n, k): backbone + head, or the trained net."""
        import keras

        if self.spread is not None:
            raise ValueError("label spreading is not a Keras model: it answers through the unlabelled pool's graph")
        if self.model is not None:
            return self.model
        _, _, extractor = _backbone(self.backbone)
        frozen = _copy(extractor)
        frozen.trainable = False
        return keras.Model(frozen.input, self.head(frozen.output), name=f"fewshot_{self.method}")


def _copy(model):
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _fit_full_batch(model, x, y, stage: str, on_step=None) -> None:
    """Train full batch for ``STEPS[stage]`` steps with ``OPTIMIZERS[stage]``: one pass over a
    dataset holding (x, y) that many times (one ``fit`` call, so one graph trace)."""
    import keras
    import tensorflow as tf

    class Report(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if on_step and (batch % 10 == 9 or batch == steps - 1):
                on_step(batch + 1, steps)

    steps = STEPS[stage]
    kind, lr = OPTIMIZERS[stage]
    optimizer = keras.optimizers.SGD(lr, momentum=0.9) if kind == "sgd" else keras.optimizers.Adam(lr)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    ds = tf.data.Dataset.from_tensors((x, y.astype(np.int32))).repeat(steps)
    model.fit(ds, epochs=1, verbose=0, shuffle=False, callbacks=[Report()] if on_step else None)


def prototype_weights(f: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense weights (d, k) and bias (k,) that classify by the nearest class mean (squared Euclidean).

    -||f - m_c||^2 = 2 m_c.f - ||m_c||^2 - ||f||^2, and the last term is the same for every class,
    so nearest-mean *is* a linear layer. Logits are divided by a temperature (a quarter of the mean
    squared distance between class means) so the softmax is confident but not saturated.
    """
    f = np.asarray(f, dtype=np.float64)
    means = np.stack([f[y == c].mean(axis=0) for c in range(n_classes)])
    gaps = [np.sum((means[i] - means[j]) ** 2) for i in range(n_classes) for j in range(i + 1, n_classes)]
    temperature = max(float(np.mean(gaps)) / 4, 1e-6)
    return (2 * means.T / temperature).astype(np.float32), (-np.sum(means**2, axis=1) / temperature).astype(np.float32)


def _head(f: np.ndarray, y: np.ndarray, n_classes: int, name: str):
    """A new head on backbone features: Normalization (fixed) -> Dense softmax, set to the prototype classifier.

    The Normalization layer centres the features on the training images' mean and divides them
    by one number (their mean norm). That moves and scales the feature space as a whole, so
    nearest-mean decisions do not change, but it matters for training: ReLU features are all
    positive, and a gradient step on raw features shifts every image towards one class; and it
    makes one learning rate fit every backbone.
    """
    import keras

    f = np.asarray(f, dtype=np.float64)
    mean = f.mean(axis=0)
    scale = max(float(np.mean(np.linalg.norm(f - mean, axis=1))), 1e-6)
    inputs = keras.Input((f.shape[1],), name="features")
    norm = keras.layers.Normalization(mean=mean, variance=np.full(f.shape[1], scale**2), name="center_scale")
    dense = keras.layers.Dense(n_classes, activation="softmax", name="head")
    model = keras.Model(inputs, dense(norm(inputs)), name=name)
    dense.set_weights(list(prototype_weights((f - mean) / scale, y, n_classes)))
    return model


def fit_prototype(backbone, x, y, n_classes, seed=0, on_step=None) -> FewShotModel:
    """Nearest class mean of the backbone features, as a Dense head (see ``prototype_weights``). No training."""
    head = _head(features(backbone, x), y, n_classes, "fewshot_prototype")
    if on_step:
        on_step(1, 1)
    return FewShotModel("prototype", backbone, (), head=head)


def fit_frozen(backbone, x, y, n_classes, seed=0, on_step=None) -> FewShotModel:
    """The backbone frozen, a new Dense head trained on its cached features.

    The head starts at the prototype classifier rather than at random weights: with one or
    two images per class, a random start leaves most of its 100+ weights where chance put
    them (the gradient only moves them within the span of the few training features), so
    the answers on new images would depend on the seed more than on the images.
    """
    import keras

    f = features(backbone, x)  # before seeding: whether it was cached must not change the random stream
    keras.utils.set_random_seed(seed)
    head = _head(f, y, n_classes, "fewshot_head")
    _fit_full_batch(head, f, y, "head", on_step)
    return FewShotModel("frozen", backbone, (), head=head)


def fit_finetune(backbone, x, y, n_classes, seed=0, on_step=None) -> FewShotModel:
    """The frozen method's head, then a copy of the whole network (conv body + that head) trained
    at a low learning rate, with every BatchNorm layer frozen in inference mode."""
    import keras

    fitted = fit_frozen(backbone, x, y, n_classes, seed)
    _, meta, extractor = _backbone(backbone)
    body = _copy(extractor)  # a copy: the shared backbone must not change
    for layer in body.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False  # Keras 3: a non-trainable BatchNorm also runs in inference mode
    head = _copy(fitted.head)
    model = keras.Model(body.input, head(body.output), name="fewshot_finetune")
    _fit_full_batch(model, prepare(x, meta), y, "finetune", on_step)
    return FewShotModel("finetune", backbone, (), head=None, model=model)


def fit_scratch(backbone, x, y, n_classes, seed=0, on_step=None) -> FewShotModel:
    """The backbone's architecture (its metadata's spec), random init, trained on the k examples.

    BatchNorm momentum is set to 0.9 (Keras default 0.99): after ~150 steps the moving statistics
    would otherwise still be mostly their initial values, and the test predictions garbage.
    """
    import keras

    from fmnist_core.modeling.models import build_model

    meta = get_model(backbone)[1]
    if not meta.get("spec"):
        raise ValueError(f"{backbone!r} has no spec in its metadata, so its architecture cannot be rebuilt")
    keras.utils.set_random_seed(seed)
    task = Task("fewshot", None, tuple(f"class {c}" for c in range(n_classes)))
    model = build_model(meta["spec"], task, name="fewshot_scratch")
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    _fit_full_batch(model, prepare(x, meta), y, "scratch", on_step)
    return FewShotModel("scratch", backbone, (), model=model)


def fit_spread(backbone, x, y, n_classes, seed=0, on_step=None, x_unlabelled=None) -> FewShotModel:
    """Label spreading over the unlabelled pool (see ``fewshot_spread``); ``x_unlabelled`` (the test
    images) joins the graph without labels. Deterministic: the seed changes nothing. The backbone
    is ``fewshot_spread.SETTINGS``'s unless another is given."""
    from fmnist_core.studies import fewshot_spread as sp

    settings = dict(sp.SETTINGS)
    if backbone and backbone != settings["backbone"]:  # another backbone: its own feature layer
        settings.update(backbone=backbone, layer=feature_layer(get_model(backbone)[0]).name)
    extra = np.zeros((0, 28, 28), np.uint8) if x_unlabelled is None else np.asarray(x_unlabelled, dtype=np.uint8)
    fitted, text = sp.spread(x, y, extra, n_classes, settings)
    if on_step:
        on_step(1, 1)
    unl = text + (f" and the {len(extra)} test images (their labels unused)" if len(extra) else "")
    return FewShotModel("spread", settings["backbone"], (), spread=fitted, unlabelled=unl)


FITTERS = {
    "spread": fit_spread,
    "frozen": fit_frozen,
    "finetune": fit_finetune,
    "prototype": fit_prototype,
    "scratch": fit_scratch,
}


def fit(
    method: str, backbone: str, x: np.ndarray, y: np.ndarray, classes, seed: int = 0, on_step=None, x_unlabelled=None
) -> FewShotModel:
    """Fit one method on uint8 images x (n, 28, 28) with labels y (n,) in 0..len(classes)-1.

    x_unlabelled : images (e.g. the test set) that transductive methods may use without labels."""
    if method not in FITTERS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    x, y = np.asarray(x, dtype=np.uint8), np.asarray(y, dtype=np.int64)
    if len(x) == 0 or len(x) != len(y):
        raise ValueError("need at least one training image per class, with one label each")
    if method in TRANSDUCTIVE:
        fitted = FITTERS[method](backbone, x, y, len(classes), seed, on_step, x_unlabelled=x_unlabelled)
    else:
        fitted = FITTERS[method](backbone, x, y, len(classes), seed, on_step)
    fitted.classes = tuple(classes)
    return fitted
