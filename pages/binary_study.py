"""Binary vs 10-class: is a dedicated binary model better than a 10-class model's answers, grouped?

Three approaches on the same 10,000 test images: the 10-class model binarized (by probability
mass, and by its arg-max class), a binary model from scratch and one with transfer. Exact
McNemar tests on the images where they disagree, mean ± sd over seeds, a verdict that follows
from the numbers, and the disagreeing images. All of it comes from
``fmnist_core.studies.binary_study`` and ``binary_report``; seed replicates train through the job queue.
"""

import numpy as np
import pandas as pd
import streamlit as st

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.data.tasks import BUILTIN_TASKS, custom_task, display_name, get_task
from fmnist_core.insight import explore, figures
from fmnist_core.modeling import inference
from fmnist_core.runs.store import TERMINAL
from fmnist_core.studies import binary_report as br
from fmnist_core.studies import binary_study as bs
from fmnist_core.studies import replicates as rep
from ui.app import catalog, layout
from ui.images import classify_links, tiles
from ui.training.run_widgets import get_store

GROUPINGS = {
    "footwear_luggage": display_name("footwear_luggage"),
    "shoes": display_name("shoes"),
    "custom": "Custom: my classes vs the rest",
}
QUICK = {"epochs": 2, "subset": 20000}
POLL_SECONDS = 2.0

st.title("Binary vs 10-class")
st.markdown(
    "Say you only need a yes/no answer, such as *is this footwear or a bag, or is it clothing?* You could "
    "train a model on exactly that **yes/no question**, or take the **10-class model** you already have and "
    "group its answers. Which is better? Here three approaches answer the same 10,000 test images, and a "
    "statistical test on the images where they disagree tells a real difference from luck."
)
if not fdata.dataset_status()["found"]:
    st.error("Fashion-MNIST is not installed. Run `make data` in the project folder, then reload.")
    st.stop()
st.session_state.pop("binary_study_result", None)  # set again below when this run shows a study

# ---------------------------------------------------------------- 1. the question

st.subheader("1. The grouping")
kind = st.radio("Grouping", list(GROUPINGS), format_func=GROUPINGS.get, horizontal=True, key="bs_grouping")
if kind == "custom":
    chosen = st.multiselect(
        "Classes of the group (the rest is the other side)",
        fdata.CLASS_NAMES,
        default=["Sandal", "Sneaker", "Ankle boot"],
        key="bs_custom_classes",
    )
    try:
        task = custom_task(chosen)
    except ValueError as exc:
        st.error(f"{exc}. Pick at least one and at most nine classes.")
        st.stop()
else:
    task = BUILTIN_TASKS[kind]
st.caption(f"**{task.class_names[1]}** vs **{task.class_names[0]}**. {task.description}")

# ---------------------------------------------------------------- 2. the models

st.subheader("2. The models")
infos = {m["name"]: m for m in catalog.models_info()}


def _task_of(meta):
    try:
        return get_task(meta.get("task") or "multiclass")
    except ValueError:
        return None


multis = [n for n, m in infos.items() if (t := _task_of(m)) is not None and not t.is_binary]
binaries = [
    n for n, m in infos.items() if (t := _task_of(m)) is not None and t.is_binary and t.positive == task.positive
]
direct_names = [n for n in binaries if not (infos[n].get("hparams") or {}).get("init_from")]
transfer_names = [n for n in binaries if (infos[n].get("hparams") or {}).get("init_from")]
defaults = bs.default_model_names(task)


def _pick(col, label, options, default, key, help):
    if not options:
        col.selectbox(label, ["(none yet)"], disabled=True, key=f"{key}_none", help=help)
        return None
    index = options.index(default) if default in options else 0
    # Three pickers side by side: the box shows the model's title, the caption under it the rest.
    chosen = col.selectbox(
        label,
        options,
        index=index,
        key=f"{key}_{task.name}",
        help=help,
        format_func=lambda n: inference.model_title(infos[n]),
    )
    col.caption(" · ".join(catalog.model_label(infos[chosen]).split(" · ")[1:]))
    return chosen


c1 = c2 = c3 = st.container()  # one under the other: three side by side cut the names at 820 px
multi = _pick(
    c1,
    "10-class model (binarized)",
    multis,
    defaults["multiclass"],
    "bs_multi",
    "Its probabilities are summed per group (and, as a variant, its top class is mapped to its group).",
)
direct = _pick(
    c2,
    "Binary model, from scratch",
    direct_names,
    defaults["direct"],
    "bs_direct",
    "Same body as the 10-class model, one sigmoid output, random initial weights.",
)
transfer = _pick(
    c3,
    "Binary model, with transfer",
    transfer_names,
    defaults["transfer"],
    "bs_transfer",
    "Same, but its convolutional layers start from the 10-class model's, then fine-tuned.",
)
if multi is None:
    st.info("No 10-class model yet. Run `make models` for the shipped ones, or train one on **Build & Train**.")
    st.stop()

