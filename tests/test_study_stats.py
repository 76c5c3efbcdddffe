"""Statistics of the studies: McNemar's exact test, Holm's correction, mean +- sd, noise."""

import math

import numpy as np
import pytest

from fmnist_core.studies.stats import format_p, holm, mcnemar_exact, mean_sd, within_noise


def _paired(b, c, both_right, both_wrong):
    """Correctness vectors with the given 2x2 counts of (A right?, B right?)."""
    a = [True] * b + [False] * c + [True] * both_right + [False] * both_wrong
    bb = [False] * b + [True] * c + [True] * both_right + [False] * both_wrong
    return np.array(a), np.array(bb)


def test_mcnemar_hand_computed():
    # b = 1, c = 5: under H0 b ~ Bin(6, 1/2); two-sided p = 2 * P(X <= 1) = 2 * (1 + 6) / 64 = 14/64.
    a, b = _paired(1, 5, 90, 4)
    res = mcnemar_exact(a, b)
    assert (res["b"], res["c"], res["both_right"], res["both_wrong"], res["n"]) == (1, 5, 90, 4, 100)
    assert res["p_value"] == pytest.approx(14 / 64)
    # b = 0, c = 6: p = 2 * (1/64).
    assert mcnemar_exact(*_paired(0, 6, 10, 0))["p_value"] == pytest.approx(2 / 64)
    # Symmetric in A and B.
    assert mcnemar_exact(b, a)["p_value"] == pytest.approx(14 / 64)


def test_mcnemar_no_disagreement_is_p_one_and_shapes_checked():
    a = np.array([True, False, True])
    assert mcnemar_exact(a, a)["p_value"] == 1.0
    with pytest.raises(ValueError, match="same length"):
        mcnemar_exact(a, a[:2])


def test_holm_step_down():
    # Sorted 0.01, 0.03, 0.04 -> 3*0.01 = 0.03, 2*0.03 = 0.06, max(0.06, 1*0.04) = 0.06.
    adj = holm({"x": 0.01, "y": 0.04, "z": 0.03})
    assert adj == pytest.approx({"x": 0.03, "z": 0.06, "y": 0.06})
    assert holm({"a": 0.6, "b": 0.9}) == pytest.approx({"a": 1.0, "b": 1.0})


def test_mean_sd_and_noise():
    m, s = mean_sd([0.90, 0.92, 0.94])
    assert m == pytest.approx(0.92) and s == pytest.approx(0.02)
    m1, s1 = mean_sd([0.5])
    assert m1 == 0.5 and math.isnan(s1)
    assert within_noise(0.92, 0.02, 0.95, 0.01) is True  # gap 0.03 <= 2 * 0.02
    assert within_noise(0.92, 0.002, 0.95, 0.001) is False
    assert within_noise(0.92, float("nan"), 0.95, float("nan")) is None


def test_format_p():
    assert format_p(0.0004) == "p < 0.001"
    assert format_p(0.0312) == "p = 0.031"
    assert format_p(0.41) == "p = 0.41"
