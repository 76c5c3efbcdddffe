"""Statistics for comparing classifiers on the same test images.

Two models scored on the same images are *paired*: what matters is where they disagree.
McNemar's exact test asks whether the images that only A gets right (b) and those that only
B gets right (c) could be a fair coin's split: under H0, b ~ Binomial(b + c, 1/2).
"""

from __future__ import annotations

import math

import numpy as np

ALPHA = 0.05  # significance level used by the studies' verdicts


def mcnemar_exact(correct_a, correct_b) -> dict:
    """Exact (binomial) McNemar test on paired correctness.

    correct_a, correct_b : bool arrays (n,), True where model A (B) classified image i correctly.

    Returns {'b': A right & B wrong, 'c': A wrong & B right, 'both_right', 'both_wrong',
    'n': n, 'p_value': two-sided exact p}. With no disagreements (b + c = 0) the models are
    indistinguishable on this set and p = 1.
    """
    from scipy.stats import binomtest

    a = np.asarray(correct_a, dtype=bool)
    b_arr = np.asarray(correct_b, dtype=bool)
    if a.shape != b_arr.shape or a.ndim != 1:
        raise ValueError(f"correct_a and correct_b must be 1-D and the same length, got {a.shape} and {b_arr.shape}")
    b = int(np.sum(a & ~b_arr))
    c = int(np.sum(~a & b_arr))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)
    return {
        "b": b,
        "c": c,
        "both_right": int(np.sum(a & b_arr)),
        "both_wrong": int(np.sum(~a & ~b_arr)),
        "n": int(a.size),
        "p_value": min(1.0, p),
    }


def holm(p_values: dict) -> dict:
    """Holm-Bonferroni adjusted p-values for a family of tests: {key: p} -> {key: adjusted p}.

    Several pairwise tests on one test set inflate the chance of a false "significant";
    Holm's step-down correction keeps the family-wise error at ALPHA and is never worse than
    plain Bonferroni.
    """
    items = sorted(p_values.items(), key=lambda kv: kv[1])
    m = len(items)
    out, running = {}, 0.0
    for i, (key, p) in enumerate(items):
        running = max(running, min(1.0, (m - i) * p))
        out[key] = running
    return out


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1); sd is NaN for a single value (no noise estimate)."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ValueError("mean_sd needs at least one value")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")


def within_noise(mean_a: float, sd_a: float, mean_b: float, sd_b: float) -> bool | None:
    """True when the gap between two means is within two standard deviations of seed noise.

    Uses the larger of the two sds (the noisier approach sets the bar). Returns None when
    neither sd is known (one seed each): the noise was not measured.
    """
    sds = [s for s in (sd_a, sd_b) if s is not None and not math.isnan(s)]
    if not sds:
        return None
    return abs(mean_a - mean_b) <= 2 * max(sds)


def format_p(p: float) -> str:
    """p-values the way a paper prints them: 'p = 0.031', 'p < 0.001'."""
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def wilson(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion correct/n (scipy's binomtest); n = 0 -> (0, 1)."""
    from scipy.stats import binomtest

    if n <= 0:
        return 0.0, 1.0
    ci = binomtest(int(correct), int(n)).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)
