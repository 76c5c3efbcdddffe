"""Few-shot: teach a pre-trained network new shoe classes from a handful of images.

Five methods on the same draws (label spreading over unlabelled images, frozen backbone + new
head, full fine-tune, nearest class mean, from scratch), backbones, seeds, a k-shot curve, and
the user's own images. All logic is in ``fmnist_core.studies.fewshot`` (methods) and
``fewshot_eval`` (scoring, curves); fits and curves run in background tasks (``ui.tasks``) so the
page never blocks, and a run takes seconds. Results are kept per settings for every session (``_results``).
"""
import hashlib

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from fmnist_core.data import fashion_mnist as fdata
from fmnist_core.insight import figures
from fmnist_core.studies import fewshot as fs
from fmnist_core.studies import fewshot_data as fd
from fmnist_core.studies import fewshot_eval as fe
from fmnist_core.studies import fewshot_spread as fss
from fmnist_core.studies import fewshot_store as fstore
from ui.app import catalog, layout
from ui.images import tiles
from ui.tasks import widgets as tasks
from ui.app.text import plain

TASKS = {"flats-heels": "Flats vs heels", "flats-heels-val": "Flats vs heels: 216 validation boots",
         "shoe-types": "Shoe types", "own": "Your images"}
METHOD_HELP = {"spread": "label spreading: the shots' labels flow to their neighbours among thousands of unlabelled "
                         "images of the same kind, in the 10-class model's conv features (PCA-whitened)",
               "frozen": "backbone fixed, a new softmax head trained on its features (the earlier project's way)",
               "finetune": "that head first, then the whole network at a low learning rate, BatchNorm frozen",
               "prototype": "nearest class mean of the features (Euclidean): no training at all",
               "scratch": "the same architecture from random weights, trained on the few images only"}
COLORS = {"spread": "#9467bd", "frozen": "#1f77b4", "finetune": "#ff7f0e", "prototype": "#2ca02c", "scratch": "#d62728"}
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp"]

st.title("Few-shot")
st.markdown(
    "Can a network that already knows shoes learn a **new distinction from one picture per class**? A student "
    "project this lab grew from (FashionMNIST_Classification) tried it: it took a network trained to tell shoes "
    "from the rest, retrained its last layer on **1 flat-soled and 1 heeled ankle boot**, and reported about 95% "
    "on 20 test boots. Here five methods run on the same images, over several seeds, "
    "and a k-shot curve shows how accuracy grows with more examples. The default, **label spreading**, also "
    "learns from thousands of *unlabelled* boots: it is the best of the five methods on the study's own 216 "
    "hand-labelled validation boots at every k from 1 to 20 images per class (94.5% at one, 96.6% at 20; "
    "RESULTS.md). On shoe types it varies more from draw to draw at 2-5 images per class: compare it with "
    "**frozen** there.")
if not fdata.dataset_status()["found"]:
    st.error("Fashion-MNIST is not installed. Run `make data` in the project folder, then reload.")
    st.stop()
ss = st.session_state
# Comparisons and curves, shared by every session: two fit at once (each uses every core), 48 kept.
jobs = tasks.shared("few-shot", max_running=2, keep=48)
for key in ("fewshot_result", "fewshot_curve"):
    ss.pop(key, None)  # set again below when this run shows results


@st.cache_resource(show_spinner="Loading the task's images…")
def builtin_task(name: str) -> fd.FewShotData:
    return fd.builtin(name)


def train_split():
    return fdata.load_fashion_mnist()[0]


# ---------------------------------------------------------------- 1. the task

st.subheader("1. The task")
task_kind = st.segmented_control("Task", list(TASKS), format_func=TASKS.get, default="flats-heels", required=True,
                                 key="fs_task")
shots = None
if task_kind in ("flats-heels", "flats-heels-val"):
    data = builtin_task(task_kind)
    st.caption(data.description)
    left, right = st.columns([1, 4])
    with left:
        tiles.gallery(data.x_pool, [f"train: {data.classes[c]}" for c in data.y_pool], ncols=2, factor=3)
    with right:
        tiles.gallery(data.x_test[:40], [data.classes[c] for c in data.y_test[:40]], ncols=10, factor=2)
        if len(data.y_test) > 40:
            st.caption(f"The first 40 of the {len(data.y_test)} test boots.")
    data_key = task_kind
