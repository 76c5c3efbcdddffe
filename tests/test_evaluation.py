"""Evaluation figures checked against a case small enough to compute by hand."""

import numpy as np
import pytest

from fmnist_core.modeling.evaluation import cross_entropy, evaluate_predictions, most_confused, pair_indices, top_losses

# 3 classes, 5 examples. True: A A B B C. Predicted (arg-max): A B B B A.
Y = np.array([0, 0, 1, 1, 2])
P = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1], [0.2, 0.5, 0.3], [0.5, 0.25, 0.25]])
NAMES = ["A", "B", "C"]


def test_hand_computed_case():
    r = evaluate_predictions(Y, P, NAMES)
    assert r["accuracy"] == pytest.approx(3 / 5)
    expected_loss = -(np.log(0.8) + np.log(0.3) + np.log(0.8) + np.log(0.5) + np.log(0.25)) / 5
    assert r["loss"] == pytest.approx(expected_loss)
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert r["confusion_matrix_normalized"][0] == [0.5, 0.5, 0.0]
    # A: precision 1/2 (predicted A twice, once right), recall 1/2. B: precision 2/3, recall 1. C: 0, 0.
    rep = {row["class"]: row for row in r["report"]}
    assert rep["A"]["precision"] == pytest.approx(0.5) and rep["A"]["recall"] == pytest.approx(0.5)
    assert rep["B"]["precision"] == pytest.approx(2 / 3) and rep["B"]["recall"] == pytest.approx(1.0)
    assert rep["B"]["f1"] == pytest.approx(0.8)
    assert rep["C"]["f1"] == 0 and rep["C"]["support"] == 1
    assert r["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert r["macro_f1"] == pytest.approx((0.5 + 0.8 + 0) / 3)


def test_most_confused_and_top_losses():
    pairs = most_confused([[1, 1, 0], [0, 2, 0], [3, 0, 0]], NAMES)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [("C", "A", 3), ("A", "B", 1)]
    tl = top_losses(Y, P, k=2)
    assert [t["index"] for t in tl] == [4, 1]  # losses -log(0.25) > -log(0.3)
    assert tl[0]["true"] == 2 and tl[0]["predicted"] == 0 and tl[0]["prob_true"] == pytest.approx(0.25)
    assert [t["index"] for t in top_losses(Y, P, k=5, only_wrong=True)] == [4, 1]
    assert pair_indices(Y, P, 0, 1).tolist() == [1]
    assert cross_entropy(np.array([0]), np.array([[0.0, 1.0]]))[0] == pytest.approx(-np.log(1e-7))


def test_a_scored_model_is_not_kept_alive_by_the_traced_call():
    """predict_proba traces one call per model from COMPILE_FROM images on; that cache must not keep
    the model (and its weights) alive once nothing else holds it."""
    import gc
    import weakref

    from fmnist_core.modeling import evaluation, models

    model = models.build_model("linear", "multiclass")
    x = np.random.default_rng(0).random((evaluation.COMPILE_FROM, 28, 28, 1), dtype=np.float32)
    traced = evaluation.predict_proba(model, x)
    np.testing.assert_allclose(traced, np.asarray(model(x, training=False)), atol=1e-5)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