s1, s2 = st.columns([1, 2])
n_seeds = s1.number_input(
    "Seeds per binary approach",
    1,
    10,
    3,
    key="bs_seeds",
    help="One trained model is one draw of the random initialization and data order. "
    "Several seeds measure how much the accuracy moves by luck alone.",
)
recipe = s2.radio(
    "Recipe of the replicate models",
    ["same", "quick"],
    horizontal=True,
    key="bs_recipe",
    format_func={
        "same": "Same as the chosen models (as trained)",
        "quick": f"Quick: {QUICK['epochs']} epochs on {QUICK['subset']:,} images",
    }.get,
    help="Quick replicates are cheaper but weaker; they then replace the chosen models, so all "
    "seeds of an approach share one recipe.",
)
overrides = QUICK if recipe == "quick" else {}
plan = rep.plan_replicates(
    task, int(n_seeds), multi, direct or defaults["direct"], transfer or defaults["transfer"], **overrides
)
ss = st.session_state
ss.setdefault("bs_runs", {})


def _available(entries):
    names = []
    for e in entries:
        if not e["exists"]:
            break
        names.append(e["name"])
    return names


lists = {a: _available(plan[a]) for a in ("direct", "transfer")}
missing = rep.missing(plan)

# ---------------------------------------------------------------- training the missing seeds (jobs)


def _progress_panel(run_ids: dict, polling: bool) -> None:
    """One progress bar per training job; when the last one ends, rerun the page to use the new models."""
    from fmnist_core.runs import jobs

    store = get_store()
    jobs.refresh(store)  # fails runs whose worker died, restarts a worker for an orphaned queue
    active = False
    for name, rid in run_ids.items():
        run = store.get_run(rid) or {"status": "deleted"}
        status = run["status"]
        e, b, bpe, epochs = (
            run.get("current_epoch") or 0,
            run.get("current_batch") or 0,
            run.get("batches_per_epoch"),
            run.get("epochs") or 1,
        )
        frac = 1.0 if status == "completed" else (((e - 1) * bpe + b) / (epochs * bpe) if e and bpe else 0.0)
        st.progress(
            min(1.0, max(0.0, frac)),
            text=f"{name} (run #{rid}): {status}"
            + (f" · epoch {e}/{epochs} · batch {b}/{bpe}" if status == "running" and e else "")
            + (f" · {run.get('message')}" if status in ("failed", "stopped") and run.get("message") else ""),
        )
        active |= status not in TERMINAL and status != "deleted"
    if polling and not active:
        st.rerun()  # every model is trained: recompute the study with them


store = get_store()
in_flight = rep.in_flight(store)
pending = {e["name"]: in_flight.get(e["name"]) or ss.bs_runs.get(e["name"]) for e in missing}
pending = {k: v for k, v in pending.items() if v is not None}
if missing:
    names = ", ".join(f"`{e['name']}`" for e in missing)
    st.info(
        f"{len(missing)} model(s) of this plan are not trained yet: {names}. Until they are, the study uses "
        "the models that exist"
        + (
            " (with one seed per approach the verdict cannot judge seed-to-seed noise)."
            if all(len(v) <= 1 for v in lists.values())
            else "."
        )
    )
    to_queue = [e for e in missing if e["name"] not in in_flight]
    if to_queue and st.button(
        f"Train the {len(to_queue)} missing model(s)",
        icon=":material/play_arrow:",
        key="bs_train",
        help="Queued as ordinary training jobs, one at a time: they also appear on Build & Train and Compare runs.",
    ):
        try:
            ss.bs_runs.update(rep.submit_missing(plan, store=store))
            pending = {e["name"]: ss.bs_runs[e["name"]] for e in missing}
        except ValueError as exc:
            st.error(str(exc))
if pending:
    polling = any(store.get_status(rid) not in TERMINAL for rid in pending.values())
    st.fragment(_progress_panel, run_every=POLL_SECONDS if polling else None)(pending, polling)

if not lists["direct"] or not lists["transfer"]:
    st.warning(
        "Each approach needs at least one trained binary model of this grouping. Train them above "
        "(a few minutes per model on a laptop CPU), then the study appears here."
    )
    st.stop()

# ---------------------------------------------------------------- 3. the study


@st.cache_data(show_spinner="Scoring the three approaches on the 10,000 test images…", max_entries=16)
def run_study(task_def: dict, multi: str, direct: tuple, transfer: tuple, mtimes: tuple) -> dict:
    return bs.compare_binary(get_task(task_def), multi, list(direct), list(transfer))


@st.cache_resource(show_spinner=False)
def test_images():
    return explore.split_arrays("test")[0]  # the 10k test files alone: no need to read all 70k


all_names = (multi, *lists["direct"], *lists["transfer"])
try:
    res = run_study(
        task.to_dict(),
        multi,
        tuple(lists["direct"]),
        tuple(lists["transfer"]),
        tuple(catalog.model_mtime(n) for n in all_names),
    )
except ValueError as exc:
    st.error(str(exc))
    st.stop()
ss["binary_study_result"] = br.to_json(res, max_disagreements=0)
for note in res.get("notes", []):
    st.warning(note, icon=":material/warning:")

st.subheader("3. The verdict")
plain = br.plain_verdicts(res)
(st.success if plain[0]["significant"] else st.info)(plain[0]["sentence"])
for v in plain[1:]:
    st.markdown(f"- {v['sentence']}")