elif task_kind == "shoe-types":
    data = builtin_task("shoe-types")
    st.caption(data.description + " The default backbone is the shoes-vs-rest model, which never saw these labels.")
    shots = st.select_slider("Training images per class (k)", [1, 2, 3, 5, 10, 20, 50], value=5, key="fs_shots")
    x_show, y_show = data.draw(shots, 0)
    tiles.gallery(x_show[:30], [data.classes[c] for c in y_show[:30]], ncols=10, factor=2)
    st.caption(f"Draw 1 of {shots} per class (each seed draws its own); tested on all {len(data.y_test):,} "
               "test images of these classes.")
    data_key = "shoe-types"
else:
    st.markdown("Name two or more classes and give each some images: **upload** them (any photo goes through the "
                "same preprocessing as the Classify page; a 28×28 image on a dark background is used as it is) "
                "and/or **pick** Fashion-MNIST training images by index (browse them below).")
    names = [n.strip() for n in st.text_input("Class names, comma-separated", "flats, heels",
                                              key="fs_own_names").split(",") if n.strip()]
    picks = ss.get("fewshot_picks") or {}  # {class name: [training index, ...]}, e.g. from the dataset page
    per_class, problems = {}, []
    for col, name in zip(st.columns(max(1, len(names))), names):
        with col:
            st.markdown(f"**{plain(name)}**")   # class names are user text: plain, never Markdown
            files = st.file_uploader(f"Images of {plain(name)}", type=UPLOAD_TYPES, accept_multiple_files=True,
                                     key=f"fs_up_{name}")
            text = st.text_input(f"Fashion-MNIST training indices for {plain(name)}",
                                 ", ".join(str(i) for i in picks.get(name, [])), key=f"fs_idx_{name}")
            imgs = []
            for f in files or []:
                try:
                    imgs.append(fd.image_to_fmnist(f.getvalue()))
                except ValueError as exc:
                    problems.append(f"{f.name}: {exc}")
            for tok in text.replace(";", ",").split(","):
                tok = tok.strip()
                if tok and (not tok.isdigit() or int(tok) >= 60000):
                    problems.append(f"{name}: {tok!r} is not a training index (0-59999)")
                elif tok:
                    imgs.append(train_split()[0][int(tok)])
            per_class[name] = imgs
            st.caption(f"{len(imgs)} image(s)")
    for p in problems:
        st.warning(plain(p))   # file and class names inside: plain text
    with st.expander("Browse Fashion-MNIST training images to pick from"):
        b1, b2 = st.columns(2)
        src = b1.selectbox("Class", fdata.CLASS_NAMES, index=9, key="fs_browse_class")
        page = b2.number_input("Page", 0, 249, 0, key="fs_browse_page")
        idx = np.flatnonzero(train_split()[1] == fdata.CLASS_NAMES.index(src))[page * 24:(page + 1) * 24]
        tiles.gallery(train_split()[0][idx], [f"#{i}" for i in idx], ncols=12, factor=2)
    if len(names) < 2 or len(set(names)) != len(names):
        st.info("Name at least two different classes.")
        st.stop()
    counts = [len(per_class[n]) for n in names]
    if min(counts) < 2:
        st.info("Give every class at least 2 images: some train the model, the rest test it.")
        st.stop()
    k_max = min(counts) - 1
    shots_own = st.slider("Training images per class (the rest test it)", 1, k_max, max(1, min(5, min(counts) // 2)),
                          key="fs_own_k")
    xtr, ytr, xte, yte = [], [], [], []
    for c, n in enumerate(names):
        xtr += per_class[n][:shots_own]
        ytr += [c] * shots_own
        xte += per_class[n][shots_own:]
        yte += [c] * (len(per_class[n]) - shots_own)
    data = fd.from_arrays("your images", names, np.stack(xtr), ytr, np.stack(xte), yte,
                          f"Your images: {shots_own} per class to train on, {len(yte)} to test.")
    data_key = "own-" + hashlib.sha1(np.ascontiguousarray(np.concatenate([data.x_pool, data.x_test])).tobytes()
                                     + repr((names, shots_own)).encode()).hexdigest()[:16]
    st.caption(data.description)

# ---------------------------------------------------------------- 2. the methods

st.subheader("2. Five ways to learn from a few images")
infos = {m["name"]: m for m in catalog.models_info()}
default_bb = fe.default_backbone(data)
options = [b for b in fs.BACKBONES if b in infos] + [n for n in infos if n not in fs.BACKBONES]
if not options:
    st.info("No saved model to start from. Run `make models` for the shipped ones.")
    st.stop()
with layout.stacked("fs_setup"):   # one under the other at 820 px, where the method tags were cut off
    c1, c2, c3 = st.columns([2, 3, 1])
backbone = c1.selectbox("Backbone (pre-trained network)", options,
                        index=options.index(default_bb) if default_bb in options else 0, key=f"fs_backbone_{task_kind}",
                        format_func=lambda n: catalog.model_label(infos[n]),
                        help="Its features are what the methods build on (spread: the conv features of "
                             f"{fss.SETTINGS['backbone']} unless you pick another backbone).")
methods = c2.multiselect("Methods", fs.METHODS, default=list(fs.QUICK_METHODS), key="fs_methods",
                         help="; ".join(f"{m}: {h}" for m, h in METHOD_HELP.items())
                              + ". Fine-tune and scratch train a network per seed: seconds each.")
seeds = c3.number_input("Seeds", 1, 10, 3, key="fs_seeds", help="Each seed: its own draw of the training images "
                        "(where there is a choice) and its own random start.")
for m in methods:
    st.caption(f"**{m}**: {METHOD_HELP[m]}.")
if not methods:
    st.info("Pick at least one method.")
    st.stop()

key = ("compare", data_key, tuple(methods), backbone, catalog.model_mtime(backbone), int(seeds), shots)
stored_key = fstore.result_key(data, methods, backbone, int(seeds), shots) if task_kind != "own" else None


def _compare(progress):
    out = fe.compare_methods(data, methods, backbone, int(seeds), shots, on_progress=progress)
    if stored_key:
        fstore.store(stored_key, out)
    return out


job = jobs.get(key)
results = job.result if job and job.result else (fstore.load(stored_key) if stored_key else None)
if results is None:
    jobs.start(key, tasks.fraction_work(_compare))
    results = tasks.result_or_stop(jobs, key, "Fitting the methods", "fs_retry")
ss["fewshot_result"] = {m: {k: r[k] for k in ("accuracy", "sd", "accuracies", "n_test", "n_train", "backbone",
                                              "interval", "correct", "unlabelled", "warning")}
                        for m, r in results.items()}

# ---------------------------------------------------------------- 3. results


def pct_ci(r) -> str:
    lo, hi = r["interval"]
    return f"{100 * r['accuracies'][0]:.1f}% ({r['correct'][0]}/{r['n_test']}; 95% CI {100 * lo:.0f}-{100 * hi:.0f}%)"


st.subheader("3. Results")
best = max(results, key=lambda m: results[m]["accuracy"])
any_r = results[best]
n_test = any_r["n_test"]
if any_r.get("warning"):
    st.warning(any_r["warning"] + " The numbers below are shown, but they cannot tell the methods apart.")
tied = [m for m in results if abs(results[m]["accuracy"] - any_r["accuracy"]) < 1e-9]
verdict = ("" if any_r.get("warning") else
           (f"**{best}** scores highest" if len(tied) == 1 else " and ".join(f"**{m}**" for m in tied) + " score the same")
           + f", {100 * any_r['accuracy']:.1f}%" + (f" (mean of {int(seeds)} seeds, sd {100 * any_r['sd']:.1f})"
                                                     if int(seeds) > 1 else "") + ". ")
st.markdown(f"On **{n_test}** test images, with **{any_r['n_train']}** training images per seed, backbone "
            f"`{backbone}`: " + verdict + f"Chance is {100 / len(data.classes):.0f}%. Each accuracy below carries its "
            "95% Wilson interval: overlapping intervals mean the test set cannot tell those methods apart.")
for m, r in results.items():
    if r.get("unlabelled"):
        st.caption(f"**{m}** also used, without their labels: {r['unlabelled']}.")
steady = [m for m, r in results.items() if len(r["accuracies"]) > 1 and r["sd"] == 0]
if steady and data.fixed and shots is None:
    st.caption(f"{', '.join(steady)}: the same score for every seed. With one fixed training set these methods have "
               "nothing random left (label spreading and the prototype never had; the frozen head starts from the "
               "class means), so the seeds repeat one experiment and the spread says nothing about the test set: "
               "its uncertainty is the interval, not the sd.")
fig = go.Figure()
for m, r in results.items():
    lo, hi = r["interval"]
    acc0 = r["accuracies"][0]
    fig.add_trace(go.Bar(x=[m], y=[100 * acc0], marker_color=COLORS[m], name=m, showlegend=False,
                         error_y=dict(type="data", symmetric=False, array=[100 * (hi - acc0)],
                                      arrayminus=[100 * (acc0 - lo)])))
    fig.add_trace(go.Scatter(x=[m] * len(r["accuracies"]), y=[100 * a for a in r["accuracies"]], mode="markers",
                             marker=dict(color="black", size=6), showlegend=False, hovertemplate="%{y:.1f}%"))
fig.add_hline(y=100 / len(data.classes), line_dash="dot", annotation_text="chance")
fig.update_layout(yaxis_title="test accuracy (%)", yaxis_range=[0, 100], height=320, margin=dict(l=10, r=10, t=40, b=10))  # t: the toolbar
with layout.stacked("fs_results"):   # the table under the chart at 820 px
    left, right = st.columns([2, 3])
left.plotly_chart(fig, key="fs_bars")
left.caption(f"Bars: seed 1, whiskers: its 95% Wilson interval (n = {n_test}); dots: each seed.")
# A static table: its cells wrap instead of being cut off in a narrow column.
right.table(pd.DataFrame([{"method": m, "seed 1": pct_ci(r),
                           "mean over seeds": f"{100 * r['accuracy']:.1f}%",
                           "sd": "–" if r["sd"] is None or np.isnan(r["sd"]) else f"{100 * r['sd']:.1f}",
                           "per seed": ", ".join(f"{100 * a:.0f}" for a in r["accuracies"])}
                          for m, r in results.items()]).set_index("method"))
shown = right.selectbox("Look closer at", list(results), index=list(results).index(best), key="fs_closer")
r = results[shown]
x_seen, y_seen = data.split(shots, 0)[2:]  # seed 1's test images (the whole test set unless shots come from it)
with layout.stacked("fs_cm"):
    cm_col, img_col = st.columns([2, 3]) if len(y_seen) <= 60 else (st.container(), None)
cm_col.plotly_chart(figures.confusion_matrix_figure(r["confusion_matrix"], data.classes, title=f"{shown}, seed 1"),
                    key="fs_cm")
if img_col is not None:
    pred = r["predictions"]
    caps = [f"{data.classes[t]}" + ("" if p == t else f" → {data.classes[p]}") for t, p in zip(y_seen, pred)]
    with img_col:
        st.caption(f"The test images, as {shown} (seed 1) labels them: green right, red wrong.")
        tiles.gallery(x_seen, caps, colors=["green" if p == t else "red" for t, p in zip(y_seen, pred)],
                      ncols=7, factor=2)

with st.expander("Try the fitted model on your own picture"):
    up = st.file_uploader("A picture of one of the classes", type=UPLOAD_TYPES, key="fs_try")
    if up is not None:
        try:
            img = fd.image_to_fmnist(up.getvalue())
        except ValueError as exc:
            st.error(plain(exc))
        else:
            fitted = ((job or {}).get("result") or {}).get(shown, {}).get("model")
            if fitted is None:  # a stored summary has no model: fit this one method once, seed 0
                with st.spinner(f"Fitting {shown}…"):
                    x_tr, y_tr, x_te, _ = data.split(shots, 0)
                    fitted = fs.fit(shown, backbone, x_tr, y_tr, data.classes, seed=0, x_unlabelled=x_te)
            probs = fitted.predict_proba(img[None])[0]
            t1, t2 = st.columns([1, 3])
            t1.image(tiles.enlarge(img, 4), caption="as the model sees it")
            t2.markdown(f"**{data.classes[int(probs.argmax())]}** ({probs.max():.0%}) by **{shown}**, seed 1")
            t2.dataframe(pd.DataFrame({"class": data.classes, "probability": probs}), hide_index=True)

# ---------------------------------------------------------------- 4. the k-shot curve

st.subheader("4. Accuracy vs number of examples (k-shot curve)")
if data.max_shots() < 2:
    st.caption(f"{TASKS[task_kind]} has only {data.max_shots()} training image per class, so there is no curve to "
               "draw: switch to the 216 validation boots or Shoe types, or give your classes more images.")
    st.stop()
k1, k2 = st.columns([3, 1])
ks_all = [k for k in (1, 2, 5, 10, 20, 50) if k <= data.max_shots()]
ks = k1.multiselect("k (images per class)", ks_all, default=[k for k in fs.KS if k in ks_all], key="fs_ks")
draws = k2.number_input("Draws per k", 1, 10, 3, key="fs_draws")
curve_key = ("curve", data_key, tuple(methods), backbone, catalog.model_mtime(backbone), tuple(sorted(ks)), int(draws))
cjob = jobs.get(curve_key)
if cjob is None:
    n_fits = len(ks) * len(methods) * int(draws)
    if not st.button(f"Compute the curve ({n_fits} fits)", icon=":material/show_chart:", key="fs_curve_go",
                     disabled=not ks):
        st.caption("Each point is the mean over draws of k random training images per class, the same draws for "
                   "every method. It runs in the background: the page stays usable.")
        st.stop()
    jobs.start(curve_key, tasks.fraction_work(lambda progress: fe.kshot_curve(data, methods, sorted(ks), int(draws),
                                                                          backbone, on_progress=progress)))
rows = tasks.result_or_stop(jobs, curve_key, "Computing the k-shot curve", "fs_curve_retry")
ss["fewshot_curve"] = rows
fig = go.Figure()
for m in methods:
    pts = [row for row in rows if row["method"] == m]
    fig.add_trace(go.Scatter(x=[p["k"] for p in pts], y=[100 * p["mean"] for p in pts], mode="lines+markers",
                             name=m, line_color=COLORS[m],
                             error_y=dict(type="data", symmetric=False,
                                          array=[100 * (p["interval"][1] - p["mean"]) for p in pts],
                                          arrayminus=[100 * (p["mean"] - p["interval"][0]) for p in pts]),
                             customdata=[[p["n"], 100 * p["interval"][0], 100 * p["interval"][1]] for p in pts],
                             hovertemplate="k=%{x}: %{y:.1f}% (95% CI %{customdata[1]:.1f}-%{customdata[2]:.1f}%, "
                                           "n=%{customdata[0]})"))
shown_ks = sorted({row["k"] for row in rows})
fig.update_layout(xaxis=dict(type="log", title="k (images per class, log scale)", tickvals=shown_ks,
                             ticktext=[str(k) for k in shown_ks]),
                  yaxis_title="test accuracy (%)", height=380, margin=dict(l=10, r=10, t=40, b=10),
                  legend_orientation="h")
st.plotly_chart(fig, key="fs_curve")
n_each = rows[0]["n"] // max(1, rows[0]["draws"]) if rows else 0
st.caption(f"Mean over {int(draws)} draws; whiskers: 95% Wilson interval of all draws' answers pooled "
           f"(n = {int(draws)} × ~{n_each:,} test images; the draws share test images, so the draw-to-draw spread "
           f"can be larger); backbone `{backbone}`.")
if n_each and n_each < fe.SMALL_TEST:
    st.warning(fe.small_test_warning(n_each))
