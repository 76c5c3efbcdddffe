"""Study A's result in tables and words: the disagreeing images, the metric table, the JSON form,
and the verdict, both technical (``verdict_sentences``) and plain (``plain_verdicts``).

Everything here reads the dict ``binary_study.compare_predictions`` returns; nothing is recomputed.
"""

from __future__ import annotations

import math

from fmnist_core.studies.binary_study import APPROACHES, LABELS, METRICS, MIN_SEEDS_FOR_NOISE, PAIRS, VARIANT
from fmnist_core.studies.stats import ALPHA, format_p


def disagreement_rows(result: dict, limit: int | None = None) -> list[dict]:
    """The test images on which the approaches' primary models disagree:
    [{'index', 'true' (group name), 'true_class' (10-class name), 'binarized', 'direct', 'transfer'
    (predicted group names), 'n_right'}], hardest first (fewest approaches right)."""
    from fmnist_core.data.fashion_mnist import CLASS_NAMES

    names, y, y10 = result["class_names"], result["y"], result["y10"]
    rows = []
    for i in result["disagreements"]:
        preds = {a: int(result["predictions"][a][i]) for a in APPROACHES}
        rows.append(
            {
                "index": int(i),
                "true": names[int(y[i])],
                "true_class": None if y10 is None else CLASS_NAMES[int(y10[i])],
                **{a: names[p] for a, p in preds.items()},
                "n_right": sum(p == int(y[i]) for p in preds.values()),
            }
        )
    rows.sort(key=lambda r: (r["n_right"], r["index"]))
    return rows[:limit] if limit else rows


def metric_rows(result: dict) -> list[dict]:
    """One row per approach (variant included) for a table: means, sds and seed counts."""
    rows = []
    for key, s in {**result["approaches"], **result["variants"]}.items():
        row = {"approach": s["title"], "key": key, "models": ", ".join(s["models"]), "seeds": s["n_seeds"]}
        for m in METRICS:
            row[m], row[f"{m}_sd"] = s[m], s[f"{m}_sd"]
        rows.append(row)
    return rows


def to_json(result: dict, max_disagreements: int = 50) -> dict:
    """The result without arrays: approaches, variants, mcnemar, noise, verdict, first disagreements."""

    def clean(v):
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    out = {k: v for k, v in result.items() if k not in ("predictions", "y", "y10", "disagreements")}
    out["n_disagreements"] = int(len(result["disagreements"]))
    out["disagreements"] = disagreement_rows(result, max_disagreements)
    out["verdict"] = verdict(result)
    return clean(out)


def verdict(result: dict) -> str:
    """The technical verdict as one paragraph (see ``verdict_sentences``)."""
    return " ".join(verdict_sentences(result))


# How each side of a pair is called when the pair is about *how* the 10-class model is grouped:
# "the binarized model vs the binarized model (arg-max)" reads as a model compared with itself.
_GROUPING_LABELS = {"binarized": "probability-mass grouping", VARIANT: "arg-max grouping"}
# Plain words for a 16-year-old: what each approach *is*, not its statistics name.
PLAIN = {
    "binarized": "the 10-class model with its answers grouped",
    "direct": "the binary model trained from scratch",
    "transfer": "the binary model that started from the 10-class model",
    "binarized_argmax": "grouping by its single top class",
}
SEEDS_HINT = {
    "cli": "repeat with {n} seeds (--seeds {n})",
    "page": "set Seeds per binary approach to {n} above and train the missing models",
}


def _pair_labels(a: str, b: str) -> tuple[str, str]:
    if {a, b} == set(_GROUPING_LABELS):
        return _GROUPING_LABELS[a], _GROUPING_LABELS[b]
    return LABELS[a], LABELS[b]