with st.expander("The statistics behind these sentences"):
    st.markdown(
        "**McNemar's test** asks: on the images where two approaches disagree, does one win so "
        "much more often than the other that luck is an unlikely explanation?"
    )
    for sentence in br.verdict_sentences(res, where="page"):
        st.markdown(f"- {sentence}")
    st.caption(
        f"McNemar's exact test uses only the images two approaches disagree on; p-values are "
        f"Holm-adjusted over the {len(res['mcnemar'])} tests, significant below {res['alpha']}. A gap is "
        "*within the noise* when it is at most two standard deviations of the seed-to-seed spread."
    )
    st.markdown(
        "**McNemar tests** on the first model of each approach (b: only the first approach is right, "
        "c: only the second); other seed pairs unadjusted"
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "pair": k,
                    "b": t["b"],
                    "c": t["c"],
                    "p": t["p_value"],
                    "p (Holm)": t["p_adjusted"],
                    "p, other seed pairs": ", ".join(f"{p:.3g}" for p in t["p_values_per_seed"]) or "–",
                }
                for k, t in res["mcnemar"].items()
            ]
        ),
        hide_index=True,
        key="bs_mcnemar",
        column_config={
            "p": st.column_config.NumberColumn(format="%.3g"),
            "p (Holm)": st.column_config.NumberColumn(format="%.3g"),
        },
    )

st.subheader("4. The numbers")
rows = br.metric_rows(res)


def title(name: str) -> str:
    return inference.model_title(infos[name]) if name in infos else name


def pm(mean, sd):
    return f"{100 * mean:.2f}%" + ("" if np.isnan(sd) else f" ± {100 * sd:.2f}")


# A static table: its cells wrap, so all six columns are readable at 820 px (a data grid cut them off).
st.table(
    pd.DataFrame(
        [
            {
                "approach": r["approach"],
                "seeds": r["seeds"],
                "accuracy": pm(r["accuracy"], r["accuracy_sd"]),
                "balanced accuracy": pm(r["balanced_accuracy"], r["balanced_accuracy_sd"]),
                "F1 (group)": pm(r["f1"], r["f1_sd"]),
                "models": ", ".join(title(n) for n in r["models"].split(", ")),
            }
            for r in rows
        ]
    ).set_index("approach")
)
normalized = st.toggle("Normalize rows (recall on the diagonal)", key="bs_norm")
show_argmax = st.toggle("Also show the arg-max variant of the binarized model", key="bs_argmax")
shown = {**res["approaches"], **(res["variants"] if show_argmax else {})}
with layout.stacked("bs_cm"):  # side by side when wide; one under the other at 820 px (each readable)
    cm_cols = st.columns(len(shown))
for col, (key, s) in zip(cm_cols, shown.items()):
    # The title as text above the chart: it wraps, where Plotly's was cut at 820 px and ran under its toolbar.
    col.markdown(f"**{s['title']}**")
    fig = figures.confusion_matrix_figure(s["confusion_matrix"], res["class_names"], normalized=normalized)
    col.plotly_chart(fig, key=f"bs_cm_{key}")
    col.caption(f"{title(s['models'][0])} · accuracy {s['runs'][0]['accuracy']:.2%} on {res['n']:,} test images")

st.subheader("5. Where they disagree")
drows = br.disagreement_rows(res)
st.markdown(f"The three approaches do not all agree on **{len(drows):,}** of the {res['n']:,} test images.")
only = st.segmented_control(
    "Show images that",
    ["any disagree", "binarized gets wrong", "direct gets wrong", "transfer gets wrong"],
    default="any disagree",
    required=True,
    key="bs_only",
)
if only != "any disagree":
    who = only.split()[0]
    drows = [r for r in drows if r[who] != r["true"]]
n_show = st.select_slider("Images", [16, 32, 48, 64], value=32, key="bs_n_show")
shown_rows = drows[:n_show]
if shown_rows:
    mark = {True: "✓", False: "✗"}
    nb = "\u00a0"  # the three marks never break apart: a caption wraps after "·" only
    caps = [
        f"#{r['index']} {r['true_class']} · B{mark[r['binarized'] == r['true']]}{nb}"
        f"D{mark[r['direct'] == r['true']]}{nb}T{mark[r['transfer'] == r['true']]}"
        for r in shown_rows
    ]
    # One HTML grid (ui.images.tiles), not a Plotly figure of 32 heatmaps: that took seconds to build.
    tiles.gallery([test_images()[r["index"]] for r in shown_rows], caps, ncols=8, factor=3)
    st.caption("Hardest first (fewest approaches right). B = binarized, D = direct, T = transfer; ✓ right, ✗ wrong.")
    with st.expander("The same images as a table (what each approach predicted)"):
        st.dataframe(pd.DataFrame(shown_rows).drop(columns=["n_right"]), hide_index=True, key="bs_disagree_table")
    classify_links.picker([r["index"] for r in shown_rows], test_images(), res["y10"], "Binary study, test", "bs_open")
else:
    st.caption("No such image.")
