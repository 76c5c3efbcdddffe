"""Study A: binarized 10-class model vs direct binary models (fmnist_core.studies.binary_study, binary_report)."""

import numpy as np
import pytest

from fmnist_core.data.tasks import binarize
from fmnist_core.modeling import saving
from fmnist_core.modeling.inference import evaluate_saved
from fmnist_core.studies import binary_report as br
from fmnist_core.studies import binary_study as bs
from fmnist_core.studies.replicates import plan_replicates
from shared_models import require_shipped, tiny_footwear_home

SHIPPED = ("fmnist_cnn", "footwear_luggage_cnn", "footwear_luggage_transfer")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A $FMNIST_HOME with a tiny CNN 10-class model and two tiny footwear_luggage binary models."""
    yield from tiny_footwear_home(tmp_path_factory)  # the set the other study tests use: trained once


# ---------------------------------------------------------------- pure functions


def test_binarize_hand_made_probability_rows():
    rows = np.zeros((5, 10))
    rows[0, [0, 5, 7]] = [0.4, 0.3, 0.3]  # clothing is the top class, footwear holds 0.6 of the mass
    rows[1, [8, 2]] = [0.9, 0.1]  # clearly a bag
    rows[2, [3, 9]] = [0.5, 0.5]  # a tie in mass and in arg-max: goes to the negative group
    rows[3, :5] = 0.13
    rows[3, 9] = 0.35  # the top class is a boot, but clothing holds 0.65
    rows[4, [8, 5]] = [0.6, 0.4]  # bag vs sandal: different answers for the two groupings
    np.testing.assert_allclose(binarize(rows, "footwear_luggage")[0], [0.4, 0.6])
    fl = bs.binarized_predictions(rows, "footwear_luggage")
    assert fl["mass"].tolist() == [1, 1, 0, 0, 1]
    assert fl["argmax"].tolist() == [0, 1, 0, 1, 1]
    shoes = bs.binarized_predictions(rows, "shoes")
    assert shoes["mass"].tolist() == [1, 0, 0, 0, 0]
    assert shoes["argmax"].tolist() == [0, 0, 0, 1, 0]
    with pytest.raises(ValueError, match=r"\(n, 10\)"):
        bs.binarized_predictions(rows[:, :9], "shoes")


def test_binary_metrics_by_hand():
    m = bs.binary_metrics(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]))
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m["f1"] == pytest.approx(2 / 3)  # precision 2/3, recall 2/3


def _with_errors(y, idx):
    p = y.copy()
    p[list(idx)] = 1 - p[list(idx)]
    return p


def test_compare_predictions_and_verdict_follow_the_numbers():
    y = np.arange(1000) % 2
    preds = {
        "binarized": [_with_errors(y, range(0, 20))],  # 98.0%
        "direct": [_with_errors(y, range(100, 180))],  # 92.0%
        "transfer": [_with_errors(y, range(0, 25))],
    }  # 97.5%
    res = bs.compare_predictions("footwear_luggage", y, preds)
    acc = {a: res["approaches"][a]["accuracy"] for a in bs.APPROACHES}
    assert acc == pytest.approx({"binarized": 0.98, "direct": 0.92, "transfer": 0.975})
    t = res["mcnemar"]["binarized vs direct"]
    assert (t["b"], t["c"]) == (80, 20)
    t2 = res["mcnemar"]["binarized vs transfer"]
    assert (t2["b"], t2["c"]) == (5, 0) and t2["p_value"] == pytest.approx(2 / 32)
    for test in res["mcnemar"].values():  # accuracy gap = (b - c) / n for paired data
        a, b = test["first"], test["second"]
        assert acc[a] - acc[b] == pytest.approx((test["b"] - test["c"]) / 1000)
        assert 0 <= test["p_value"] <= test["p_adjusted"] <= 1
    assert len(res["disagreements"]) == 20 + 80 + 5 - 0  # indices 0-24 and 100-179 (0-19 shared by two)
    text = br.verdict(res)
    assert "The binarized 10-class model is better than the direct binary model by 6.00 points" in text
    assert "No significant difference between the binarized 10-class model and the binary model with transfer" in text
    assert "seed-to-seed noise is not measured" in text


def test_verdict_says_when_a_gap_is_within_the_seed_noise():
    y = np.arange(1000) % 2
    wide = [_with_errors(y, range(0, n)) for n in (80, 20, 140)]  # 92%, 98%, 86%: sd 6 points
    tight = [_with_errors(y, range(0, n)) for n in (80, 81, 79)]  # 92.0% +- 0.1
    base = {"binarized": [_with_errors(y, range(500, 520))], "transfer": [_with_errors(y, range(500, 520))]}
    noisy = bs.compare_predictions("shoes", y, {**base, "direct": wide})
    assert noisy["noise"]["binarized vs direct"] is True
    assert "is within the seed-to-seed noise (sd up to 6.00 points): another seed could reverse" in br.verdict(noisy)
    # One 10-class model: it is tested against each further seed of the direct model too.
    assert len(noisy["mcnemar"]["binarized vs direct"]["p_values_per_seed"]) == 2
    firm = bs.compare_predictions("shoes", y, {**base, "direct": tight})
    assert firm["noise"]["binarized vs direct"] is False
    assert "The gap also holds across seeds (3 and 1 models" in br.verdict(firm)
    two = bs.compare_predictions("shoes", y, {**base, "direct": wide[:2]})
    assert two["noise"]["binarized vs direct"] is None  # two seeds make no noise estimate
    assert "seed-to-seed noise is not measured" in br.verdict(two)
    assert firm["approaches"]["direct"]["accuracy_sd"] == pytest.approx(0.001)


# ---------------------------------------------------------------- on saved models


def test_compare_binary_on_tiny_models_matches_evaluate_saved(tiny_models):
    res = bs.compare_binary("footwear_luggage", multiclass="cnn_mc", direct="cnn_fl", transfer="cnn_fl_tr")
    assert set(res["approaches"]) == {"binarized", "direct", "transfer"} and res["n"] == 10000
    assert res["approaches"]["binarized"]["accuracy"] == pytest.approx(
        evaluate_saved("cnn_mc", task="footwear_luggage")["accuracy"]
    )
    assert res["approaches"]["direct"]["accuracy"] == pytest.approx(evaluate_saved("cnn_fl")["accuracy"])
    cm = np.array(res["approaches"]["transfer"]["confusion_matrix"])
    assert cm.sum() == 10000 and cm.sum(axis=1).tolist() == [6000, 4000]  # 6 clothing classes x 1000
    assert res["approaches"]["direct"]["accuracy"] > 0.85  # far above the 60% majority class
    rows = br.disagreement_rows(res, limit=5)
    assert len(rows) == min(5, len(res["disagreements"]))
    for r in rows:
        assert len({r["binarized"], r["direct"], r["transfer"]}) == 2
    js = br.to_json(res, max_disagreements=3)
    assert set(js["approaches"]) == {"binarized", "direct", "transfer"} and len(js["disagreements"]) <= 3
    assert "binarized_argmax" in js["variants"] and js["verdict"]
    assert res["notes"] == []


def test_compare_binary_notes_an_unfair_choice_of_models(tiny_models):
    res = bs.compare_binary("footwear_luggage", multiclass="cnn_mc", direct="cnn_fl_tr", transfer="cnn_fl")
    assert any("not a from-scratch model" in n for n in res["notes"])
    assert any("initialized from random weights, not from cnn_mc" in n for n in res["notes"])


def test_compare_binary_refuses_mismatched_models(tiny_models):
    with pytest.raises(ValueError, match="10-class model"):
        bs.compare_binary("footwear_luggage", multiclass="cnn_mc", direct="cnn_mc", transfer="cnn_fl_tr")
    with pytest.raises(ValueError, match="not of the grouping"):
        bs.compare_binary("shoes", multiclass="cnn_mc", direct="cnn_fl", transfer="cnn_fl_tr")
    with pytest.raises(ValueError, match="binary model"):
        bs.compare_binary("footwear_luggage", multiclass="cnn_fl", direct="cnn_fl", transfer="cnn_fl_tr")
    with pytest.raises(ValueError, match="not binary"):
        bs.compare_binary("multiclass")


def test_plan_replicates_names_and_recipes(tiny_models):
    plan = plan_replicates("footwear_luggage", 3, multiclass="cnn_mc", direct="cnn_fl", transfer="cnn_fl_tr")
    assert [e["name"] for e in plan["direct"]] == ["cnn_fl", "cnn_fl_seed1", "cnn_fl_seed2"]
    assert [e["exists"] for e in plan["direct"]] == [True, False, False]
    assert [e["hparams"]["seed"] for e in plan["transfer"]] == [0, 1, 2]
    assert all(e["hparams"]["init_from"] == "cnn_mc" for e in plan["transfer"])
    cheap = plan_replicates(
        "footwear_luggage", 2, multiclass="cnn_mc", direct="cnn_fl", transfer="cnn_fl_tr", epochs=1, subset=1000
    )
    assert [e["name"] for e in cheap["direct"]] == ["cnn_fl_e1_n1000_seed0", "cnn_fl_e1_n1000_seed1"]
    assert all(e["hparams"]["epochs"] == 1 and e["hparams"]["subset"] == 1000 for e in cheap["direct"])
    custom = plan_replicates("custom_579", 1, multiclass="cnn_mc")  # no binary models yet: 10-class recipe
    assert custom["direct"][0]["name"] == "custom_579_cnn_seed0" and custom["direct"][0]["hparams"]["init_from"] is None
    assert custom["transfer"][0]["hparams"]["init_from"] == "cnn_mc"
    assert custom["transfer"][0]["spec"] == saving.load_metadata("cnn_mc")["spec"]
    with pytest.raises(ValueError, match="seeds"):
        plan_replicates("shoes", 0)


def test_compare_binary_on_the_shipped_models(fmnist_home):
    require_shipped(*SHIPPED)
    res = bs.compare_binary("footwear_luggage")
    assert [res["approaches"][a]["models"][0] for a in bs.APPROACHES] == list(SHIPPED)
    for a in bs.APPROACHES:
        assert res["approaches"][a]["accuracy"] > 0.95
    for test in res["mcnemar"].values():
        assert 0 <= test["p_value"] <= 1
    assert br.verdict(res)