def verdict_sentences(result: dict, where: str = "cli") -> list[str]:
    """A technical verdict that follows from the numbers, one entry per pair of approaches.

    For each pair: which is better and by how many accuracy points, with the McNemar p-value
    (Holm-adjusted over the tests reported), or "no significant difference"; then whether the gap
    is within the seed-to-seed noise, or that the noise was not measured. ``where`` ('cli' or
    'page') picks how the user is told to add seeds: a flag, or the page's own control.
    """
    s = {**result["approaches"], **result["variants"]}
    alpha = result.get("alpha", ALPHA)
    sentences = []
    for key, test in result["mcnemar"].items():
        a, b, noise = test["first"], test["second"], result["noise"][key]
        la, lb = _pair_labels(a, b)
        name = {a: la, b: lb}
        acc_a, acc_b = s[a]["runs"][0]["accuracy"], s[b]["runs"][0]["accuracy"]
        hi, lo = (a, b) if acc_a >= acc_b else (b, a)
        gap = 100 * abs(acc_a - acc_b)
        p_txt = f"{format_p(test['p_value'])}, Holm-adjusted {format_p(test['p_adjusted'])}"
        who = f"{test['b']} image{'s' * (test['b'] != 1)} only the {la} gets right, {test['c']} only the {lb}"
        significant = test["p_adjusted"] < alpha
        if significant:
            text = (
                f"The {name[hi]} is better than the {name[lo]} by {gap:.2f} points "
                f"({100 * max(acc_a, acc_b):.2f}% vs {100 * min(acc_a, acc_b):.2f}%, McNemar {p_txt}; {who})."
            )
        else:
            text = (
                f"No significant difference between the {la} and the {lb} "
                f"({100 * acc_a:.2f}% vs {100 * acc_b:.2f}%, a gap of {gap:.2f} points, McNemar {p_txt}; {who})."
            )
        if noise is not None:
            seeds = f"{s[a]['n_seeds']} and {s[b]['n_seeds']} models"
            mean_gap = 100 * abs(s[a]["accuracy"] - s[b]["accuracy"])
            spread = f"sd up to {100 * _max_sd(s[a], s[b]):.2f} points"
            if noise and significant:
                text += (
                    f" But across seeds ({seeds}) the mean gap, {mean_gap:.2f} points, is within the seed-to-seed "
                    f"noise ({spread}): another seed could reverse the order."
                )
            elif noise:
                text += (
                    f" Across seeds ({seeds}) the mean gap, {mean_gap:.2f} points, is within the noise too ({spread})."
                )
            elif significant:
                text += f" The gap also holds across seeds ({seeds}: mean gap {mean_gap:.2f} points, {spread})."
            else:
                text += (
                    f" Across seeds ({seeds}) the mean gap, {mean_gap:.2f} points, exceeds the seed spread "
                    f"({spread}), so more test images might separate them."
                )
        sentences.append(text)
    if all(result["noise"].get(f"{a} vs {b}") is None for a, b in PAIRS[:3]):
        sentences.append(
            f"No approach here has {MIN_SEEDS_FOR_NOISE} or more trained models, so the seed-to-seed "
            f"noise is not measured: {SEEDS_HINT[where].format(n=MIN_SEEDS_FOR_NOISE)} "
            "before trusting a small gap."
        )
    return sentences


def plain_verdicts(result: dict) -> list[dict]:
    """One sentence per pair of approaches that a 16-year-old understands, with the pair's key.

    [{'key': 'binarized vs direct', 'sentence': ..., 'significant': bool}], the main question
    (binarized vs direct) first. The numbers behind each sentence are in ``verdict_sentences``.
    """
    s = {**result["approaches"], **result["variants"]}
    alpha, n = result.get("alpha", ALPHA), result["n"]
    out = []
    for key, test in result["mcnemar"].items():
        a, b, noise = test["first"], test["second"], result["noise"][key]
        differ = test["b"] + test["c"]
        significant = test["p_adjusted"] < alpha
        if b == VARIANT:
            subject = "Grouping the 10-class model's answers by total probability or by its single top class"
            if significant:
                better = "total probability" if test["b"] > test["c"] else "the top class"
                out.append(
                    {
                        "key": key,
                        "significant": True,
                        "sentence": f"{subject} matters: grouping by {better} gets {abs(test['b'] - test['c'])} more of the "
                        f"{n:,} test images right, more than luck would explain.",
                    }
                )
            else:
                out.append(
                    {
                        "key": key,
                        "significant": False,
                        "sentence": f"{subject} makes almost no difference: {differ:,} of {n:,} images come out "
                        "differently, and that difference could easily be luck.",
                    }
                )
            continue
        acc_a, acc_b = s[a]["runs"][0]["accuracy"], s[b]["runs"][0]["accuracy"]
        hi, lo = (a, b) if acc_a >= acc_b else (b, a)
        extra = abs(test["b"] - test["c"])
        if not significant:
            sentence = (
                f"{PLAIN[a][0].upper()}{PLAIN[a][1:]} and {PLAIN[b]} make almost the same mistakes: "
                f"{differ:,} of {n:,} images differ, and that difference could easily be luck."
            )
        elif noise:
            sentence = (
                f"{PLAIN[hi][0].upper()}{PLAIN[hi][1:]} gets {extra:,} more of the {n:,} test images right "
                f"than {PLAIN[lo]}, but retraining with another random seed moves accuracy about as much, "
                "so the order could flip."
            )
        else:
            sentence = (
                f"{PLAIN[hi][0].upper()}{PLAIN[hi][1:]} is better: it gets {extra:,} more of the {n:,} test "
                f"images right than {PLAIN[lo]}, too many to be luck."
            )
        out.append({"key": key, "significant": significant, "sentence": sentence})
    return out


def _max_sd(sa: dict, sb: dict) -> float:
    return max(v for v in (sa["accuracy_sd"], sb["accuracy_sd"]) if not math.isnan(v))
